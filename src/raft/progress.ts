// What a leader knows about one follower's log and how it paces replication to it.
// probe: one append in flight until the follower answers (used after a rejection or a restart);
// replicate: optimistic pipelining, bounded by `maxInflight` unacknowledged appends so a slow
// follower cannot make the leader queue unbounded work;
// snapshot: the follower is behind the log's start and is being sent the snapshot in chunks.
// Invariant: match < next (the leader never plans to resend what it knows the follower holds).

import { InvariantViolation, type StoredSnapshot } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/**
 * A snapshot being sent to a follower: its chunks go out in order from `next`, up to a window
 * (RaftConfig.snapshotChunksInFlight) past what the follower confirmed holding.
 */
export interface SnapshotSending {
  snapshot: StoredSnapshot;
  /** Bytes the follower confirmed it holds, from offset 0. */
  acked: number;
  /** Offset of the next chunk to send. */
  next: number;
  /** The last chunk was sent (a 0-byte image is one empty chunk). */
  allSent: boolean;
  /** Heartbeat answers since the follower last reported on the snapshot: after enough, a chunk or its answer was lost. */
  idle: number;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an append was sent and is awaiting an answer (or the next heartbeat). */
  probeSent = false;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Heard from in the CheckQuorum round before this one (a round just begun has heard from no one yet). */
  activeLastRound = false;
  /** Last index of each unacknowledged append, oldest first. */
  private inflight: number[] = [];
  /** In snapshot state: the snapshot being sent. */
  sending: SnapshotSending | null = null;

  constructor(
    next: number,
    private readonly maxInflight: number,
  ) {
    this.next = next;
  }

  paused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    if (this.state === 'snapshot' && this.sending) {
      this.next = Math.max(this.match + 1, this.sending.snapshot.meta.index + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset('probe');
    this.checkMatchBelowNext();
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset('replicate');
  }

  becomeSnapshot(snapshot: StoredSnapshot): void {
    this.reset('snapshot');
    this.sending = { snapshot, acked: 0, next: 0, allSent: false, idle: 0 };
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.inflight = [];
    this.sending = null;
  }

  /** An append ending at `last` was sent. */
  sentAppend(last: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = last + 1;
        this.inflight.push(last);
        this.checkMatchBelowNext();
      }
    } else {
      this.probeSent = true;
    }
  }

  /**
   * The append not yet sent that ended at `end` now ends at `last` (the core extended it): it keeps
   * its one place in the pipeline, or takes one if it had no entries.
   */
  extendedAppend(end: number, last: number): void {
    if (this.state !== 'replicate') {
      this.probeSent = true;
      return;
    }
    const n = this.inflight.length;
    if (n > 0 && this.inflight[n - 1] === end) this.inflight[n - 1] = last;
    else this.inflight.push(last);
    this.next = last + 1;
    this.checkMatchBelowNext();
  }

  /** The follower's log matches ours through `index`; returns false for stale news. */
  acknowledge(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      this.probeSent = false;
      updated = true;
    }
    this.next = Math.max(this.next, index + 1);
    while (this.inflight.length > 0 && this.inflight[0]! <= index) this.inflight.shift();
    this.checkMatchBelowNext();
    return updated;
  }

  /**
   * The follower rejected an append whose prevLogIndex was `rejected`; `hint` is where to retry.
   * Returns false if the rejection is stale (answers an append we already moved past).
   */
  rejected(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = Math.max(this.match + 1, Math.min(rejected, hint));
      this.becomeProbeAt(this.next);
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(this.match + 1, Math.min(rejected, hint));
    this.probeSent = false;
    this.checkMatchBelowNext();
    return true;
  }

  private becomeProbeAt(next: number): void {
    this.reset('probe');
    this.next = next;
    this.checkMatchBelowNext();
  }

  private checkMatchBelowNext(): void {
    if (this.match >= this.next) throw new InvariantViolation('match < next', `match ${this.match}, next ${this.next}`);
  }

  /**
   * A heartbeat answer shows the follower is reachable: let a stalled probe go again, and make
   * room in a full pipeline (its appends may have been lost) so the next append reveals the gap.
   */
  heardFrom(): void {
    this.recentActive = true;
    if (this.state === 'probe') this.probeSent = false;
    if (this.state === 'replicate' && this.paused()) this.inflight.shift();
  }
}
