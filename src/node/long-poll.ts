// Long-poll consume (`consume?wait=<ms>`) on the leader: a consume that finds nothing to take
// parks (parked-consumers.ts) instead of answering `empty`, and is answered as soon as a message
// for its mailbox commits, or when its wait ends.
//
// Nothing is logged while waiting. A consume parks only once a linearizable read (ReadIndex) has
// confirmed there is nothing to take; the check and the parking happen in one synchronous stretch,
// so a put applied after the check always finds the consumer parked. Applying a put (or a nack,
// which returns a message) wakes the oldest idle consumer of that mailbox, one per message; the
// woken consumer proposes its consume (the only log entry of a long poll that gets a message). If
// that finds nothing after all (another consumer took the message first), it waits again at its
// place, with the rest of its time. The last woken consumer of a mailbox to get a message looks
// again: if the mailbox still has something and others wait, the next is woken (messages that
// became visible without an entry, such as an ended lease, are picked up that way or at a deadline).
// A delayed put or a nack with an explicit delay wakes no one when applied but when its delay has
// passed (a local timer of that length: the leader's clock is the log's). A nack delayed by the
// default backoff wakes one consumer at once, which finds nothing yet and waits again: the message
// reaches parked consumers at the next put or nack wake-up of that mailbox, or at their deadline.
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
  /** ReadIndex: resolves with the leader's read time once the local state is linearizable. */
  readBarrier(): Promise<number>;
  isLeader(): boolean;
  /** The ordinary consume (the node's command path): proposed, or answered without a log entry when there is nothing to take. */
  consume(cmd: ConsumeCommand): Promise<MailboxResult>;
  /** Refusal for a consume that finds the node not leading (NOT_LEADER with the leader hint). */
  notLeader(): Error;
}

export interface LongPollMetrics {
  /** Parked consumers woken (one per message made visible while someone waited, plus re-looks). */
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
  /** Messages made visible per mailbox since the last flush: woken on the next turn of the event loop. */
  private pending = new Map<string, number>();
  private flushScheduled = false;

  constructor(
    private readonly node: LongPollNode,
    private readonly parked: ParkedConsumers,
    private readonly metrics: LongPollMetrics,
  ) {}

  /** A consume that waits up to `waitMs` for a message. Rejects like the node's command path. */
  async consume(cmd: ConsumeCommand, waitMs: number): Promise<MailboxResult> {
    const deadline = Date.now() + waitMs;
    // A consume that saw a message but lost it to another before its entry applied waits like one
    // that found nothing (a few times at most: each try is an entry).
    for (let tries = 0; ; tries++) {
      const local = this.node.canWait(cmd, Date.now());
      if (local !== null && local.kind === 'error') return local;
      if (local === null) {
        const taken = await this.node.consume(cmd);
        if (taken.kind !== 'empty' || cmd.requestId !== undefined || tries >= MAX_LOST_RACES || Date.now() >= deadline) return taken;
        continue;
      }
      const at = await this.node.readBarrier();
      // From here to parking nothing awaits: a put applied later finds this consumer parked.
      const now = this.node.canWait(cmd, at);
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
      });
    }
  }

  /** Hears every applied command: one waiting consumer per message it made visible. */
  applied(cmd: MailboxCommand, result: MailboxResult): void {
    let visible = 0;
    if ((cmd.op === 'put' && result.kind === 'put' && !result.duplicate) || (cmd.op === 'nack' && result.kind === 'ok')) visible = 1;
    else if (cmd.op === 'putBatch' && result.kind === 'puts') visible = result.puts.filter((p) => !p.duplicate).length;
    if (visible === 0 || !('user' in cmd)) return;
    const delayMs = cmd.op === 'put' || cmd.op === 'nack' ? (cmd.delayMs ?? 0) : 0;
    if (delayMs > 0) {
      // Armed even with nobody waiting yet (a consumer may park before the message shows), on the
      // leader only (followers park nobody). Unref'd: a pending wake-up never keeps the process
      // alive; one that fires after leadership moved finds nobody parked and wakes nobody.
      const user = cmd.user;
      if (this.node.isLeader()) setTimeout(() => this.visibleNow(user, 1), delayMs).unref();
      return;
    }
    this.visibleNow(cmd.user, visible);
  }

  /** `count` messages of `user`'s mailbox became visible: wake as many waiting consumers on the next turn. */
  private visibleNow(user: string, count: number): void {
    if (this.parked.size === 0) return;
    this.pending.set(user, (this.pending.get(user) ?? 0) + count);
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
    for (const [user, n] of pending) woken += this.parked.wake(user, n);
    if (woken > 0) this.metrics.woke(woken);
  }

  private async tryWoken(
    cmd: ConsumeCommand,
    ticket: ParkedTicket,
    resolve: (r: MailboxResult) => void,
    reject: (e: unknown) => void,
  ): Promise<void> {
    const local = this.node.canWait(cmd, Date.now());
    if (local !== null && local.kind === 'empty') return this.parked.repark(ticket);
    let result: MailboxResult;
    try {
      result = local !== null ? local : await this.node.consume(cmd);
    } catch (err) {
      this.parked.finish(ticket);
      return reject(err);
    }
    if (result.kind === 'empty' && cmd.requestId === undefined) return this.parked.repark(ticket);
    this.parked.finish(ticket);
    resolve(result);
    if (result.kind === 'message' || result.kind === 'messages') this.lookAgain(cmd.user);
  }

  /**
   * After a woken consumer took a message: wake the next if the mailbox still has one. Not while
   * others are being tried, nor while wakes for it are pending: the messages left may be theirs
   * (the last of them looks again); waking one more would only have it race them, and a consume
   * that loses a race after proposing is an entry for nothing.
   */
  private lookAgain(user: string): void {
    if (this.pending.has(user) || this.parked.anyWoken(user) || !this.parked.hasIdle(user)) return;
    // null: there is something to take.
    if (this.node.canWait({ op: 'consume', user }, Date.now()) === null) {
      this.metrics.woke(this.parked.wake(user, 1));
    }
  }
}
