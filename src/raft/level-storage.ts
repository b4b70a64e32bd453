// RaftStorage on LevelDB. Key layout (all keys ASCII, values binary):
//   h              hard state (codec: encodeHardState)
//   s              snapshot record: version, encoded SnapshotMeta, data length, chunk count
//   d/<8 hex>      snapshot data chunk n (0-based), at most `chunkBytes` each
//   e/<16 hex>     log entry at that index (codec: encodeEntry); fixed width keeps key order = index order
//
// A snapshot passed to `save` (installed from the leader) replaces the whole log; one passed to
// `compact` (taken locally) keeps the entries after it.
//
// Every durable state change is one synced LevelDB batch, which LevelDB applies atomically, so after
// a crash we see either the whole change or none of it. The one exception is dropping log entries
// that a snapshot covers: that happens with a range delete *after* the snapshot batch is durable,
// and `load()` ignores any entries at or below the snapshot index, so a crash between the two
// steps leaves garbage but never a wrong log (the next compaction or open removes it).
//
// Bookkeeping (snapshot index, last index, chunk count) is kept in memory so `save` does no reads
// on its hot path; operations are serialised so batches reach LevelDB in call order.

import { Level } from 'level';
import { ByteReader, ByteWriter, CodecError, decodeEntry, decodeHardState, decodeSnapshotMeta, encodeEntry, encodeHardState, encodeSnapshotMeta } from './codec.js';
import type { CodecLimits } from './codec.js';
import type { Entry, HardState, PersistedState, RaftStorage, Snapshot, SnapshotMeta } from './types.js';

export type StorageErrorCode = 'CORRUPT' | 'INVALID_ARGUMENT' | 'STALE_SNAPSHOT' | 'CLOSED';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

export interface LevelStorageOptions {
  /** Size of the pieces a snapshot's data is stored in (default 1 MiB). */
  chunkBytes?: number;
  /** Bounds applied when decoding what is on disk (defaults: the codec's). */
  limits?: Partial<CodecLimits>;
}

const SNAPSHOT_RECORD_VERSION = 1;
const HARD_STATE_KEY = 'h';
const SNAPSHOT_KEY = 's';
const ENTRY_PREFIX = 'e/';
// '0' is the character after '/', so [ 'e/', 'e0' ) spans exactly the entry keys.
const ENTRY_END = 'e0';
const MAX_SNAPSHOT_CHUNKS = 0xffffffff;

function entryKey(index: number): string {
  return ENTRY_PREFIX + index.toString(16).padStart(16, '0');
}

function chunkKey(n: number): string {
  return 'd/' + n.toString(16).padStart(8, '0');
}

function indexOfEntryKey(key: string): number {
  const index = Number.parseInt(key.slice(ENTRY_PREFIX.length), 16);
  if (key.length !== ENTRY_PREFIX.length + 16 || !Number.isSafeInteger(index)) {
    throw new StorageError('CORRUPT', `malformed entry key ${JSON.stringify(key)}`);
  }
  return index;
}

interface SnapshotRecord {
  meta: SnapshotMeta;
  dataLength: number;
  chunks: number;
}

function encodeSnapshotRecord(rec: SnapshotRecord, limits: Partial<CodecLimits> | undefined): Uint8Array {
  const w = new ByteWriter();
  w.u8(SNAPSHOT_RECORD_VERSION);
  w.bytes(encodeSnapshotMeta(rec.meta, limits));
  w.uint(rec.dataLength);
  w.uint(rec.chunks);
  return w.finish();
}

