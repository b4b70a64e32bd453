// Time for the Raft driver: a clock, timers and deferral, injected so that the simulator can run
// the driver that ships under simulated time (src/sim) while production uses Node's own timers.

/** An opaque handle of a timer, for `cancel`. */
export type TimerHandle = unknown;

export interface Scheduler {
  /** Milliseconds since the epoch (wall clock in production; a node's own, possibly skewed, clock in the simulator). */
  now(): number;
  /** Milliseconds on a clock nobody can set (any origin): measures elapsed time when the wall clock jumps. */
  monotonic(): number;
  /** Calls `fn` once, `ms` from now. */
  after(ms: number, fn: () => void): TimerHandle;
  /** Calls `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): TimerHandle;
  cancel(timer: TimerHandle): void;
  /** Calls `fn` once the current turn is done, after work (I/O, messages) that arrived with it. */
  defer(fn: () => void): void;
}

export const realScheduler: Scheduler = {
  now: Date.now,
  monotonic: () => performance.now(),
  after: (ms, fn) => setTimeout(fn, ms),
  every: (ms, fn) => setInterval(fn, ms),
  cancel: (timer) => clearTimeout(timer as NodeJS.Timeout),
  defer: (fn) => setImmediate(fn),
};
