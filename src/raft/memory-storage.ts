// RaftStorage in memory, for the simulator and tests. A `MemoryDisk` is what survives a crash; a
// `MemoryStorage` is one process's handle on it. A write becomes durable only when it completes
// (after a latency the caller simulates through `delay`), and a crash loses every write not yet
// completed: exactly what a real disk does to an unsynced write. A snapshot taken locally is
// written as LevelStorage writes it: staged batch by batch (each a write of its own, which a crash
// may lose), then switched to by one last write.

import { BatchedSnapshotWriter } from './snapshot-writer.js';
import type { Entry, HardState, PersistedState, RaftStorage, ReceivedSnapshot, Snapshot, SnapshotWriter } from './types.js';

/** The durable state of one node. */
export class MemoryDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | null = null;
  /** Entries after the snapshot (or from index 1), contiguous. */
  entries: Entry[] = [];
  /** Batches of snapshots being written, by writer (garbage once their writer is gone). */
  staged = new Map<number, Uint8Array[]>();

  snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  lastIndex(): number {
    return this.snapshotIndex() + this.entries.length;
  }

  /** Term of the entry at `index` on this disk (the snapshot's for its own index); undefined if absent or compacted. */
  termAt(index: number): number | undefined {
    const first = this.snapshotIndex();
    if (index === first) return this.snapshot?.meta.term ?? 0;
    if (index < first || index > this.lastIndex()) return undefined;
    return this.entries[index - first - 1]!.term;
  }
}

export interface StorageUpdate {
  hardState: HardState | null;
  entries: Entry[];
  snapshot: ReceivedSnapshot | null;
}

export interface MemoryStorageOptions {
  /**
   * Completes a write: calls `done` once its simulated latency has passed (never, if the process
   * crashed meanwhile). By default a write completes at once.
   */
  delay?: (done: () => void) => void;
  /** Told of each write right after it became durable (the simulator checks its invariants here). */
  onDurable?: (disk: MemoryDisk, update: StorageUpdate) => void;
  /** Bytes of a locally taken snapshot per staged write (default 4 MiB). */
  snapshotBatchBytes?: number;
}

interface PendingWrite {
  apply: () => void;
  resolve: () => void;
  reject: (err: Error) => void;
  completed: boolean;
}

export class MemoryStorage implements RaftStorage {
  private crashed = false;
  /** Writes issued and not yet durable, in issue order: they become durable in that order. */
  private queue: PendingWrite[] = [];
  private nextWriter = 1;
  /** Snapshots being sent (keepSnapshots), and replaced ones kept readable for them: this process's, gone with it. */
  private kept = new Set<number>();
  private readonly retained = new Map<number, Snapshot>();
  /** The id under which each writer of this handle stages (for `save` of a received snapshot). */
  private readonly writerIds = new WeakMap<SnapshotWriter, number>();

  /** Opening a disk drops what writers of an earlier process staged and never committed. */
  constructor(
    readonly disk: MemoryDisk = new MemoryDisk(),
    private readonly opts: MemoryStorageOptions = {},
  ) {
    disk.staged.clear();
  }

  load(): Promise<PersistedState> {
    const d = this.disk;
    return Promise.resolve({
      hardState: { ...d.hardState },
      snapshot: d.snapshot && { meta: d.snapshot.meta, size: d.snapshot.data.length },
      entries: d.entries.slice(),
      initialMembership: { voters: [], learners: [] },
    });
  }

  save(update: StorageUpdate): Promise<void> {
    const received = update.snapshot;
    const id = received === null ? undefined : this.writerIds.get(received.writer);
    if (received !== null && id === undefined) return Promise.reject(new RangeError('a received snapshot must be staged by a writer of this storage'));
    return this.write(() => {
      const d = this.disk;
      if (received !== null) {
        // Its batches landed one write each as they were staged; this write switches to them.
        const data = concat(d.staged.get(id!) ?? [], received.size);
        d.staged.delete(id!);
        this.retire(d.snapshot);
        d.snapshot = { meta: received.meta, data };
        d.entries = [];
      }
      const first = update.entries[0];
      if (first) {
        if (first.index <= d.snapshotIndex() || first.index > d.lastIndex() + 1) {
          throw new RangeError(`entries from ${first.index} do not continue a disk log of ${d.snapshotIndex() + 1}..${d.lastIndex()}`);
        }
        d.entries.length = first.index - d.snapshotIndex() - 1;
        for (const e of update.entries) d.entries.push(e);
      }
      if (update.hardState) d.hardState = { ...update.hardState };
      this.opts.onDurable?.(d, update);
    });
  }

