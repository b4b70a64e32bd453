// The flow control of a snapshot stored while it is being taken (RaftStorage.beginSnapshot), shared
// by the storages: pieces are grouped into batches of exactly `batchBytes` (the last one shorter),
// handed to the storage one at a time and in order, with at most one batch waiting behind the one
// being stored, so that a fast producer is held back instead of piling the image up in memory.
// What a batch becomes on disk (sealed chunks, a simulated write) is the storage's business.

import type { SnapshotMeta, SnapshotWriter } from './types.js';

/** How a storage stages the image of one writer, and makes it its snapshot. */
export interface SnapshotStaging {
  /** Stores the next `bytes` bytes of the image (the pieces' bytes, in order). One call at a time. */
  stage(pieces: Uint8Array[], bytes: number): Promise<void>;
  /** Makes the staged image, `length` bytes in all, the stored snapshot. */
  commit(meta: SnapshotMeta, length: number): Promise<void>;
  /** Drops what was staged; called once no batch is being stored. Never throws. */
  drop(): void;
}

export class SnapshotWriterStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotWriterStateError';
  }
}

export class BatchedSnapshotWriter implements SnapshotWriter {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Bytes handed to the batch chain and not yet stored. */
  private inFlight = 0;
  private length = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private state: 'open' | 'ended' | 'committing' | 'aborted' = 'open';
  private waiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(
    private readonly batchBytes: number,
    private readonly staging: SnapshotStaging,
  ) {
    if (!Number.isSafeInteger(batchBytes) || batchBytes < 1) throw new RangeError(`batch size must be a positive integer, got ${batchBytes}`);
  }

  write(piece: Uint8Array): boolean {
    if (this.state !== 'open') throw new SnapshotWriterStateError(`write on a snapshot writer that is ${this.state}`);
    if (piece.length > 0) {
      this.pending.push(piece);
      this.pendingBytes += piece.length;
      this.length += piece.length;
      while (this.pendingBytes >= this.batchBytes) this.send(this.batchBytes);
    }
    return this.mayWrite();
  }

  drained(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.state === 'aborted' || this.mayWrite()) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  end(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'ended';
      if (this.pendingBytes > 0) this.send(this.pendingBytes);
    }
    return this.chain.then(() => {
      if (this.failure !== null) throw this.failure;
    });
  }

  async commit(meta: SnapshotMeta): Promise<void> {
    if (this.state === 'committing' || this.state === 'aborted') throw new SnapshotWriterStateError(`commit on a snapshot writer that is ${this.state}`);
    await this.end();
    if (this.state !== 'ended') throw new SnapshotWriterStateError(`commit on a snapshot writer that is ${this.state}`);
    this.state = 'committing';
    try {
      await this.staging.commit(meta, this.length);
    } catch (err) {
      this.staging.drop();
      throw err;
    }
  }

  abort(): void {
    if (this.state === 'committing' || this.state === 'aborted') return;
    this.state = 'aborted';
    this.pending = [];
    this.pendingBytes = 0;
    this.wake();
    void this.chain.then(() => this.staging.drop());
  }

  /** At most one batch waits behind the one being stored. */
  private mayWrite(): boolean {
    return this.failure === null && this.inFlight <= this.batchBytes;
  }

  /** Hands the first `bytes` pending bytes to the chain (splitting a piece at the boundary). */
  private send(bytes: number): void {
    const batch: Uint8Array[] = [];
    let taken = 0;
    let whole = 0;
    while (taken < bytes) {
      const piece = this.pending[whole]!;
      const want = bytes - taken;
      if (piece.length <= want) {
        batch.push(piece);
        whole++;
        taken += piece.length;
      } else {
        batch.push(piece.subarray(0, want));
        this.pending[whole] = piece.subarray(want);
        taken += want;
      }
    }
    this.pending.splice(0, whole);
    this.pendingBytes -= bytes;
    this.inFlight += bytes;
    this.chain = this.chain.then(async () => {
      try {
        if (this.failure === null && this.state !== 'aborted') await this.staging.stage(batch, bytes);
      } catch (err) {
        this.failure ??= err as Error;
      } finally {
        this.inFlight -= bytes;
        this.wake();
      }
    });
  }

  private wake(): void {
    if (this.failure === null && this.state !== 'aborted' && !this.mayWrite()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (this.failure !== null) w.reject(this.failure);
      else w.resolve();
    }
  }
}
