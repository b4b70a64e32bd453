// Replicated time: the timestamp a leader puts on each entry it appends, which is the state
// machine's only notion of "now" (mailbox TTLs, leases, dedupe windows). One node's wall clock
// must not be able to move it backwards or far ahead, so the leader steers toward its wall clock
// within bounds set by its monotonic clock, which nobody can set:
//
//   time = clamp(wall, known + e·(1 − SLEW), known + e·(1 + SLEW))
//
// where `known` is the latest entry time this node knows (its log, its snapshot, what it stamped)
// and `e` is how long ago, by this node's monotonic clock, it learned it. So entry times never go
// backwards; over any stretch of a leader's reign they advance by its monotonic elapsed time
// ±10%; a wall clock that jumps by an hour is followed only at that rate (an hour ahead takes ten
// hours to reach, an hour behind holds time to 90% speed until the clock catches up), whereas an
// idle hour between two entries is an hour of monotonic time and passes in full. A new leader
// learned `known` when the entry reached it (the driver reads the clocks with every message and
// tick), so a failover between well-synchronised clocks costs nothing.
//
// Pure: readings come in as arguments (the driver reads `Date.now()` and `performance.now()`).
// Only the cluster's first stamp (no entry time known anywhere) takes the wall clock as it is.

/** One reading of a node's clocks: wall time (ms since the epoch) and a monotonic clock (ms, any origin). */
export interface ClockReading {
  wall: number;
  mono: number;
}

/** Replicated time runs at between 1 − SLEW and 1 + SLEW times the leader's monotonic clock while it steers to the wall clock. */
export const CLOCK_SLEW = 0.1;

export class EntryClock {
  /** Latest entry time known, unrounded (stamps keep their fraction so slewing is exact). */
  private known: number;
  /** Monotonic reading when `known` was learned; null until the first reading after start. */
  private knownAt: number | null = null;
  /** The latest reading given to `observe`. */
  private latest: ClockReading | null = null;

  constructor(known: number) {
    this.known = known;
  }

  /** The latest entry time known (what an entry stamped without a reading carries). */
  current(): number {
    return Math.floor(this.known);
  }

  /** A reading of the node's clocks (every tick). */
  observe(now: ClockReading): void {
    this.latest = now;
    // Times known since start were learned no later than this first reading.
    this.knownAt ??= now.mono;
  }

  /** An entry carrying `time` reached this node's log (from a leader, a snapshot or itself). */
  learned(time: number): void {
    if (!(time > this.known)) return;
    this.known = time;
    this.knownAt = this.latest?.mono ?? null;
  }

  /** The time for an entry this leader appends now. */
  stamp(now: ClockReading): number {
    const wall = Number.isFinite(now.wall) ? now.wall : 0;
    let t: number;
    if (this.known === 0) {
      t = Math.max(0, wall); // nothing known: the cluster's first stamp
    } else {
      const elapsed = Math.max(0, now.mono - (this.knownAt ?? now.mono));
      const lo = this.known + elapsed * (1 - CLOCK_SLEW);
      const hi = this.known + elapsed * (1 + CLOCK_SLEW);
      t = Math.min(Math.max(wall, lo), hi);
    }
    // Not re-anchored when time stood still, so elapsed time below a millisecond is not lost.
    if (t > this.known) {
      this.known = t;
      this.knownAt = now.mono;
    } else if (this.knownAt === null) {
      this.knownAt = now.mono;
    }
    return Math.floor(this.known);
  }
}
