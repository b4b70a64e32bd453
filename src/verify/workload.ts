// The clients of a fault-injection run: each worker is a sequential client with its own Zenoh
// session, doing acknowledged puts, consumes (with and without request ids), peeks, lens and
// lease/ack/nack on a handful of users, choosing with its own seeded stream, and recording every
// call through the HistoryRecorder. After an indeterminate op the worker carries on under a fresh
// process number (the op may still be pending) and, half the time, retries it the way a real
// client would: a put with the same message id, a consume with the same request id.
//
// Readers (`readers` more clients) only peek and len: a stale read shows only if some read
// lands while a deposed leader still answers (the nemesis's stale-leader fault), and a mixed
// worker soon blocks on a write that leader cannot commit.
//
// A leased message is acked, nacked, abandoned, or acked late (after its lease ran out, when
// another consumer may hold it again: a correct mailbox refuses that ack); the holder may work on
// it for a while before settling, which is when a late ack of an earlier holder would land.
//
// Users named `q*` never see leases; users named `l*` also take leases (whose expiry the
// linearizability model can only treat as nondeterministic, so the plain users keep its checks sharp).
//
// Some consumes are long polls (`waitMs`): parked on the leader until a put wakes them or the wait
// ends. Their answer still falls inside the call, which is all the checkers assume of a consume,
// and leader changes while they wait are among the faults they meet.
//
// Some puts are batches (put-batch, 2 to 4 messages, all or none) and some consumes take up to
// 2 to 4 messages at once (`max`, always with a request id, with or without lease or wait); the
// history holds them as one op per message (history.ts). A leased batch's messages are settled
// one by one.
// An indeterminate batch is retried until it is answered, as a leased consume is: left
// unresolved, its messages are as many independent indeterminate ops, which the linearizability
// checker may place anywhere, each on its own (a batch put of four never retried made one user's
// check take two minutes; in CI, a few batch consumes left unresolved after 5 attempts each kept
// two users undecided past the checker's minute). So it is retried for as long as the run lasts,
// and 5 more times after its end: the faults end 3 s before the run does, so those are answered.

import { bodyHash, type ConsumeOp, type MessageRecord } from './history.js';
import type { ForgeMailboxClient } from '../bridge/client.js';
import { Prng } from '../sim/prng.js';
import { messageRecord } from './history.js';
import { HistoryRecorder, type Recorded } from './recorder.js';

export interface WorkloadOptions {
  seed: number;
  workers: number;
  /** Users that never see leases. */
  plainUsers: number;
  /** Users that also take leases. */
  leasedUsers: number;
  /** Lease length of leased consumes. */
  leaseMs: number;
  /** Upper bound of the random pause between two successful ops of a worker. */
  thinkMs?: number;
  /** Read-only clients (peek, len) besides the workers. */
  readers?: number;
}

