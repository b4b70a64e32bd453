// Availability of a fault-injection run: for every fault the nemesis injected, how long clients
// went without a served request after the fault started, and after it was healed. Safety is the
// checkers' business (total-queue, Porcupine); this is the other half of "the service works".
//
// A request counts as served when its answer came from a leader doing its job: an ok, or a
// definite refusal of the state machine (MAILBOX_FULL, LEASE_EXPIRED...). NOT_LEADER, NOSPACE and
// BACKLOG_FULL are definite but are not service, and indeterminate outcomes are not answers.
// The gap after an instant t is the time from t to the first served answer to a request sent
// at or after t: a request sent earlier (perhaps to the node that just froze) says nothing about
// whether the service came back, and one sent later cannot be served by a fault that ended.
// A gap is cut at the next fault's start: from then on the silence is that fault's (consecutive
// or overlapping faults are not blamed on the earlier one), and the cut gap counts as served.

import type { OpRecord } from './history.js';

export interface FaultWindow {
  kind: string;
  /** Run-clock nanoseconds (HistoryRecorder.now()): the fault is in place. */
  start: number;
  /** Run-clock nanoseconds: the fault is undone. */
  end: number;
  /** Which node(s), for the report. */
  target: string;
}

export interface GapStats {
  faults: number;
  /** Longest gap after a fault's start, ms (null when no request was served after some start). */
  afterStartMaxMs: number | null;
  /** Longest gap after a fault's heal, ms. */
  afterHealMaxMs: number | null;
  /** Gaps never closed by a served request, nor cut by a later fault (till the run's end). */
  unserved: number;
}

export interface AvailabilityReport {
  byKind: Record<string, GapStats>;
  /** Longest time between two consecutive served answers anywhere in the run, ms. */
  longestGapMs: number;
  /** The single worst fault (either gap), for the report. */
  worst: { kind: string; target: string; after: 'start' | 'heal'; gapMs: number } | null;
}

const NOT_SERVICE = new Set(['NOT_LEADER', 'BACKLOG_FULL', 'NOSPACE']);

export function isServed(op: OpRecord): boolean {
  if (op.outcome === 'ok') return true;
  return op.outcome === 'fail' && !NOT_SERVICE.has(op.output.error);
}

const NS_PER_MS = 1_000_000;

/** Served answers as [call, return] pairs, sorted by call time. */
function servedCalls(ops: readonly OpRecord[]): Array<{ call: number; ret: number }> {
  return ops
    .filter(isServed)
    .map((op) => ({ call: op.call, ret: op.return as number }))
    .sort((a, b) => a.call - b.call);
}

/** ms from `t` to the first served answer to a request sent at or after `t`, or null. */
function gapAfter(served: Array<{ call: number; ret: number }>, t: number): number | null {
  let lo = 0;
  let hi = served.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (served[mid]!.call < t) lo = mid + 1;
    else hi = mid;
  }
  let first = Infinity;
  for (let i = lo; i < served.length; i++) first = Math.min(first, served[i]!.ret);
  return first === Infinity ? null : (first - t) / NS_PER_MS;
}

/** The first fault start after `t`, or Infinity. */
function nextStartAfter(starts: readonly number[], t: number): number {
  for (const s of starts) if (s > t) return s;
  return Infinity;
}

export function measureAvailability(ops: readonly OpRecord[], faults: readonly FaultWindow[]): AvailabilityReport {
  const served = servedCalls(ops);
  const starts = faults.map((f) => f.start).sort((a, b) => a - b);
  const byKind: Record<string, GapStats> = {};
  let worst: AvailabilityReport['worst'] = null;
  for (const f of faults) {
    const stats = (byKind[f.kind] ??= { faults: 0, afterStartMaxMs: 0, afterHealMaxMs: 0, unserved: 0 });
    stats.faults++;
    for (const [after, t] of [['start', f.start], ['heal', f.end]] as const) {
      const cut = (nextStartAfter(starts, t) - t) / NS_PER_MS;
      const untilServed = gapAfter(served, t);
      const gap = untilServed === null ? (cut === Infinity ? null : cut) : Math.min(untilServed, cut);
      const key = after === 'start' ? 'afterStartMaxMs' : 'afterHealMaxMs';
      if (gap === null) {
        stats.unserved++;
        stats[key] = null;
        continue;
      }
      if (stats[key] !== null) stats[key] = Math.max(stats[key], Math.round(gap));
      if (worst === null || gap > worst.gapMs) worst = { kind: f.kind, target: f.target, after, gapMs: Math.round(gap) };
    }
  }
  const returns = served.map((s) => s.ret).sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < returns.length; i++) longest = Math.max(longest, returns[i]! - returns[i - 1]!);
  return { byKind, longestGapMs: Math.round(longest / NS_PER_MS), worst };
}
