// What every system in the end-to-end benchmark is asked to do, the same for all of them.

export interface Workload {
  /** The longest a phase runs. */
  seconds: number;
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
