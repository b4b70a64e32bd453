// Raft's safety properties (Figure 3), checked continuously against what the simulated nodes
// persist (their disks) and apply (their state machines). Each check throws a SafetyViolation
// naming the broken property.

import { CLOCK_SLEW } from '../raft/entry-clock.js';
import type { Entry, NodeId } from '../raft/types.js';

export class SafetyViolation extends Error {
  constructor(property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.name = 'SafetyViolation';
  }
}

function fingerprint(term: number, time: number, data: Uint8Array, type = 0): string {
  return `${term}/${type}/${time}/${Buffer.from(data).toString('hex')}`;
}

/** A voter's durable log, as far as elections and the entry in question are concerned. */
export interface VoterLog {
  id: NodeId;
  lastIndex: number;
  lastTerm: number;
  snapshotIndex: number;
  termAt(index: number): number | undefined;
}

interface Applied {
  term: number;
  fp: string;
  time: number;
}

export class Invariants {
  private leaders = new Map<number, NodeId>();
  /** (index, term) → entry fingerprint and the term of the entry before it, as first seen on any disk. */
  private written = new Map<string, { fp: string; prevTerm: number }>();
  /** Applied (hence committed) state machine commands by index. */
  private applied: (Applied | undefined)[] = [];
  /** Values of applied Normal entries, in log order: the canonical history of the state machine. */
  private appliedValues: { index: number; value: Uint8Array }[] = [];
  private maxTime = 0;
  /** Reads served whose next entry has not been applied yet: the state they read, their leader's term, their time. */
  private openReads: { applied: number; term: number; time: number }[] = [];

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
    const fp = fingerprint(e.term, e.time, e.data, e.type);
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

  /** State Machine Safety: no two nodes apply different commands at the same index. */
  apply(node: NodeId, index: number, term: number, time: number, data: Uint8Array): void {
    const fp = fingerprint(term, time, data);
    const seen = this.applied[index];
    if (seen === undefined) {
      this.checkTimeOrder(index, time);
      this.checkReadsBefore(index, term, time);
      this.applied[index] = { term, fp, time };
      this.maxTime = Math.max(this.maxTime, time);
      this.insertValue(index, data);
      return;
    }
    if (seen.fp !== fp) {
      throw new SafetyViolation('State Machine Safety', `${node} applied ${fp} at ${index}, another node ${seen.fp}`);
    }
  }

  /**
   * A snapshot a node restores must hold exactly the values applied elsewhere up to its last
   * command, which must be the command applied elsewhere at that index.
   */
  restored(node: NodeId, values: number[], lastIndex: number, lastTerm: number, decode: (b: Uint8Array) => number): void {
    const expected = this.appliedValues.filter((v) => v.index <= lastIndex).map((v) => decode(v.value));
    const known = Math.min(expected.length, values.length);
    for (let i = 0; i < known; i++) {
      if (expected[i] !== values[i]) {
        throw new SafetyViolation('State Machine Safety', `${node} restored a snapshot through ${lastIndex} that disagrees at position ${i}`);
      }
    }
    const seen = this.applied[lastIndex];
    if (lastIndex > 0 && seen !== undefined && seen.term !== lastTerm) {
      throw new SafetyViolation('State Machine Safety', `${node} restored a snapshot whose command ${lastIndex} has term ${lastTerm}, applied elsewhere with ${seen.term}`);
    }
  }

