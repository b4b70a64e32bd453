// The in-memory Raft log of one node: the snapshot it starts from plus every entry after it.
// It also tracks how much of itself is durable (`stableIndex`: handed out in a Ready that the
// caller persisted), how much is committed and how much the state machine has applied.
// Invariants, checked where they can break: stable <= last, committed <= last, applied <= committed.
// Entries both durable and applied are "settled": they move into columns (settled-entries.ts),
// the rest stay objects until then (the ones a Ready hands out for writing, sending and applying).

import { SettledEntries } from './settled-entries.js';
import { InvariantViolation, type Entry, type StoredSnapshot } from './types.js';

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0/0 for none). */
  snapshotIndex: number;
  snapshotTerm: number;
  /** The latest snapshot (its data is in storage), to send to followers that fell behind the log. */
  snapshot: StoredSnapshot | null;
  /** A snapshot received from the leader that the caller has not persisted yet. */
  unstableSnapshot: StoredSnapshot | null = null;
  /** Entries snapshotIndex+1 .. settledThrough: durable and applied. */
  private settled: SettledEntries;
  /** Entries settledThrough+1 .. lastIndex are recent[recentStart..]. */
  private recent: Entry[];
  private recentStart = 0;
  private stable: number;
  private commit: number;
  private appliedIndex: number;

  constructor(snapshot: StoredSnapshot | null, entries: Entry[], commit: number) {
    this.snapshot = snapshot;
    this.snapshotIndex = snapshot?.meta.index ?? 0;
    this.snapshotTerm = snapshot?.meta.term ?? 0;
    this.settled = new SettledEntries(this.snapshotIndex + 1);
    this.recent = entries.filter((e) => e.index > this.snapshotIndex);
    for (let i = 0; i < this.recent.length; i++) {
      if (this.recent[i]!.index !== this.snapshotIndex + 1 + i) {
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
    this.settle();
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.settled.lastIndex + this.recent.length - this.recentStart;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** Term of the entry at `index`; undefined if compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return index <= this.settled.lastIndex ? this.settled.term(index) : this.recentAt(index).term;
  }

  /** The entry at `index`, undefined if compacted away or beyond the end; a settled one is made anew. */
  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndex || index > this.lastIndex()) return undefined;
    return index <= this.settled.lastIndex ? this.settled.entry(index) : this.recentAt(index);
  }

  /** Replicated time of the entry at `index`, which must be in the log. */
  time(index: number): number {
    this.mustHold(index);
    return index <= this.settled.lastIndex ? this.settled.time(index) : this.recentAt(index).time;
  }

  /** entryBytes of the entry at `index`, which must be in the log. */
  bytes(index: number): number {
    this.mustHold(index);
    return ENTRY_OVERHEAD + (index <= this.settled.lastIndex ? this.settled.dataLength(index) : this.recentAt(index).data.length);
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
      bytes += this.bytes(i);
      if (out.length > 0 && (out.length >= maxEntries || bytes > maxBytes)) break;
      out.push(this.entry(i)!);
    }
    return out;
  }

  /** Appends after dropping any entries from `entries[0].index` on (a leader's conflicting suffix). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const from = entries[0]!.index;
    if (from <= this.commit) throw new RangeError(`refusing to overwrite committed index ${from}`);
    if (from > this.lastIndex() + 1) throw new RangeError(`gap before index ${from}`);
    // from > commit >= applied >= settledThrough: only recent entries are ever overwritten.
    this.recent.length = this.recentPos(from);
    for (const e of entries) this.recent.push(e);
    this.stable = Math.min(this.stable, from - 1);
  }

  /** Entries the caller has not persisted yet (all recent: settled ones are durable). */
  unstableEntries(): Entry[] {
    return this.recent.slice(this.recentPos(this.stable + 1));
  }

  /** The caller persisted everything up to (index, term); ignored if the log changed underneath. */
  stableTo(index: number, term: number): void {
    if (index <= this.stable || this.term(index) !== term) return;
    if (index > this.lastIndex()) throw new InvariantViolation('stable <= last', `stable ${index}, last ${this.lastIndex()}`);
    this.stable = index;
    this.settle();
  }

  /** Committed entries not yet handed to the state machine (all recent: settled ones are applied). */
  nextCommitted(): Entry[] {
    return this.committedAfter(this.appliedIndex);
  }

  /** Committed entries after `index`, which is at least the applied index (so they are all recent). */
  committedAfter(index: number): Entry[] {
    if (index < this.appliedIndex) throw new RangeError(`committed entries after ${index} asked for, applied through ${this.appliedIndex}`);
    return this.recent.slice(this.recentPos(index + 1), this.recentPos(this.commit + 1));
  }

  /** Drops the prefix through `snapshot.meta.index` (which must be in the log, applied and durable). */
  compact(snapshot: StoredSnapshot): void {
    const { index } = snapshot.meta;
    if (index > this.settled.lastIndex) {
      throw new InvariantViolation('compacted <= settled', `compact to ${index}, settled through ${this.settled.lastIndex}`);
    }
    this.settled.dropThrough(index);
    this.snapshotIndex = index;
    this.snapshotTerm = snapshot.meta.term;
    this.snapshot = snapshot;
  }

  /** Replaces the whole log by a snapshot received from the leader. */
  restore(snapshot: StoredSnapshot): void {
    this.settled.reset(snapshot.meta.index + 1);
    this.recent = [];
    this.recentStart = 0;
    this.snapshotIndex = snapshot.meta.index;
    this.snapshotTerm = snapshot.meta.term;
    this.snapshot = snapshot;
    this.unstableSnapshot = snapshot;
    this.commit = snapshot.meta.index;
    this.appliedIndex = snapshot.meta.index;
    this.stable = snapshot.meta.index;
  }

  /** Moves the entries both durable and applied from `recent` into the columns. */
  private settle(): void {
    const through = Math.min(this.stable, this.appliedIndex);
    if (through <= this.settled.lastIndex) return;
    const end = this.recentPos(through + 1);
    for (let i = this.recentStart; i < end; i++) this.settled.push(this.recent[i]!);
    this.recentStart = end;
    // Drop the moved slots now and then, not at every settle: a slice per settle would copy the
    // whole recent part each time (after a restart, every entry since the snapshot).
    if (this.recentStart >= 1024 && this.recentStart * 2 >= this.recent.length) {
      this.recent = this.recent.slice(this.recentStart);
      this.recentStart = 0;
    }
  }

  /** Position in `recent` of the entry at `index` (past settledThrough). */
  private recentPos(index: number): number {
    return this.recentStart + index - this.settled.lastIndex - 1;
  }

  private recentAt(index: number): Entry {
    return this.recent[this.recentPos(index)]!;
  }

  private mustHold(index: number): void {
    if (index <= this.snapshotIndex || index > this.lastIndex()) throw new RangeError(`entry ${index} is not in the log (${this.firstIndex()}..${this.lastIndex()})`);
  }
}

/** What an entry costs beside its data, for batching and backlog limits. */
const ENTRY_OVERHEAD = 24;

/** Approximate wire/memory cost of an entry, used for batching and backlog limits. */
export function entryBytes(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD;
}