  beginSnapshot(): SnapshotWriter {
    const id = this.nextWriter++;
    const d = this.disk;
    const writer = new BatchedSnapshotWriter(this.opts.snapshotBatchBytes ?? 4 << 20, {
      stage: (pieces, bytes) => {
        const batch = concat(pieces, bytes);
        return this.write(() => {
          const staged = d.staged.get(id) ?? [];
          staged.push(batch);
          d.staged.set(id, staged);
        });
      },
      commit: (meta, length) =>
        this.write(() => {
          const data = concat(d.staged.get(id) ?? [], length);
          d.staged.delete(id);
          const { index } = meta;
          if (index <= d.snapshotIndex()) return;
          if (index > d.lastIndex()) throw new RangeError(`cannot compact to ${index}: the disk log ends at ${d.lastIndex()}`);
          d.entries = d.entries.slice(index - d.snapshotIndex());
          this.retire(d.snapshot);
          d.snapshot = { meta, data };
        }),
      drop: () => void this.write(() => d.staged.delete(id)).catch(() => undefined),
    });
    this.writerIds.set(writer, id);
    return writer;
  }

  /**
   * A range of the snapshot on the disk, after a simulated latency (as a write's, but not queued
   * behind the writes); refused if, when it completes, another snapshot replaced the one at
   * `index`, as LevelStorage does. A crashed process never hears back.
   */
  readSnapshot(index: number, offset: number, length: number): Promise<Uint8Array> {
    if (this.crashed) return new Promise(() => {});
    return new Promise((resolve, reject) => {
      const read = () => {
        if (this.crashed) return;
        const current = this.disk.snapshot;
        const snapshot = current !== null && current.meta.index === index ? current : (this.retained.get(index) ?? null);
        if (snapshot === null) {
          reject(new RangeError(`the disk's snapshot is at ${current?.meta.index ?? 0}, not ${index}, nor is ${index} kept for a send`));
        } else if (offset < 0 || length < 0 || offset + length > snapshot.data.length) {
          reject(new RangeError(`bytes ${offset}..${offset + length} of a ${snapshot.data.length}-byte snapshot`));
        } else {
          resolve(snapshot.data.subarray(offset, offset + length));
        }
      };
      if (this.opts.delay) this.opts.delay(read);
      else read();
    });
  }

  keepSnapshots(indexes: readonly number[]): void {
    this.kept = new Set(indexes);
    for (const index of this.retained.keys()) if (!this.kept.has(index)) this.retained.delete(index);
  }

  /** A snapshot being replaced stays readable if a send keeps it. */
  private retire(snapshot: Snapshot | null): void {
    if (snapshot !== null && this.kept.has(snapshot.meta.index)) this.retained.set(snapshot.meta.index, snapshot);
  }

  /** The process died: writes not yet completed are lost, and nothing it does reaches the disk any more. */
  crash(): void {
    this.crashed = true;
    this.queue = [];
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private write(apply: () => void): Promise<void> {
    // A crashed process never hears back from its disk.
    if (this.crashed) return new Promise(() => {});
    return new Promise((resolve, reject) => {
      const w: PendingWrite = { apply, resolve, reject, completed: false };
      this.queue.push(w);
      const delay = this.opts.delay ?? ((done: () => void) => done());
      delay(() => {
        w.completed = true;
        this.flush();
      });
    });
  }

  private flush(): void {
    while (!this.crashed && this.queue[0]?.completed) {
      const w = this.queue.shift()!;
      try {
        w.apply();
      } catch (err) {
        w.reject(err as Error);
        continue;
      }
      w.resolve();
    }
  }
}

/** The batches' bytes as one buffer, which must be `length` long. */
function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    if (at + p.length > length) throw new RangeError(`staged snapshot longer than its ${length} bytes`);
    out.set(p, at);
    at += p.length;
  }
  if (at !== length) throw new RangeError(`staged snapshot of ${at} bytes, ${length} expected`);
  return out;
}
