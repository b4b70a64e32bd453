// Long-poll consume (`consume?wait=<ms>`) on the leader: a consume that finds nothing to take
// parks (parked-consumers.ts) instead of answering `empty`, and is answered as soon as a message
// for its mailbox commits, or when its wait ends.
//
// Nothing is logged while waiting. A consume parks only once a linearizable read (ReadIndex) has
// confirmed there is nothing to take; the check and the parking happen in one synchronous stretch,
// so a put applied after the check always finds the consumer parked. Applying a put wakes the
// oldest idle consumers of that mailbox, one per message; the woken consumer proposes its consume
// (the only log entry of a long poll that gets a message). If that finds nothing after all
// (another consumer took the message first), it waits again at its place, with the rest of its
// time. Consumes of dead letters (`dlq`) do not wait (the key space refuses them; so does this).
//
// Messages also become visible by time alone, with no entry to announce them: a delayed put or a
// nack with a delay or the default backoff when its delay has passed, a lease when it ends. So a
// mailbox is looked at again (`watch`) whenever the last of its woken consumers is done (got a
// message or waits again), and after any other command applied to it while someone waits there:
// if something can be taken, the oldest idle consumer is woken; otherwise one timer per such
// mailbox is set for the next moment something of it becomes visible (the state machine's
// `nextVisibleAt`), when it is looked at again. Looks are local reads of the applied state at
// replicated time (the time an entry proposed now would carry, so that a look never sees a
// message visible that the consume it leads to would not find); they write nothing. A new leader
// knows these times from its state as well as the old one did.
//
// When the wait ends, the consume is answered as an ordinary one would be now: `empty` through a
// ReadIndex read, no entry. With a request id (`rid`) the consume is proposed instead, so that the
// answer is remembered for the rid like any consume with a rid: a retry, or an earlier attempt
// with the same rid still parked, gets that very answer (and cannot take a message afterwards).
// For the same reason a woken consume with a rid that finds nothing answers `empty` at once
// (its rid is now bound to that answer) instead of waiting again.
//
// Losing leadership answers every waiting consumer at once with NOT_LEADER (nothing was taken:
// retry on the new leader); shutdown with STOPPED. A consumer whose proposal is in flight at that
// moment gets that proposal's own outcome (LEADERSHIP_LOST: outcome unknown).

import type { ConsumeCommand, MailboxCommand, MailboxResult } from '../mailbox/commands.js';
import type { ParkedConsumers, ParkedTicket } from './parked-consumers.js';

export interface LongPollNode {
  /** The local state's answer for a waiting consume at `now` (MailboxStateMachine.consumeCanWait). */
  canWait(cmd: ConsumeCommand, now: number): MailboxResult | null;
  /** When something of `user`'s mailbox next becomes visible by time alone, after `now` (MailboxStateMachine.nextVisibleAt). */
  nextVisibleAt(user: string, now: number): number;
  /** Replicated time now: what an entry proposed now would carry (RaftDriver.replicatedTime). */
  now(): number;
  /** ReadIndex: resolves once the local state is linearizable. */
  readBarrier(): Promise<void>;
  /** The time to evaluate a read at on the state applied now, after readBarrier (RaftDriver.readTime). */
  readTime(): number;
  isLeader(): boolean;
  /** The ordinary consume (the node's command path): proposed, or answered without a log entry when there is nothing to take. */
  consume(cmd: ConsumeCommand): Promise<MailboxResult>;
  /** Refusal for a consume that finds the node not leading (NOT_LEADER with the leader hint). */
  notLeader(): Error;
}

export interface LongPollMetrics {
  /** Parked consumers woken (one per message put while someone waited, plus one per look that found something). */
  woke(n: number): void;
}

/** The node cannot park more consumers (zenoh.maxParkedConsumers): the client sees BUSY. */
export class ParkingFullError extends Error {
  readonly code = 'PARKING_FULL';
  constructor(capacity: number) {
    super(`this node already holds ${capacity} waiting consumes (zenoh.maxParkedConsumers): retry shortly, or consume without wait`);
    this.name = 'ParkingFullError';
  }
}

/** Times a consume arriving with a message in sight may lose it to others and look again before it answers `empty`. */
const MAX_LOST_RACES = 3;

export class LongPollConsumes {
  /** Per mailbox touched since the last flush, the messages its commands made visible: handled on the next turn of the event loop. */
  private pending = new Map<string, number>();
  private flushScheduled = false;

  constructor(
    private readonly node: LongPollNode,
    private readonly parked: ParkedConsumers,
    private readonly metrics: LongPollMetrics,
  ) {}

