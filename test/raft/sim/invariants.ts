// Raft's safety properties (Figure 3), checked continuously against what the simulated nodes
// persist and apply. Each check throws a SafetyViolation naming the broken property.

import { EntryType, type Entry, type NodeId, type Snapshot } from '../../../src/raft/types.js';

export class SafetyViolation extends Error {
  constructor(property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.name = 'SafetyViolation';
  }
}

function fingerprint(e: Entry): string {
  return `${e.term}/${e.type}/${e.time}/${Buffer.from(e.data).toString('hex')}`;
}

export class Invariants {
  private leaders = new Map<number, NodeId>();
  /** (index, term) → entry fingerprint and the term of the entry before it, as first seen on any disk. */
  private written = new Map<string, { fp: string; prevTerm: number }>();
  /** Applied (hence committed) entries by index. */
  private applied: (Entry | undefined)[] = [];
  /** Values of applied Normal entries, in log order: the canonical history of the state machine. */
  private appliedValues: { index: number; value: Uint8Array }[] = [];

  /** Election Safety: at most one leader per term. */
  leader(term: number, id: NodeId): void {
    const seen = this.leaders.get(term);
    if (seen !== undefined && seen !== id) {
      throw new SafetyViolation('Election Safety', `${seen} and ${id} both leaders in term ${term}`);
    }
    this.leaders.set(term, id);
  }

  /**
   * Log Matching: an (index, term) pair identifies one entry, and the entry before it always has
   * the same term, so (by induction) logs agreeing on an entry agree on everything before it.
   */
  persisted(node: NodeId, e: Entry, prevTerm: number): void {
    const key = `${e.index}/${e.term}`;
    const fp = fingerprint(e);
    const seen = this.written.get(key);
    if (!seen) {
      this.written.set(key, { fp, prevTerm });
      return;
    }
    if (seen.fp !== fp) throw new SafetyViolation('Log Matching', `${node} has a different entry at ${key}`);
    if (seen.prevTerm !== prevTerm) {
      throw new SafetyViolation('Log Matching', `${node} at ${key} follows term ${prevTerm}, others ${seen.prevTerm}`);
    }
  }

  /** State Machine Safety: no two nodes apply different entries at the same index. */
  apply(node: NodeId, e: Entry): void {
    const seen = this.applied[e.index];
    if (seen === undefined) {
      this.applied[e.index] = e;
      if (e.type === EntryType.Normal) this.insertValue(e);
      return;
    }
    if (fingerprint(seen) !== fingerprint(e)) {
      throw new SafetyViolation('State Machine Safety', `${node} applied ${fingerprint(e)} at ${e.index}, another node ${fingerprint(seen)}`);
    }
  }

  /** A snapshot a node installs must hold exactly the values applied elsewhere up to its index. */
  restored(node: NodeId, snapshot: Snapshot, values: number[], decode: (b: Uint8Array) => number): void {
    const expected = this.appliedValues.filter((v) => v.index <= snapshot.meta.index).map((v) => decode(v.value));
    const known = Math.min(expected.length, values.length);
    for (let i = 0; i < known; i++) {
      if (expected[i] !== values[i]) {
        throw new SafetyViolation('State Machine Safety', `${node} restored a snapshot at ${snapshot.meta.index} that disagrees at position ${i}`);
      }
    }
    const seen = this.applied[snapshot.meta.index];
    if (seen !== undefined && seen.term !== snapshot.meta.term) {
      throw new SafetyViolation('State Machine Safety', `${node} snapshot at ${snapshot.meta.index} has term ${snapshot.meta.term}, applied entry has ${seen.term}`);
    }
  }

  /**
   * Leader Completeness: a new leader's durable log holds every entry applied anywhere so far.
   * `termAt` answers from the leader's disk (snapshot or entries), undefined if absent.
   */
  newLeader(node: NodeId, snapshotIndex: number, termAt: (index: number) => number | undefined): void {
    for (let i = 1; i < this.applied.length; i++) {
      const e = this.applied[i];
      if (e === undefined || i < snapshotIndex) continue;
      const t = termAt(i);
      if (t !== e.term) {
        throw new SafetyViolation('Leader Completeness', `leader ${node} lacks committed entry ${i} (term ${e.term}), has term ${t}`);
      }
    }
  }

  /** The state machine's canonical history (values of applied Normal entries in index order). */
  canonical(decode: (b: Uint8Array) => number): number[] {
    return this.appliedValues.map((v) => decode(v.value));
  }

  private insertValue(e: Entry): void {
    let i = this.appliedValues.length;
    while (i > 0 && this.appliedValues[i - 1]!.index > e.index) i--;
    this.appliedValues.splice(i, 0, { index: e.index, value: e.data });
  }
}