function decodeSnapshotRecord(b: Uint8Array, limits: Partial<CodecLimits> | undefined): SnapshotRecord {
  const r = new ByteReader(b);
  const version = r.u8();
  if (version !== SNAPSHOT_RECORD_VERSION) throw new CodecError('BAD_VERSION', `snapshot record version ${version}`);
  const meta = decodeSnapshotMeta(r.bytes(b.length, 'snapshot meta'), limits);
  const dataLength = r.uint();
  const chunks = r.count(MAX_SNAPSHOT_CHUNKS, 'snapshot chunks');
  r.end();
  return { meta, dataLength, chunks };
}

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export class LevelStorage implements RaftStorage {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly db: Level<string, Uint8Array>,
    private readonly chunkBytes: number,
    private readonly limits: Partial<CodecLimits> | undefined,
    /** Index of the stored snapshot (0 when none). */
    private snapIndex: number,
    private snapChunks: number,
    /** Index of the last log entry, or snapIndex when the log after the snapshot is empty. */
    private lastIndex: number,
    /** Lowest entry key possibly still on disk (entries ≤ snapIndex are garbage awaiting removal). */
    private lowestStored: number,
  ) {}

  /** Opens (creating if needed) the database at `path` and reads the bookkeeping `save` relies on. */
  static async open(path: string, options: LevelStorageOptions = {}): Promise<LevelStorage> {
    const chunkBytes = options.chunkBytes ?? 1 << 20;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) {
      throw new StorageError('INVALID_ARGUMENT', `chunkBytes must be a positive integer, got ${chunkBytes}`);
    }
    const db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    try {
      const rec = await readSnapshotRecord(db, options.limits);
      const [first] = await db.keys({ gte: ENTRY_PREFIX, lt: ENTRY_END, limit: 1 }).all();
      const [last] = await db.keys({ gte: ENTRY_PREFIX, lt: ENTRY_END, limit: 1, reverse: true }).all();
      const snapIndex = rec?.meta.index ?? 0;
      const lastStored = last === undefined ? 0 : indexOfEntryKey(last);
      const storage = new LevelStorage(
        db,
        chunkBytes,
        options.limits,
        snapIndex,
        rec?.chunks ?? 0,
        Math.max(lastStored, snapIndex),
        first === undefined ? snapIndex + 1 : indexOfEntryKey(first),
      );
      await storage.dropCoveredEntries();
      return storage;
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  /**
   * Exactly what was synced. `initialMembership` is always empty: storage cannot know the
   * bootstrap configuration, so the caller fills it in from its own configuration.
   */
  load(): Promise<PersistedState> {
    return this.serialised(async () => {
      const hsBytes = await this.db.get(HARD_STATE_KEY);
      const hardState: HardState = hsBytes === undefined ? { term: 0, vote: null, commit: 0 } : decodeStored(() => decodeHardState(hsBytes, this.limits));
      const rec = await readSnapshotRecord(this.db, this.limits);
      let snapshot: Snapshot | null = null;
      if (rec !== null) snapshot = { meta: rec.meta, data: await this.readSnapshotData(rec) };
      const entries: Entry[] = [];
      let expected = this.snapIndex + 1;
      for await (const [key, value] of this.db.iterator({ gt: entryKey(this.snapIndex), lt: ENTRY_END })) {
        const index = indexOfEntryKey(key);
        const entry = decodeStored(() => decodeEntry(value, this.limits));
        if (index !== expected || entry.index !== index) {
          throw new StorageError('CORRUPT', `log not contiguous: expected entry ${expected}, found key ${index} holding entry ${entry.index}`);
        }
        entries.push(entry);
        expected++;
      }
      return { hardState, snapshot, entries, initialMembership: { voters: [], learners: [] } };
    });
  }

  save(update: { hardState: HardState | null; entries: Entry[]; snapshot: Snapshot | null }): Promise<void> {
    return this.serialised(async () => {
      const { hardState, entries, snapshot } = update;
      if (hardState === null && entries.length === 0 && snapshot === null) return;
      const ops: Op[] = [];
      let snapIndex = this.snapIndex;
      let lastIndex = this.lastIndex;
      let snapChunks = this.snapChunks;

      if (snapshot !== null) {
        const { index } = snapshot.meta;
        if (index <= this.snapIndex) {
          throw new StorageError('STALE_SNAPSHOT', `snapshot at ${index} is not newer than the stored one at ${this.snapIndex}`);
        }
        // A snapshot from the leader replaces the whole log (the core discards its own log too, see
        // `Ready`): entries after it go in this batch, those it covers right after it.
        for (let i = index + 1; i <= lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
        lastIndex = index;
        snapChunks = this.snapshotOps(ops, snapshot);
        snapIndex = index;
      }

      if (entries.length > 0) {
        const first = entries[0]!.index;
        if (first <= snapIndex || first > lastIndex + 1) {
          throw new StorageError('INVALID_ARGUMENT', `entries start at ${first}; log holds ${snapIndex + 1}..${lastIndex}`);
        }
        entries.forEach((e, i) => {
          if (e.index !== first + i) throw new StorageError('INVALID_ARGUMENT', `entries not contiguous at position ${i}`);
          ops.push({ type: 'put', key: entryKey(e.index), value: encodeEntry(e, this.limits) });
        });
        const newLast = first + entries.length - 1;
        for (let i = newLast + 1; i <= lastIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
        lastIndex = newLast;
      }

      if (hardState !== null) ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(hardState, this.limits) });

      await this.db.batch(ops, { sync: true });
      this.lastIndex = lastIndex;
      this.snapChunks = snapChunks;
      if (snapshot !== null) {
        this.snapIndex = snapIndex;
        await this.dropCoveredEntries();
      }
    });
  }

  compact(snapshot: Snapshot): Promise<void> {
    return this.serialised(async () => {
      const { index } = snapshot.meta;
      if (index <= this.snapIndex) {
        throw new StorageError('STALE_SNAPSHOT', `snapshot at ${index} is not newer than the stored one at ${this.snapIndex}`);
      }
      const ops: Op[] = [];
      const chunks = this.snapshotOps(ops, snapshot);
      await this.db.batch(ops, { sync: true });
      this.snapIndex = index;
      this.snapChunks = chunks;
      this.lastIndex = Math.max(this.lastIndex, index);
      await this.dropCoveredEntries();
    });
  }

  /** Waits for pending operations, then closes; later calls fail with CLOSED (closing again is a no-op). */
  async close(): Promise<void> {
    if (this.closed) return;
    const done = this.serialised(async () => {
      this.closed = true;
      await this.db.close();
    });
    await done;
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new StorageError('CLOSED', 'storage is closed');
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Adds the ops that store `snapshot` (record plus chunks, removing surplus old chunks); returns the chunk count. */
  private snapshotOps(ops: Op[], snapshot: Snapshot): number {
    const chunks = Math.ceil(snapshot.data.length / this.chunkBytes);
    for (let n = 0; n < chunks; n++) {
      ops.push({ type: 'put', key: chunkKey(n), value: snapshot.data.subarray(n * this.chunkBytes, (n + 1) * this.chunkBytes) });
    }
    for (let n = chunks; n < this.snapChunks; n++) ops.push({ type: 'del', key: chunkKey(n) });
    ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshotRecord({ meta: snapshot.meta, dataLength: snapshot.data.length, chunks }, this.limits) });
    return chunks;
  }

  /** Removes entries the snapshot covers; safe to lose in a crash because `load` skips them. */
  private async dropCoveredEntries(): Promise<void> {
    if (this.lowestStored > this.snapIndex) return;
    await this.db.clear({ gte: entryKey(this.lowestStored), lte: entryKey(this.snapIndex) });
    this.lowestStored = this.snapIndex + 1;
  }

  private async readSnapshotData(rec: SnapshotRecord): Promise<Uint8Array> {
    const keys = Array.from({ length: rec.chunks }, (_, n) => chunkKey(n));
    const parts = keys.length === 0 ? [] : await this.db.getMany(keys);
    const data = new Uint8Array(rec.dataLength);
    let offset = 0;
    for (const [n, part] of parts.entries()) {
      if (part === undefined || offset + part.length > rec.dataLength) {
        throw new StorageError('CORRUPT', `snapshot chunk ${n} missing or oversized`);
      }
      data.set(part, offset);
      offset += part.length;
    }
    if (offset !== rec.dataLength) throw new StorageError('CORRUPT', `snapshot data is ${offset} bytes, record says ${rec.dataLength}`);
    return data;
  }
}

async function readSnapshotRecord(db: Level<string, Uint8Array>, limits: Partial<CodecLimits> | undefined): Promise<SnapshotRecord | null> {
  const b = await db.get(SNAPSHOT_KEY);
  return b === undefined ? null : decodeStored(() => decodeSnapshotRecord(b, limits));
}

/** Bytes on disk that fail to decode mean corruption, reported as such. */
function decodeStored<T>(decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof CodecError) throw new StorageError('CORRUPT', `undecodable record: ${err.message}`);
    throw err;
  }
}