  /** A consume that waits up to `waitMs` for a message. Rejects like the node's command path. */
  async consume(cmd: ConsumeCommand, waitMs: number): Promise<MailboxResult> {
    // A woken consumer's look is a look at the mailbox, not at its dead letters (see watch).
    if (cmd.deadLetter === true) return { kind: 'error', code: 'BAD_REQUEST', message: 'wait is not offered on the dead-letter mailbox (dlq)' };
    const deadline = Date.now() + waitMs;
    // A consume that saw a message but lost it to another before its entry applied waits like one
    // that found nothing (a few times at most: each try is an entry).
    for (let tries = 0; ; tries++) {
      const local = this.node.canWait(cmd, this.node.now());
      if (local !== null && local.kind === 'error') return local;
      if (local === null) {
        const taken = await this.node.consume(cmd);
        if (taken.kind !== 'empty' || cmd.requestId !== undefined || tries >= MAX_LOST_RACES || Date.now() >= deadline) return taken;
        continue;
      }
      await this.node.readBarrier();
      // From here to parking nothing awaits: a put applied later finds this consumer parked.
      const now = this.node.canWait(cmd, this.node.readTime());
      if (now === null) continue;
      if (now.kind === 'error') return now;
      if (!this.node.isLeader()) throw this.node.notLeader();
      return new Promise<MailboxResult>((resolve, reject) => {
        const ticket = this.parked.park(cmd.user, deadline, {
          onWake: (t) => void this.tryWoken(cmd, t, resolve, reject),
          onDeadline: () => this.node.consume(cmd).then(resolve, reject),
          onRelease: reject,
        });
        if (ticket === null) reject(new ParkingFullError(this.parked.capacity));
        else this.watch(cmd.user);
      });
    }
  }

  /** Hears every applied command: wakes one waiting consumer per message it made visible, and looks again at its mailbox. */
  applied(cmd: MailboxCommand, result: MailboxResult): void {
    if (!('user' in cmd) || this.parked.parkedOn(cmd.user) === 0) return;
    const user = cmd.user;
    let visible = 0;
    if (cmd.op === 'put' && result.kind === 'put' && !result.duplicate && (cmd.delayMs ?? 0) === 0) visible = 1;
    else if (cmd.op === 'putBatch' && result.kind === 'puts') visible = result.puts.filter((p) => !p.duplicate).length;
    this.pending.set(user, (this.pending.get(user) ?? 0) + visible);
    // Not from inside the apply loop: the woken consumers propose.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Answers every waiting consumer with `error` (leadership lost, shutdown). */
  releaseAll(error: Error): number {
    this.pending.clear();
    return this.parked.releaseAll(error);
  }

  private flush(): void {
    this.flushScheduled = false;
    const pending = this.pending;
    this.pending = new Map();
    let woken = 0;
    for (const [user, n] of pending) {
      const w = n > 0 ? this.parked.wake(user, n) : 0;
      woken += w;
      // Else the woken look again when they are done.
      if (w === 0) this.watch(user);
    }
    if (woken > 0) this.metrics.woke(woken);
  }

  private async tryWoken(
    cmd: ConsumeCommand,
    ticket: ParkedTicket,
    resolve: (r: MailboxResult) => void,
    reject: (e: unknown) => void,
  ): Promise<void> {
    const local = this.node.canWait(cmd, this.node.now());
    if (local !== null && local.kind === 'empty') return this.waitAgain(cmd, ticket);
    let result: MailboxResult;
    try {
      result = local !== null ? local : await this.node.consume(cmd);
    } catch (err) {
      this.parked.finish(ticket);
      return reject(err);
    }
    if (result.kind === 'empty' && cmd.requestId === undefined) return this.waitAgain(cmd, ticket);
    this.parked.finish(ticket);
    resolve(result);
    this.watch(cmd.user);
  }

  private waitAgain(cmd: ConsumeCommand, ticket: ParkedTicket): void {
    this.parked.repark(ticket);
    this.watch(cmd.user);
  }

  /**
   * Wakes the oldest idle consumer of `user`'s mailbox if something can be taken now, else sets its
   * timer for when something next becomes visible. Not while a consumer of it is being tried, nor while
   * a flush for the mailbox is pending: the messages there may be theirs, and whoever is done last
   * looks again (waking one more would only have it race them, and a consume that loses a race
   * after proposing is an entry for nothing).
   */
  private watch(user: string): void {
    if (this.pending.has(user) || this.parked.anyWoken(user) || !this.parked.hasIdle(user)) return;
    const now = this.node.now();
    // null: there is something to take.
    if (this.node.canWait({ op: 'consume', user }, now) === null) {
      this.parked.stopLooking(user);
      this.metrics.woke(this.parked.wake(user, 1));
      return;
    }
    const next = this.node.nextVisibleAt(user, now);
    if (next === Infinity) this.parked.stopLooking(user);
    else this.parked.lookIn(user, next - now, () => this.watch(user));
  }
}