  /**
   * Leader Completeness: a new leader's durable log holds every command applied anywhere so far.
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

  /**
   * Commit Stability: once an entry commits, no voter that lacks it can win an election (§5.4):
   * fewer than a quorum of voters hold logs it is at least as up-to-date as (§5.4.1). Stronger
   * than Leader Completeness, which needs such a voter to actually win; this catches the unsafe
   * commit itself, the step in Figure 8 where the entry is counted but still exposed.
   */
  committed(index: number, term: number, voters: VoterLog[], quorum: number): void {
    for (const x of voters) {
      const t = x.termAt(index);
      if (t === term || (t === undefined && index < x.snapshotIndex)) continue;
      let electors = 0;
      for (const y of voters) {
        if (x.lastTerm > y.lastTerm || (x.lastTerm === y.lastTerm && x.lastIndex >= y.lastIndex)) electors++;
      }
      if (electors >= quorum) {
        throw new SafetyViolation('Commit Stability', `entry ${index} (term ${term}) committed, but ${x.id} (log ${x.lastIndex}@${x.lastTerm}, term ${t} there) could still be elected by ${electors} of ${voters.length}`);
      }
    }
  }

  /** Replicated time never goes backwards along the committed log. */
  private checkTimeOrder(index: number, time: number): void {
    for (let i = index - 1; i > 0; i--) {
      const before = this.applied[i];
      if (before === undefined) continue;
      if (before.time > time) throw new SafetyViolation('Time Monotonicity', `entry ${index} has time ${time}, entry ${i} before it ${before.time}`);
      break;
    }
    for (let i = index + 1; i < this.applied.length; i++) {
      const after = this.applied[i];
      if (after === undefined) continue;
      if (after.time < time) throw new SafetyViolation('Time Monotonicity', `entry ${index} has time ${time}, entry ${i} after it ${after.time}`);
      break;
    }
  }

  /**
   * Read Time: a read served by the leader of `term` on the state applied through `applied` and
   * evaluated at `time` comes before every entry after `applied` in the linearization, so each of
   * those must carry a time no earlier; otherwise a later entry (a consume) finds held what the
   * read saw run out (a lease). Entry times never decrease along the log, so the first command
   * applied after it decides. Checked when that command is of the read's term or earlier (entries
   * the reading leader had or appended itself): a later leader stamps by its own clock and what it
   * learnt from the log, and a read's time is in no log, so across a leader change with skewed
   * clocks this does not hold yet (see docs/chaos.md).
   */
  readServed(node: NodeId, term: number, applied: number, time: number): void {
    for (let i = applied + 1; i < this.applied.length; i++) {
      const next = this.applied[i];
      if (next === undefined) continue;
      this.checkRead({ applied, term, time }, i, next.term, next.time, node);
      return;
    }
    this.openReads.push({ applied, term, time });
  }

  private checkReadsBefore(index: number, term: number, time: number): void {
    this.openReads = this.openReads.filter((r) => {
      if (r.applied >= index) return true;
      this.checkRead(r, index, term, time, 'a node');
      return false;
    });
  }

  private checkRead(r: { applied: number; term: number; time: number }, index: number, term: number, time: number, node: string): void {
    if (term <= r.term && time < r.time) {
      throw new SafetyViolation('Read Time', `${node} read the state through ${r.applied} in term ${r.term} at ${r.time}, entry ${index} after it (term ${term}) has time ${time}`);
    }
  }

  /**
   * Replicated time never runs ahead of true (simulated) time by more than the first stamp's skew
   * plus the slew its leaders may apply: no wall clock jump drags it further.
   */
  timeBound(index: number, time: number, now: number, maxSkew: number): void {
    const bound = now + maxSkew + Math.ceil(CLOCK_SLEW * now);
    if (time > bound) throw new SafetyViolation('Time Bound', `entry ${index} has time ${time} at simulated time ${now} (bound ${bound})`);
  }

  /** The largest time of any applied entry (0 before the first stamp). */
  latestTime(): number {
    return this.maxTime;
  }

  /** The state machine's canonical history (values of applied Normal entries in index order). */
  canonical(decode: (b: Uint8Array) => number): number[] {
    return this.appliedValues.map((v) => decode(v.value));
  }

  private insertValue(index: number, value: Uint8Array): void {
    let i = this.appliedValues.length;
    while (i > 0 && this.appliedValues[i - 1]!.index > index) i--;
    this.appliedValues.splice(i, 0, { index, value });
  }
}
