// What every system in the end-to-end benchmark is asked to do, the same for all of them.

export interface Workload {
  /** The longest a phase runs. */
  seconds: number;
  /** How long the unrecorded warm-up runs its put and consume phases before the first level (0: none). */
  warmUpSeconds: number;
  /** Requests in flight for the put and single consume phases. */
  levels: number[];
  /** Mailbox names (Forge), subjects (NATS) or key prefixes (etcd) the puts are spread over. */
  users: string[];
  body: Uint8Array;
  /** Batch sizes N for the `consume max=N` phases (RabbitMQ: prefetch N). */
  batchSizes: number[];
  /** Messages put before each batch consume phase. */
  batchFill: number;
  /** Workers taking batches at once. */
  batchConcurrency: number;
}

/** Stops what a driver started, run last registered first (connections before their servers). */
export type Cleanups = (() => Promise<void>)[];

/** One level of the put and consume phases: how many in flight, for how long, and whether it is recorded. */
export interface Level {
  inFlight: number;
  seconds: number;
  /** The warm-up: run like the first level, its figures dropped. */
  warmUp: boolean;
}

/**
 * The levels a system runs: first a warm-up at the first level, unrecorded, so that no system's
 * first figures are taken while it is still starting (the nodes' JIT: a fresh Forge cluster put
 * 1,688-1,776/s at 16 in flight in its first 8 s, then 3,727-4,593/s), then each level.
 */
export function levelsOf(work: Workload): Level[] {
  const levels = work.levels.map((inFlight) => ({ inFlight, seconds: work.seconds, warmUp: false }));
  return work.warmUpSeconds > 0 && levels.length > 0 ? [{ inFlight: levels[0]!.inFlight, seconds: work.warmUpSeconds, warmUp: true }, ...levels] : levels;
}