export function workloadUsers(opts: Pick<WorkloadOptions, 'plainUsers' | 'leasedUsers'>): { plain: string[]; leased: string[] } {
  return {
    plain: Array.from({ length: opts.plainUsers }, (_, i) => `q${i}`),
    leased: Array.from({ length: opts.leasedUsers }, (_, i) => `l${i}`),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface ConsumeChoice {
  requestId?: string;
  leaseMs?: number;
  waitMs?: number;
  /** A batch consume (`max`) of up to this many. */
  max?: number;
}

interface PutItem {
  msgId: string;
  body: Uint8Array;
}

type Retry =
  | { op: 'put'; user: string; items: PutItem[]; batch: boolean; attempts: number }
  | { op: 'consume'; user: string; choice: ConsumeChoice & { requestId: string }; attempts: number }
  | { op: 'ack' | 'nack'; user: string; message: MessageRecord; attempts: number };

/** Waits of long-poll consumes: short enough to keep a worker busy, long enough to be woken by puts. */
const MIN_WAIT_MS = 100;
const MAX_WAIT_MS = 1500;
/** Sizes of batch puts and batch consumes (`max`): small, so that Porcupine's search stays quick. */
const MIN_BATCH = 2;
const MAX_BATCH = 4;

export class Worker {
  private client: ForgeMailboxClient | null = null;
  private process: number;
  private seqNo = 0;
  private retry: Retry | null = null;
  /** The run's end (Date.now() ms): until then batches and leased consumes are retried until answered. */
  private stopAt = 0;
  private waitForLeader = false;
  /** When the current op was sent (Date.now() ms). */
  private opStarted = 0;

  constructor(
    readonly name: string,
    private readonly rng: Prng,
    private readonly recorder: HistoryRecorder,
    private readonly openClient: () => Promise<ForgeMailboxClient>,
    private readonly users: { plain: string[]; leased: string[] },
    private readonly opts: WorkloadOptions,
    private readonly readOnly = false,
  ) {
    this.process = recorder.newProcess();
  }

  /** Works until `stopAt` (Date.now() ms); an op in flight then, and its retries, are finished. */
  async run(stopAt: number): Promise<void> {
    this.stopAt = stopAt;
    while (Date.now() < stopAt || this.retry !== null) {
      const client = await this.connected(stopAt + 30_000);
      if (client === null) return;
      if (this.waitForLeader) {
        this.waitForLeader = false;
        await this.leaderServing(client, 5000);
      }
      const outcome = await this.step(client);
      // A gap after a failure keeps the clients from spinning while there is no leader; the short
      // think time otherwise keeps each user's history within what Porcupine checks quickly.
      // A reader retries at once: the few hundred ms a deposed leader still answers are what it is for.
      const backoff = this.readOnly ? this.rng.int(20, 50) : this.rng.int(50, 250);
      await sleep(outcome === 'ok' ? this.rng.int(0, this.opts.thinkMs ?? 20) : backoff);
    }
  }

  /** Whether an unanswered batch, leased consume, ack or nack is tried once more: all through the run, then 5 attempts in all. */
  private mustResolve(attempts: number): boolean {
    return Date.now() < this.stopAt || attempts < 5;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c !== null) await Promise.race([c.close().catch(() => {}), sleep(2000)]);
  }

  private async connected(stopAt: number): Promise<ForgeMailboxClient | null> {
    while (this.client === null) {
      if (Date.now() >= stopAt) return null;
      try {
        this.client = await this.openClient();
      } catch {
        await sleep(250);
      }
    }
    return this.client;
  }

  /**
   * After an indeterminate op: a new process, and a new session (the old one may be dead), except
   * after ROUTER_LOST, when the client is already reopening its own. A reader whose read was
   * answered quickly (no leader serving) keeps its session, and does not wait for a leader: its
   * reads change nothing, so an indeterminate one costs the checkers nothing.
   */
  private async abandon(error: string | null): Promise<void> {
    this.process = this.recorder.newProcess();
    if (this.readOnly && Date.now() - this.opStarted < 1000) return;
    this.waitForLeader = true;
    if (error !== 'ROUTER_LOST') await this.close();
  }

  /**
   * Like a real client backing off, waits (unrecorded status probes) until a leader answers: every
   * op sent while none serves ends indeterminate, and each such op widens the search of the
   * linearizability checker for the rest of the history.
   */
  private async leaderServing(client: ForgeMailboxClient, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const probe = client.status().then(
        () => true,
        () => false,
      );
      if (await Promise.race([probe, sleep(2000).then(() => false)])) return;
      await sleep(200);
    }
  }

  private async step(client: ForgeMailboxClient): Promise<string> {
    this.opStarted = Date.now();
    if (this.retry !== null) {
      const retry = this.retry;
      this.retry = null;
      switch (retry.op) {
        case 'put':
          return this.put(client, retry.user, retry.items, retry.batch, retry.attempts + 1);
        case 'consume':
          return this.consume(client, retry.user, retry.choice, retry.attempts + 1);
        default:
          return this.settleDelivery(client, retry.user, retry.message, retry.op, retry.attempts + 1);
      }
    }
    const leased = this.users.leased.length > 0 && (this.users.plain.length === 0 || this.rng.chance(this.readOnly ? 0.2 : 0.4));
    const user = this.rng.pick(leased ? this.users.leased : this.users.plain);
    const choice = this.readOnly
      ? this.rng.weighted({ peek: 50, len: 50 })
      : leased
        ? this.rng.weighted({ put: 38, putBatch: 7, lease: 15, leaseWait: 8, leaseBatch: 7, consume: 5, peek: 10, len: 5 })
        : this.rng.weighted({
            put: 38,
            putBatch: 7,
            consume: 8,
            consumeRid: 8,
            consumeWait: 4,
            consumeWaitRid: 4,
            consumeBatch: 7,
            consumeBatchWait: 3,
            peek: 10,
            len: 5,
          });
    const rid = () => `${this.name}-r${++this.seqNo}`;
    const wait = () => this.rng.int(MIN_WAIT_MS, MAX_WAIT_MS);
    const max = () => this.rng.int(MIN_BATCH, MAX_BATCH);
    const lease = this.opts.leaseMs;
    switch (choice) {
      case 'put':
        return this.put(client, user, [this.newMessage()], false, 1);
      case 'putBatch':
        return this.put(client, user, Array.from({ length: max() }, () => this.newMessage()), true, 1);
      case 'consume':
        return this.consume(client, user, {}, 1);
      case 'consumeRid':
        return this.consume(client, user, { requestId: rid() }, 1);
      case 'lease':
        return this.consume(client, user, { requestId: rid(), leaseMs: lease }, 1);
      case 'consumeWait':
        return this.consume(client, user, { waitMs: wait() }, 1);
      case 'consumeWaitRid':
        return this.consume(client, user, { requestId: rid(), waitMs: wait() }, 1);
      case 'leaseWait':
        return this.consume(client, user, { requestId: rid(), leaseMs: lease, waitMs: wait() }, 1);
      case 'consumeBatch':
        return this.consume(client, user, { requestId: rid(), max: max() }, 1);
      case 'consumeBatchWait':
        return this.consume(client, user, { requestId: rid(), max: max(), waitMs: wait() }, 1);
      case 'leaseBatch':
        return this.consume(client, user, { requestId: rid(), leaseMs: lease, max: max(), ...(this.rng.chance(0.5) ? { waitMs: wait() } : {}) }, 1);
      case 'peek':
        return this.settle(
          await this.recorder.run({ op: 'peek', client: this.name, process: this.process, user, input: {} }, async () => {
            const m = await client.peek(user);
            return { message: m === null ? null : messageRecord(m) };
          }),
        );
      default:
        return this.settle(
          await this.recorder.run({ op: 'len', client: this.name, process: this.process, user, input: {} }, async () => {
            const s = await client.len(user);
            return { count: s.count, inFlight: s.inFlight, deadLetterCount: s.deadLetterCount };
          }),
        );
    }
  }

  private async settle<T>(r: Recorded<T>): Promise<string> {
    if (r.outcome === 'info') await this.abandon(r.error);
    return r.outcome;
  }

  private newMessage(): PutItem {
    const msgId = `${this.name}-m${++this.seqNo}`;
    return { msgId, body: new TextEncoder().encode(`${msgId} ${this.rng.int(0, 1e9)}`) };
  }

  /** One put, or a batch put of `items` (all or none). */
  private async put(client: ForgeMailboxClient, user: string, items: PutItem[], batch: boolean, attempts: number): Promise<string> {
    const heads = items.map((m) => ({
      op: 'put' as const,
      client: this.name,
      process: this.process,
      user,
      input: { msgId: m.msgId, bodyHash: bodyHash(m.body) },
    }));
    const r: Recorded<unknown> = batch
      ? await this.recorder.runBatch(heads, async () => {
          const out = await client.putBatch(user, items.map((m) => ({ body: m.body, id: m.msgId })));
          return out.map((o) => ({ msgId: o.id, seq: o.seq, duplicate: o.duplicate }));
        })
      : await this.recorder.run(heads[0]!, async () => {
          const out = await client.put(user, items[0]!.body, { id: items[0]!.msgId });
          return { msgId: out.id, seq: out.seq, duplicate: out.duplicate };
        });
    // A retry reuses the ids: what the first attempt enqueued is answered duplicate.
    const retry = batch ? this.mustResolve(attempts) : attempts < 3 && this.rng.chance(0.5);
    if (r.outcome === 'info' && retry) this.retry = { op: 'put', user, items, batch, attempts };
    return this.settle(r);
  }

  private async consume(client: ForgeMailboxClient, user: string, choice: ConsumeChoice, attempts: number): Promise<string> {
    const { requestId, leaseMs, waitMs, max } = choice;
    const input = {
      ...(requestId === undefined ? {} : { requestId }),
      ...(leaseMs === undefined ? {} : { leaseMs }),
      ...(waitMs === undefined ? {} : { waitMs }),
    };
    let r: Recorded<Array<{ message: MessageRecord | null }>>;
    if (max === undefined) {
      const one = await this.recorder.run<ConsumeOp>({ op: 'consume', client: this.name, process: this.process, user, input }, async () => {
        const m = await client.consume(user, input);
        return { message: m === null ? null : messageRecord(m) };
      });
      r = { ...one, value: one.value === null ? null : [one.value] };
    } else {
      const heads = Array.from({ length: max }, (_, i) => ({
        op: 'consume' as const,
        client: this.name,
        process: this.process,
        user,
        input: { ...input, ...(requestId === undefined ? {} : { requestId: `${requestId}#${i}` }) },
      }));
      r = await this.recorder.runBatch<ConsumeOp>(
        heads,
        async () => {
          const ms = await client.consumeBatch(user, max, input);
          return ms.length === 0 ? [{ message: null }] : ms.map((m) => ({ message: messageRecord(m) }));
        },
        requestId,
      );
    }
    // A leased consume is always retried: left unresolved, it may hold a lease nobody knows of,
    // which both checkers can only treat as "anything may have happened". So is a batch (above).
    const retry = leaseMs !== undefined || max !== undefined ? this.mustResolve(attempts) : attempts < 3 && this.rng.chance(0.5);
    if (r.outcome === 'info' && requestId !== undefined && retry) this.retry = { op: 'consume', user, choice: { ...choice, requestId }, attempts };
    if (r.outcome !== 'ok') return this.settle(r);
    for (const { message } of r.value ?? []) {
      if (message === null || message.receipt === undefined) continue;
      const settled = await this.settleLease(client, user, message, leaseMs ?? 0);
      if (settled !== 'ok') return settled;
    }
    return 'ok';
  }

  /** A leased message: ack it (usually), hand it back, walk away and let the lease run out, or ack it only after the lease ran out. */
  private async settleLease(client: ForgeMailboxClient, user: string, message: MessageRecord, lease: number): Promise<string> {
    const next = this.rng.weighted({ ack: 60, nack: 10, abandon: 10, lateAck: 20 });
    if (next === 'abandon') return 'ok';
    if (next === 'lateAck') await sleep(lease + this.rng.int(50, lease));
    else if (this.rng.chance(0.4)) await sleep(this.rng.int(0, Math.floor(lease * 0.6)));
    return this.settleDelivery(client, user, message, next === 'nack' ? 'nack' : 'ack', 1);
  }

  /**
   * Acks or nacks one delivery. An unanswered one is sent again with the same receipt until
   * answered (see mustResolve): left indeterminate, it may have ended the lease at any time, which
   * the linearizability checker must then try at every point of the rest of the user's history.
   * The retry's answer (ok, or the receipt gone) bounds when the first attempt took effect.
   */
  private async settleDelivery(client: ForgeMailboxClient, user: string, message: MessageRecord, op: 'ack' | 'nack', attempts: number): Promise<string> {
    const receipt = message.receipt!;
    const settled = await this.recorder.run(
      {
        op,
        client: this.name,
        process: this.process,
        user,
        input: { receipt, msgId: message.msgId, deliveries: message.deliveries },
      },
      async () => {
        if (op === 'ack') await client.ack(user, receipt);
        else await client.nack(user, receipt);
        return {};
      },
    );
    if (settled.outcome === 'info' && this.mustResolve(attempts)) this.retry = { op, user, message, attempts };
    return this.settle(settled);
  }
}

/** Starts `opts.workers` workers and `opts.readers` readers, each on its own seeded stream and session. */
export function startWorkers(
  recorder: HistoryRecorder,
  openClient: () => Promise<ForgeMailboxClient>,
  opts: WorkloadOptions,
): Worker[] {
  const users = workloadUsers(opts);
  const workers = Array.from(
    { length: opts.workers },
    (_, i) => new Worker(`c${i + 1}`, new Prng(opts.seed, `client-${i + 1}`), recorder, openClient, users, opts),
  );
  const readers = Array.from(
    { length: opts.readers ?? 0 },
    (_, i) => new Worker(`r${i + 1}`, new Prng(opts.seed, `reader-${i + 1}`), recorder, openClient, users, opts, true),
  );
  return [...workers, ...readers];
}
