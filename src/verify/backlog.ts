// A deep backlog for the fault-injection runner: mailboxes of their own, filled with acknowledged
// puts before the nemesis starts and never consumed, so that every snapshot taken, stored, sent,
// installed and loaded during the faults carries them.
//
// They stay out of the recorded history (a million puts would swamp Porcupine and the drain), so
// they are checked on their own, by count: a put is sent without an id (a million ids would fill
// the put-id table, and the workload's puts carry ids) and, once it failed without proof that it
// changed nothing, is never sent again under that number but counted as "may have landed"; so
// after the run each backlog mailbox must hold between its acknowledged puts and those plus its
// indeterminate ones, with nothing in flight or dead-lettered. A lost acknowledged message, or
// one applied twice, moves a count out of its range.

import { MailboxClientError, type ForgeMailboxClient } from '../bridge/client.js';
import { isDefiniteFailure } from './recorder.js';

export interface BacklogOptions {
  messages: number;
  mailboxes: number;
  bodyBytes: number;
  /** Puts in flight at once during the fill, spread over `sessions` client sessions. */
  inFlight: number;
  sessions: number;
}

export interface BacklogFill {
  users: string[];
  /** Per mailbox (index of `users`): acknowledged puts. */
  acknowledged: number[];
  /** Per mailbox: puts that failed with an outcome unknown (they may have landed). */
  indeterminate: number[];
  seconds: number;
  /** Error codes seen during the fill (definite and indeterminate), with their counts. */
  errors: Record<string, number>;
}

export interface BacklogCheck {
  ok: boolean;
  /** Messages counted over all backlog mailboxes, and the range they must be in. */
  counted: number;
  min: number;
  max: number;
  /** Mailboxes whose count, in-flight or dead-letter count is wrong. */
  wrong: Array<{ user: string; count: number; inFlight: number; deadLetterCount: number; min: number; max: number }>;
  /** Mailboxes that could not be read before the deadline. */
  unread: string[];
}

/** The backlog's mailboxes: named apart from the workload's (workload.ts: q<i>, l<i>). */
export function backlogUsers(mailboxes: number): string[] {
  return Array.from({ length: mailboxes }, (_, i) => `backlog${i}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** How long one message may keep failing before the fill gives up (the cluster is not faulted yet). */
const GIVE_UP_MS = 60_000;

/** Fills the backlog; throws when a put cannot be acknowledged within GIVE_UP_MS. */
export async function fillBacklog(
  openClient: () => Promise<ForgeMailboxClient>,
  opts: BacklogOptions,
  log: (line: string) => void,
): Promise<BacklogFill> {
  const users = backlogUsers(opts.mailboxes);
  const fill: BacklogFill = {
    users,
    acknowledged: new Array<number>(opts.mailboxes).fill(0),
    indeterminate: new Array<number>(opts.mailboxes).fill(0),
    seconds: 0,
    errors: {},
  };
  const body = new Uint8Array(opts.bodyBytes).fill(0x62);
  // Opened once per session, on first use (a promise, so that workers starting together share it).
  const sessions: Array<Promise<ForgeMailboxClient> | null> = new Array<Promise<ForgeMailboxClient> | null>(opts.sessions).fill(null);
  const session = (s: number): Promise<ForgeMailboxClient> =>
    (sessions[s] ??= openClient().catch((e: unknown) => {
      sessions[s] = null;
      throw e;
    }));
  let next = 0;
  let acked = 0;
  const t0 = performance.now();
  let lastReport = t0;
  const worker = async (w: number) => {
    const s = w % opts.sessions;
    while (next < opts.messages) {
      const mailbox = next++ % opts.mailboxes;
      const first = performance.now();
      for (;;) {
        try {
          await (await session(s)).put(users[mailbox]!, body);
          break;
        } catch (e) {
          const code = e instanceof MailboxClientError ? e.code : 'CLIENT_ERROR';
          fill.errors[code] = (fill.errors[code] ?? 0) + 1;
          if (!isDefiniteFailure(e)) fill.indeterminate[mailbox]!++;
          if (performance.now() - first > GIVE_UP_MS) throw new Error(`backlog fill: a put to ${users[mailbox]} failed for ${GIVE_UP_MS} ms (last: ${code})`);
          await sleep(100);
        }
      }
      fill.acknowledged[mailbox]!++;
      acked++;
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        log(`backlog: ${acked} of ${opts.messages} acknowledged after ${((lastReport - t0) / 1000).toFixed(1)} s`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.inFlight }, (_, w) => worker(w)));
  } finally {
    for (const pending of sessions) {
      const c = pending === null ? null : await pending.catch(() => null);
      if (c !== null) await Promise.race([c.close().catch(() => {}), sleep(2000)]);
    }
  }
  fill.seconds = (performance.now() - t0) / 1000;
  return fill;
}

/** Counts every backlog mailbox (len, retried until `deadline`) against what the fill did. */
export async function checkBacklog(openClient: () => Promise<ForgeMailboxClient>, fill: BacklogFill, deadline: number): Promise<BacklogCheck> {
  const check: BacklogCheck = { ok: false, counted: 0, min: 0, max: 0, wrong: [], unread: [] };
  let client: ForgeMailboxClient | null = null;
  try {
    for (let i = 0; i < fill.users.length; i++) {
      const user = fill.users[i]!;
      const min = fill.acknowledged[i]!;
      const max = min + fill.indeterminate[i]!;
      check.min += min;
      check.max += max;
      let stats: { count: number; inFlight: number; deadLetterCount: number } | null = null;
      while (stats === null && Date.now() < deadline) {
        try {
          client ??= await openClient();
          stats = await client.len(user);
        } catch (e) {
          if (!(e instanceof MailboxClientError) || e.code === 'TIMEOUT') {
            await client?.close().catch(() => {});
            client = null;
          }
          await sleep(250);
        }
      }
      if (stats === null) {
        check.unread.push(user);
        continue;
      }
      check.counted += stats.count;
      if (stats.count < min || stats.count > max || stats.inFlight !== 0 || stats.deadLetterCount !== 0) {
        check.wrong.push({ user, count: stats.count, inFlight: stats.inFlight, deadLetterCount: stats.deadLetterCount, min, max });
      }
    }
  } finally {
    if (client !== null) await Promise.race([client.close().catch(() => {}), sleep(2000)]);
  }
  check.ok = check.wrong.length === 0 && check.unread.length === 0;
  return check;
}
