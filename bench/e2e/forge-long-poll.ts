// Long polls on a running Forge cluster (issue #12), shared by `bench:long-poll` and the long poll
// phase of `bench:e2e`: how many consumers the leader holds parked behind the real Zenoh router,
// whether each of them is then answered (one put per consumer, every message delivered once), and
// the wake-up latency from sending an acknowledged put to its parked consumer's answer.
//
// Consumers are spread over the given client sessions and `mailboxes` mailboxes (`lp-<i>`), each
// asking to wait LONG_POLL_WAIT_MS; the latency samples use the mailbox `latency`, one at a time.

import { readFileSync } from 'node:fs';
import { MailboxClientError, type ForgeMailboxClient } from '../../src/bridge/client.js';
import { metricValue } from '../../src/verify/metric-page.js';
import { sleep, type ProcessCluster, type ProcessClusterOptions } from '../../src/verify/process-cluster.js';
import { fmt, percentile } from '../load.js';
import type { Row } from './rows.js';

/** How long each parked consumer asks to wait: longer than parking them all and answering them takes. */
export const LONG_POLL_WAIT_MS = 60_000;

/** The node settings a cluster needs for measureLongPoll: waits of LONG_POLL_WAIT_MS, up to `maxParked` held. */
export function longPollClusterOptions(maxParked: number): Pick<ProcessClusterOptions, 'mailbox' | 'zenoh'> {
  return { mailbox: { maxConsumeWaitMs: LONG_POLL_WAIT_MS }, zenoh: { maxParkedConsumers: maxParked } };
}

export interface LongPollOptions {
  /** Consumers to park. */
  consumers: number;
  /** Mailboxes they are spread over. */
  mailboxes: number;
  /** Wake-up latency samples, taken one at a time after every parked consumer was answered. */
  latencySamples: number;
  /** Where the progress lines go. */
  log: (line: string) => void;
}

export interface LongPollFigures {
  consumers: number;
  /** Parked on the leader once the count stopped changing, and the most seen. */
  parked: number;
  peak: number;
  /** Consumers answered before any put, by outcome (e.g. BUSY). */
  answeredEarly: Record<string, number>;
  /** Every consumer's answer once one put per waiting consumer was acknowledged, by outcome. */
  outcomes: Record<string, number>;
  /** Messages delivered to the consumers, and how many of them were distinct. */
  delivered: number;
  distinct: number;
  /** Wake-up latencies in ms, sorted. */
  latencyMs: number[];
}

/** Resident memory of a process in MiB (Linux /proc), or NaN. */
function rssMiB(pid: number | null): number {
  if (pid === null) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Math.round(Number(m[1]) / 1024);
}

const tally = (outcomes: string[]) => {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
};

/** Parks, answers and times long polls on `cluster` (started with longPollClusterOptions) through `clients`. */
export async function measureLongPoll(cluster: ProcessCluster, clients: ForgeMailboxClient[], leader: string, options: LongPollOptions): Promise<LongPollFigures> {
  const { consumers, mailboxes, log } = options;
  const sessions = clients.length;
  const page = async () => (await fetch(cluster.metricsUrl(leader), { signal: AbortSignal.timeout(10_000) })).text();
  const idleRss = rssMiB(cluster.pid(leader));
  log(`leader ${leader}; parking ${consumers} consumers on ${mailboxes} mailboxes over ${sessions} sessions`);

  // 1. Park them all, a few hundred at a time.
  const started = Date.now();
  const answers: Promise<{ outcome: string; id?: string }>[] = [];
  for (let i = 0; i < consumers; i++) {
    answers.push(
      clients[i % sessions]!.consume(`lp-${i % mailboxes}`, { waitMs: LONG_POLL_WAIT_MS }).then(
        (m) => ({ outcome: m === null ? 'empty' : 'message', id: m?.id }),
        (e: unknown) => ({ outcome: e instanceof MailboxClientError ? e.code : String(e) }),
      ),
    );
    if (i % 250 === 249) await sleep(50);
  }
  let parked = 0;
  let peak = 0;
  for (let stable = 0, last = -1; stable < 5 && Date.now() - started < 45_000; ) {
    await sleep(500);
    parked = metricValue(await page(), 'forge_parked_consumers');
    peak = Math.max(peak, parked);
    stable = parked === last ? stable + 1 : 0;
    last = parked;
  }
  const settledEarly = await Promise.all(answers.map((a) => Promise.race([a, sleep(0).then(() => null)])));
  const answeredEarly = tally(settledEarly.flatMap((s) => (s === null ? [] : [s.outcome])));
  const early = settledEarly.filter((s) => s !== null).length;
  log(
    `parked on the leader: ${parked} (peak ${peak}) of ${consumers} sent, ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `already answered before any put: ${early} ${JSON.stringify(answeredEarly)}`,
  );
  const parkedRss = rssMiB(cluster.pid(leader));
  log(`leader resident memory with them parked: ${parkedRss} MiB (${parkedRss === idleRss ? 'unchanged' : `${idleRss} MiB before`})`);

  // 2. One put per parked consumer: every waiting one must get exactly one message.
  const putStarted = Date.now();
  const users: string[] = [];
  for (let i = 0; i < consumers; i++) if (settledEarly[i] === null) users.push(`lp-${i % mailboxes}`);
  // 256 puts in flight, spread over the sessions.
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async (_, w) => {
      while (next < users.length) {
        const user = users[next++]!;
        await clients[w % sessions]!.put(user, 'm');
      }
    }),
  );
  const all = await Promise.all(answers);
  const outcomes = tally(all.map((a) => a.outcome));
  const ids = all.flatMap((a) => (a.id !== undefined ? [a.id] : []));
  const distinct = new Set(ids).size;
  log(`distinct messages delivered: ${distinct} of ${ids.length}`);
  log(`after ${users.length} puts (${((Date.now() - putStarted) / 1000).toFixed(1)} s): ${JSON.stringify(outcomes)}`);

  // 3. Wake-up latency: one parked consumer, one acknowledged put, timed from sending the put.
  const latencyMs: number[] = [];
  for (let i = 0; i < options.latencySamples; i++) {
    const waiter = clients[0]!.consume('latency', { waitMs: 10_000 }).then(() => performance.now());
    await sleep(30);
    const sent = performance.now();
    await clients[1 % sessions]!.put('latency', 'x');
    latencyMs.push((await waiter) - sent);
  }
  latencyMs.sort((a, b) => a - b);
  return { consumers, parked, peak, answeredEarly, outcomes, delivered: ids.length, distinct, latencyMs };
}

/**
 * The long poll row of bench:e2e: wake-up latency p50 and p99 over the samples (one in flight),
 * no rate (a long poll's time is its wait), and what became of the parked consumers.
 */
export function longPollRow(f: LongPollFigures): Row {
  const early = Object.values(f.answeredEarly).reduce((a, b) => a + b, 0);
  const latency = f.latencyMs;
  return {
    system: 'forge',
    phase: 'long poll',
    inFlight: 1,
    figures: { count: latency.length, opsPerSec: NaN, p50: percentile(latency, 50), p99: percentile(latency, 99) },
    note:
      `wake-up latency from sending an acknowledged put to its parked consumer, ${latency.length} samples, max ${fmt(latency.at(-1) ?? NaN, 1)} ms, taken after ` +
      `${f.parked} of ${f.consumers} consumers were parked on the leader (peak ${f.peak}), ${early} answered before any put${early > 0 ? ` ${JSON.stringify(f.answeredEarly)}` : ''}, ` +
      `${f.outcomes.message ?? 0} then answered with a message (${f.distinct} distinct)`,
  };
}
