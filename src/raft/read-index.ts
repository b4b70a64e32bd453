// ReadIndex bookkeeping for a leader (§6.4). Each read records the commit index at the time it
// arrived and the heartbeat round that will confirm leadership for it. Reads that arrive before
// the round's heartbeats leave in a Ready share that round, so one heartbeat exchange confirms
// any number of reads. A follower answering round r has acknowledged us after every read of
// round <= r was registered.

import type { NodeId, ReadState } from './types.js';

interface PendingRead {
  context: number;
  index: number;
  round: number;
}

export class ReadIndexQueue {
  /** Latest round started; heartbeats always carry it. */
  round = 0;
  /** The heartbeats of `round` are still in the outbox (not yet handed out in a Ready). */
  private roundUnsent = false;
  private pending: PendingRead[] = [];
  /** Reads that arrived before this leader committed an entry of its own term. */
  private waiting: number[] = [];
  private acked = new Map<NodeId, number>();

  /** Registers a read at `index`; returns true if a new round's heartbeats must go out. */
  add(context: number, index: number): boolean {
    const fresh = !this.roundUnsent;
    if (fresh) {
      this.round++;
      this.roundUnsent = true;
    }
    this.pending.push({ context, index, round: this.round });
    return fresh;
  }

  wait(context: number): void {
    this.waiting.push(context);
  }

  /** The reads that were waiting for the leader's first commit in its term. */
  takeWaiting(): number[] {
    const w = this.waiting;
    this.waiting = [];
    return w;
  }

  outboxFlushed(): void {
    this.roundUnsent = false;
  }

  ack(from: NodeId, round: number): void {
    if (round > (this.acked.get(from) ?? 0)) this.acked.set(from, round);
  }

  /** Removes and returns the reads a quorum of `voters` has confirmed (`self` confirms everything). */
  confirmed(voters: NodeId[], self: NodeId, quorum: number): ReadState[] {
    if (this.pending.length === 0) return [];
    const rounds = voters
      .map((v) => (v === self ? Number.POSITIVE_INFINITY : (this.acked.get(v) ?? 0)))
      .sort((a, b) => b - a);
    const confirmedRound = rounds[quorum - 1] ?? 0;
    const out: ReadState[] = [];
    while (this.pending.length > 0 && this.pending[0]!.round <= confirmedRound) {
      const r = this.pending.shift()!;
      out.push({ index: r.index, context: r.context });
    }
    return out;
  }
}
