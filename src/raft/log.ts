// The in-memory Raft log of one node: the snapshot it starts from plus every entry after it.
// It also tracks how much of itself is durable (`stableIndex`: handed out in a Ready that the
// caller persisted), how much is committed and how much the state machine has applied.
// Invariants, checked where they can break: stable <= last, committed <= last, applied <= committed.

import { InvariantViolation, type Entry, type StoredSnapshot } from './types.js';

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0/0 for none). */
  snapshotIndex: number;
  snapshotTerm: number;
  /** The latest snapshot (its data is in storage), to send to followers that fell behind the log. */
  snapshot: StoredSnapshot | null;
  /** A snapshot received from the leader that the caller has not persisted yet. */
  unstableSnapshot: StoredSnapshot | null = null;
  private entries: Entry[];
  private stable: number;
  private commit: number;
  private appliedIndex: number;

  constructor(snapshot: StoredSnapshot | null, entries: Entry[], commit: number) {
    this.snapshot = snapshot;
    this.snapshotIndex = snapshot?.meta.index ?? 0;
    this.snapshotTerm = snapshot?.meta.term ?? 0;
    this.entries = entries.filter((e) => e.index > this.snapshotIndex);
    for (let i = 0; i < this.entries.length; i++) {
      if (this.entries[i]!.index !== this.snapshotIndex + 1 + i) {
        throw new RangeError(`persisted log is not contiguous at position ${i}`);
      }
    }
    this.stable = this.lastIndex();
    this.commit = Math.min(Math.max(commit, this.snapshotIndex), this.lastIndex());
    this.appliedIndex = this.snapshotIndex;
  }

  /** Last index the caller reported persisted (through a Ready it advanced). */
  get stableIndex(): number {
    return this.stable;
  }

  get committed(): number {
    return this.commit;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /** Moves the commit index forward (never back: committed entries stay committed). */
  commitTo(index: number): void {
    if (index <= this.commit) return;
    if (index > this.lastIndex()) throw new InvariantViolation('committed <= last', `commit ${index}, last ${this.lastIndex()}`);
    this.commit = index;
  }

  /** The state machine applied everything through `index`. */
  appliedTo(index: number): void {
    if (index <= this.appliedIndex) return;
    if (index > this.commit) throw new InvariantViolation('applied <= committed', `applied ${index}, committed ${this.commit}`);
    this.appliedIndex = index;
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term of the entry at `index`; undefined if compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndex - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndex) return undefined;
    return this.entries[index - this.snapshotIndex - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: is a log ending at (lastTerm, lastIndex) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi), at least one if any, then as many as fit in the limits. */
  slice(lo: number, hi: number, maxEntries: number, maxBytes: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = Math.max(lo, this.firstIndex()); i < hi && i <= this.lastIndex(); i++) {
      const e = this.entries[i - this.snapshotIndex - 1]!;
      bytes += entryBytes(e);
      if (out.length > 0 && (out.length >= maxEntries || bytes > maxBytes)) break;
      out.push(e);
    }
    return out;
  }

  /** Appends after dropping any entries from `entries[0].index` on (a leader's conflicting suffix). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const from = entries[0]!.index;
    if (from <= this.commit) throw new RangeError(`refusing to overwrite committed index ${from}`);
    if (from > this.lastIndex() + 1) throw new RangeError(`gap before index ${from}`);
    this.entries.length = from - this.snapshotIndex - 1;
    for (const e of entries) this.entries.push(e);
    this.stable = Math.min(this.stable, from - 1);
  }

  /** Entries the caller has not persisted yet. */
  unstableEntries(): Entry[] {
    return this.entries.slice(this.stable - this.snapshotIndex);
  }

  /** The caller persisted everything up to (index, term); ignored if the log changed underneath. */
  stableTo(index: number, term: number): void {
    if (index <= this.stable || this.term(index) !== term) return;
    if (index > this.lastIndex()) throw new InvariantViolation('stable <= last', `stable ${index}, last ${this.lastIndex()}`);
    this.stable = index;
  }

  /** Committed entries not yet handed to the state machine. */
  nextCommitted(): Entry[] {
    return this.entries.slice(this.appliedIndex - this.snapshotIndex, this.commit - this.snapshotIndex);
  }

  /** Drops the prefix through `snapshot.meta.index` (which must be in the log and applied). */
  compact(snapshot: StoredSnapshot): void {
    const { index } = snapshot.meta;
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = snapshot.meta.term;
    this.snapshot = snapshot;
  }

  /** Replaces the whole log by a snapshot received from the leader. */
  restore(snapshot: StoredSnapshot): void {
    this.entries = [];
    this.snapshotIndex = snapshot.meta.index;
    this.snapshotTerm = snapshot.meta.term;
    this.snapshot = snapshot;
    this.unstableSnapshot = snapshot;
    this.commit = snapshot.meta.index;
    this.appliedIndex = snapshot.meta.index;
    this.stable = snapshot.meta.index;
  }
}

/** Approximate wire/memory cost of an entry, used for batching and backlog limits. */
export function entryBytes(e: Entry): number {
  return e.data.length + 24;
}
