// RaftStorage on LevelDB. Key layout (all keys ASCII, values binary):
//   format         layout version (one byte, LAYOUT_VERSION); a store without it that holds anything is refused
//   h              hard state (codec: encodeHardState)
//   s              snapshot record: version, generation, encoded SnapshotMeta (with the data's SHA-256),
//                  data length, chunk count
//   d/<8 hex>/<8 hex>  chunk n (0-based) of the snapshot data of generation g (`d/<g>/<n>`), at most
//                  `chunkBytes` each; only the record's generation is the snapshot, any other is
//                  staged (being written) or garbage
//   g/<16 hex>     log segment: consecutive entries starting at that index (codec: encodeEntries);
//                  fixed width keeps key order = index order
//
// Integrity (since layout 3): every value but `format` is sealed, followed by the first 8 bytes of
// SHA-256(key, value), so a flipped bit, a torn value or a value under the wrong key is caught
// when it is read, and named (store path and key) in a CORRUPT error; the snapshot's data must
// also match the digest in its metadata. A layout-2 store (the same without seals and digest) is
// migrated on open, in one synced batch, then on to layout 4. LevelDB's own block checksums are
// not checked on reads unless asked for (ReadOptions.verify_checksums), and never cover what a bug
// or bad memory did to a value before it was handed to LevelDB.
//
// Each `save` writes its entries as one segment (several when they exceed `segmentBytes`), so a
// group commit costs one LevelDB operation instead of one per entry.
//
// Segments overlap after a truncation, and the rule that resolves it is: read segments in key
// order and let each one cut what came before it back to its own first index minus one (see
// `load`). Why that yields exactly the log that was saved: take the stored segments s1 < ... < sm
// and the logical log L. Invariant: for every j, folding s1..sj holds every index below s(j+1)
// (∞ after sm) and agrees with L there. A save of entries k..n deletes every segment starting at
// or after k and puts one at k; the segments left all start below k, and the last of them, sj,
// had its successor at or after k (or none, and then L reached at least k-1, which `save`
// checks), so folding s1..sj holds and agrees with L below k. The new segment cuts that back to
// k-1 and appends k..n: the new L (split segments follow each other exactly, cutting nothing).
// Earlier prefixes keep their successors, so the invariant holds. A model-based test checks this
// against random saves, truncations, snapshots and reopenings.
//
// Snapshots are stored in two steps, so that a large image never holds the Raft loop's writes
// (layout 4): its chunks are written under a new generation, in synced batches of a few MiB
// (`snapshotBatchBytes`) between which `save` goes on, while the record still names the old
// generation; then one small synced batch switches the record to the new generation and deletes
// the old generation's chunks. A crash before the switch leaves the old snapshot and its log, with
// staged chunks no record names: `open` removes every generation but the record's, and so does an
// abandoned writer. A layout-3 store (chunks `d/<n>`, no generation) is migrated on open, in one
// synced batch, to generation 0. The staging batches are synced too, not only the switch: after a
// power loss LevelDB may have kept a later synced write but lost an unsynced one in an older log
// file, and the record would then name chunks that are not there.
//
// Segments: a segment that ends at or below the snapshot index (its successor starts at or below
// index+1, or it is the last and the log ends there) is deleted; one straddling the index is kept
// and `load` skips its entries at or below the snapshot. Dropping a prefix of segments does not
// change the fold above the snapshot index, because the first kept segment starts at or below
// index+1 and cuts everything before it anyway. A snapshot passed to `save` (installed from the
// leader) replaces the whole log, so every segment goes in that same batch; one taken locally
// (`beginSnapshot`) keeps the entries after it.
//
// Every durable state change is one synced LevelDB batch, which LevelDB applies atomically, so after
// a crash we see either the whole change or none of it (staged chunks change nothing until the
// record names them). The one exception is dropping segments a local snapshot covers: that
// happens *after* the snapshot batch is durable, a thousand segments per operation, and `load()`
// ignores entries at or below the snapshot index, so a crash in between leaves garbage but never a
// wrong log (the next open removes it).
//
// Bookkeeping (snapshot index, generation and chunk count, last index, segment starts) is kept in
// memory so `save` does no reads on its hot path; operations are serialised so batches reach
// LevelDB in call order.

import { Level } from 'level';
import { sameBytes, SNAPSHOT_DIGEST_BYTES, snapshotDigest, truncatedSha256 } from './digest.js';
import { decodeEntries, decodeHardState, decodeSnapshotMeta, encodeEntries, encodeHardState, encodeSnapshotMeta } from './codec.js';
import { ByteReader } from '../wire/reader.js';
import { ByteWriter } from '../wire/writer.js';
import { WireError } from '../wire/wire-error.js';
import type { CodecLimits } from './codec.js';
import { BatchedSnapshotWriter } from './snapshot-writer.js';
import type { Entry, HardState, PersistedState, RaftStorage, ReceivedSnapshot, SnapshotMeta, SnapshotWriter, StoredSnapshot } from './types.js';

/** IO: the disk failed under LevelDB as it opened (a full disk, say), as opposed to a store that does not verify (CORRUPT). */
export type StorageErrorCode = 'CORRUPT' | 'INVALID_ARGUMENT' | 'STALE_SNAPSHOT' | 'CLOSED' | 'UNSUPPORTED_FORMAT' | 'IO';

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
  /**
   * Snapshot data written per synced batch before the snapshot is switched to (default 2 MiB,
   * rounded up to whole chunks): the Raft loop's writes wait for at most one such batch.
   */
  snapshotBatchBytes?: number;
  /**
   * Entry data bytes after which a save starts another segment (default 1 MiB), which keeps
   * LevelDB values bounded when a save carries a lot; a segment always holds at least one entry.
   */
  segmentBytes?: number;
  /** Bounds applied when decoding what is on disk (defaults: the codec's). */
  limits?: Partial<CodecLimits>;
}

/**
 * 1 was one LevelDB value per entry (`e/<index>`); 2 is segments; 3 is segments with sealed values
 * (migrated from 2); 4 is snapshot chunks under generations (migrated from 3).
 */
const LAYOUT_VERSION = 4;
const UNGENERATIONED_LAYOUT = 3;
const UNSEALED_LAYOUT = 2;
const CHECKSUM_BYTES = 8;
const utf8 = new TextEncoder();
const FORMAT_KEY = 'format';
/** Record version 2 carries the chunks' generation (layout 4); version 1 did not (layouts 2 and 3). */
const SNAPSHOT_RECORD_VERSION = 2;
const UNGENERATIONED_RECORD_VERSION = 1;
const HARD_STATE_KEY = 'h';
const SNAPSHOT_KEY = 's';
const SEGMENT_PREFIX = 'g/';
// '0' is the character after '/', so [ 'g/', 'g0' ) spans exactly the segment keys.
const SEGMENT_END = 'g0';
const MAX_SNAPSHOT_CHUNKS = 0xffffffff;
const MAX_GENERATION = 0xffffffff;
/** Covered log segments deleted per operation after a snapshot (a few ms of LevelDB work). */
const DROP_BATCH_SEGMENTS = 1000;
const CHUNK_PREFIX = 'd/';
const CHUNK_END = 'd0';

function segmentKey(first: number): string {
  return SEGMENT_PREFIX + first.toString(16).padStart(16, '0');
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function chunkKey(generation: number, n: number): string {
  return CHUNK_PREFIX + hex8(generation) + '/' + hex8(n);
}

/** Layouts 2 and 3 kept one image, its chunks under `d/<n>`. */
function ungenerationedChunkKey(n: number): string {
  return CHUNK_PREFIX + hex8(n);
}

/** The key range of a generation's chunks: '0' is the character after '/'. */
function generationRange(generation: number): { gte: string; lt: string } {
  return { gte: CHUNK_PREFIX + hex8(generation) + '/', lt: CHUNK_PREFIX + hex8(generation) + '0' };
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * `bytes` bytes of snapshot data (the pieces' bytes, in order) as sealed chunks of generation
 * `generation` numbered from `first`, each `chunkBytes` long but the last. Sealing copies and
 * hashes every byte: this yields to the event loop after each chunk.
 */
async function sealChunks(generation: number, first: number, pieces: Uint8Array[], bytes: number, chunkBytes: number): Promise<Op[]> {
  const ops: Op[] = [];
  let p = 0;
  let at = 0;
  for (let n = first, left = bytes; left > 0; n++) {
    const size = Math.min(chunkBytes, left);
    const sealed = new Uint8Array(size + CHECKSUM_BYTES);
    for (let filled = 0; filled < size; ) {
      const piece = pieces[p]!;
      const take = Math.min(piece.length - at, size - filled);
      sealed.set(piece.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (at === piece.length) {
        p++;
        at = 0;
      }
    }
    const key = chunkKey(generation, n);
    sealed.set(checksumOf(key, sealed.subarray(0, size)), size);
    ops.push({ type: 'put', key, value: sealed });
    left -= size;
    if (left > 0) await yieldTurn();
  }
  return ops;
}

function checksumOf(key: string, value: Uint8Array): Uint8Array {
  return truncatedSha256([utf8.encode(key), value], CHECKSUM_BYTES);
}

/** What is stored under `key`: `value` followed by its checksum (exported for tests that forge a store). */
export function seal(key: string, value: Uint8Array): Uint8Array {
  const sealed = new Uint8Array(value.length + CHECKSUM_BYTES);
  sealed.set(value);
  sealed.set(checksumOf(key, value), value.length);
  return sealed;
}

function corrupt(path: string, key: string, what: string): StorageError {
  return new StorageError('CORRUPT', `store ${path}, key ${JSON.stringify(key)}: ${what}`);
}

/** The value a sealed record holds, once its checksum verifies. */
function unseal(path: string, key: string, stored: Uint8Array): Uint8Array {
  if (stored.length < CHECKSUM_BYTES) throw corrupt(path, key, `${stored.length} bytes, shorter than a checksum`);
  const value = stored.subarray(0, stored.length - CHECKSUM_BYTES);
  if (!sameBytes(checksumOf(key, value), stored.subarray(value.length))) throw corrupt(path, key, 'checksum mismatch');
  return value;
}

function firstOfSegmentKey(key: string): number {
  const first = Number.parseInt(key.slice(SEGMENT_PREFIX.length), 16);
  // Only the form segmentKey writes, so that each index has exactly one key.
  if (!Number.isSafeInteger(first) || first < 1 || key !== segmentKey(first)) {
    throw new StorageError('CORRUPT', `malformed segment key ${JSON.stringify(key)}`);
  }
  return first;
}

/** A stored segment's entries, checked against its checksum and its key. */
function decodeSegment(path: string, key: string, stored: Uint8Array, limits: Partial<CodecLimits> | undefined): { first: number; entries: Entry[] } {
  const first = firstOfSegmentKey(key);
  const value = unseal(path, key, stored);
  const entries = decodeStored(path, key, () => decodeEntries(value, limits));
  if (entries.length === 0 || entries[0]!.index !== first) {
    throw corrupt(path, key, `segment ${first} holds ${entries.length === 0 ? 'no entries' : `entries from ${entries[0]!.index}`}`);
  }
  return { first, entries };
}

interface SnapshotRecord {
  /** The generation of its chunks; null in a record of layout 2 or 3 (version 1). */
  generation: number | null;
  meta: SnapshotMeta;
  dataLength: number;
  chunks: number;
}

function encodeSnapshotRecord(rec: SnapshotRecord, limits: Partial<CodecLimits> | undefined): Uint8Array {
  const w = new ByteWriter();
  if (rec.generation === null) {
    w.u8(UNGENERATIONED_RECORD_VERSION);
  } else {
    w.u8(SNAPSHOT_RECORD_VERSION);
    w.uint(rec.generation);
  }
  w.varBytes(encodeSnapshotMeta(rec.meta, limits));
  w.uint(rec.dataLength);
  w.uint(rec.chunks);
  return w.finish();
}

function decodeSnapshotRecord(b: Uint8Array, limits: Partial<CodecLimits> | undefined): SnapshotRecord {
  const r = new ByteReader(b);
  const version = r.u8();
  if (version !== SNAPSHOT_RECORD_VERSION && version !== UNGENERATIONED_RECORD_VERSION) throw new WireError('BAD_VERSION', `snapshot record version ${version}`);
  const generation = version === SNAPSHOT_RECORD_VERSION ? r.count('snapshot generation', MAX_GENERATION) : null;
  const meta = decodeSnapshotMeta(r.varBytes('snapshot meta', b.length), limits);
  const dataLength = r.uint();
  const chunks = r.count('snapshot chunks', MAX_SNAPSHOT_CHUNKS);
  r.end();
  return { generation, meta, dataLength, chunks };
}

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/** Where a readable snapshot's chunks are: its generation, count, data length, and chunk size once known. */
interface ReadableSnapshot {
  generation: number;
  chunks: number;
  bytes: number;
  chunkBytes: number | null;
}

export class LevelStorage implements RaftStorage {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /**
   * Data bytes per chunk of the stored snapshot (all but its last chunk): `chunkBytes` once this
   * process wrote it; null until its first chunk is read when it was written before (perhaps
   * with another `chunkBytes`).
   */
  private snapChunkBytes: number | null = null;
  /** Indexes of the snapshots being sent (keepSnapshots): kept readable when a newer one replaces them. */
  private kept = new Set<number>();
  /** Replaced snapshots kept for sends under way, by index (garbage after a restart: `open` removes them). */
  private readonly retained = new Map<number, ReadableSnapshot>();
  /** What each writer of this store staged: its generation and chunks so far (for `save` of a received snapshot). */
  private readonly staged = new WeakMap<SnapshotWriter, { generation: number; chunks: () => number }>();

  private constructor(
    private readonly db: Level<string, Uint8Array>,
    /** Where the store lives, for the errors that name a corrupt key. */
    private readonly path: string,
    /** The layout the store was migrated from on this open (null: it was current, or new). */
    readonly migratedFrom: number | null,
    private readonly chunkBytes: number,
    /** A whole number of chunks. */
    private readonly snapshotBatchBytes: number,
    private readonly segmentBytes: number,
    private readonly limits: Partial<CodecLimits> | undefined,
    /** Index of the stored snapshot (0 when none). */
    private snapIndex: number,
    /** Generation, chunk count and data length of the stored snapshot (when there is one). */
    private snapGeneration: number,
    private snapChunks: number,
    private snapBytes: number,
    /** The generation the next snapshot written is staged under: above every one on disk. */
    private nextGeneration: number,
    /** Index of the last log entry, or snapIndex when the log after the snapshot is empty. */
    private lastIndex: number,
    /** First index of every segment on disk, ascending (those wholly at or below snapIndex await removal). */
    private readonly segments: number[],
  ) {}

  /** Opens (creating if needed) the database at `path` and reads the bookkeeping `save` relies on. */
  static async open(path: string, options: LevelStorageOptions = {}): Promise<LevelStorage> {
    const chunkBytes = options.chunkBytes ?? 1 << 20;
    const segmentBytes = options.segmentBytes ?? 1 << 20;
    const batchBytes = options.snapshotBatchBytes ?? 2 << 20;
    for (const [name, value] of [['chunkBytes', chunkBytes], ['segmentBytes', segmentBytes], ['snapshotBatchBytes', batchBytes]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new StorageError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}`);
      }
    }
    const db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (err) {
      // LevelDB writes as it opens (its log replayed into a table): on a full or failing disk
      // that is a storage failure, to be told apart from a store that is unreadable.
      const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
      if (cause?.code === 'LEVEL_IO_ERROR') throw new StorageError('IO', `cannot open the store in ${path}: ${String(cause.message)}`);
      throw err;
    }
    try {
      const migratedFrom = await checkLayout(db, path, options.limits);
      const rec = await readSnapshotRecord(db, path, options.limits);
      const keys = await db.keys({ gte: SEGMENT_PREFIX, lt: SEGMENT_END }).all();
      const segments = keys.map(firstOfSegmentKey);
      // The last segment is never cut by a later one, so its last entry is the log's.
      let lastStored = 0;
      const lastKey = keys[keys.length - 1];
      if (lastKey !== undefined) {
        const value = await db.get(lastKey);
        if (value === undefined) throw corrupt(path, lastKey, 'segment vanished while opening');
        lastStored = decodeSegment(path, lastKey, value, options.limits).entries.at(-1)!.index;
      }
      const snapIndex = rec?.meta.index ?? 0;
      const generation = rec?.generation ?? 0;
      // Chunks of any other generation were staged by a writer that never committed.
      if (rec === null) {
        await db.clear({ gte: CHUNK_PREFIX, lt: CHUNK_END });
      } else {
        const live = generationRange(generation);
        await db.clear({ gte: CHUNK_PREFIX, lt: live.gte });
        await db.clear({ gte: live.lt, lt: CHUNK_END });
      }
      const storage = new LevelStorage(
        db,
        path,
        migratedFrom,
        chunkBytes,
        Math.ceil(batchBytes / chunkBytes) * chunkBytes,
        segmentBytes,
        options.limits,
        snapIndex,
        generation,
        rec?.chunks ?? 0,
        rec?.dataLength ?? 0,
        rec === null ? 0 : generation + 1,
        Math.max(lastStored, snapIndex),
        segments,
      );
      await storage.dropCoveredSegments();
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
      const hardState: HardState =
        hsBytes === undefined
          ? { term: 0, vote: null, commit: 0 }
          : decodeStored(this.path, HARD_STATE_KEY, () => decodeHardState(unseal(this.path, HARD_STATE_KEY, hsBytes), this.limits));
      // The image itself is read a range at a time (readSnapshot), and checked against its digest as it is.
      const rec = await readSnapshotRecord(this.db, this.path, this.limits);
      const snapshot: StoredSnapshot | null = rec === null ? null : { meta: rec.meta, size: rec.dataLength };
      // The fold described in the header: `entries` holds snapIndex+1..last.
      const entries: Entry[] = [];
      let last = this.snapIndex;
      for await (const [key, value] of this.db.iterator({ gte: SEGMENT_PREFIX, lt: SEGMENT_END })) {
        const segment = decodeSegment(this.path, key, value, this.limits);
        if (segment.first > last + 1) {
          throw corrupt(this.path, key, `log not contiguous: segment ${segment.first} follows entries up to ${last}`);
        }
        if (segment.first <= last) {
          last = Math.max(segment.first - 1, this.snapIndex);
          entries.length = last - this.snapIndex;
        }
        for (const e of segment.entries) {
          if (e.index > this.snapIndex) {
            entries.push(e);
            last = e.index;
          }
        }
      }
      return { hardState, snapshot, entries, initialMembership: { voters: [], learners: [] } };
    });
  }

  save(update: { hardState: HardState | null; entries: Entry[]; snapshot: ReceivedSnapshot | null }): Promise<void> {
    return this.serialised(async () => {
      const { hardState, entries, snapshot } = update;
      if (hardState === null && entries.length === 0 && snapshot === null) return;
      const ops: Op[] = [];
      let snapIndex = this.snapIndex;
      let lastIndex = this.lastIndex;
      let snapChunks = this.snapChunks;
      let snapGeneration = this.snapGeneration;
      let snapBytes = this.snapBytes;
      let retire = () => {};
      // After the batch: the first `keep` segments stay, then come the `added` ones.
      let keep = this.segments.length;
      const added: number[] = [];

      if (snapshot !== null) {
        const { index } = snapshot.meta;
        if (index <= this.snapIndex) {
          throw new StorageError('STALE_SNAPSHOT', `snapshot at ${index} is not newer than the stored one at ${this.snapIndex}`);
        }
        // Its chunks were staged as they arrived, beside the Raft loop (beginSnapshot); this batch switches to them.
        const staged = this.staged.get(snapshot.writer);
        if (staged === undefined) throw new StorageError('INVALID_ARGUMENT', 'a received snapshot must be staged by a writer of this store');
        snapGeneration = staged.generation;
        snapChunks = staged.chunks();
        if (snapChunks !== Math.ceil(snapshot.size / this.chunkBytes)) {
          throw new StorageError('INVALID_ARGUMENT', `${snapChunks} chunks staged for a ${snapshot.size}-byte snapshot`);
        }
        snapBytes = snapshot.size;
        const switched = this.switchOps({ generation: snapGeneration, meta: snapshot.meta, dataLength: snapshot.size, chunks: snapChunks });
        ops.push(...switched.ops);
        retire = switched.retire;
        // A snapshot from the leader replaces the whole log (the core discards its own log too, see
        // `Ready`): every segment goes, in this batch.
        for (const first of this.segments) ops.push({ type: 'del', key: segmentKey(first) });
        keep = 0;
        lastIndex = index;
        snapIndex = index;
      }

      if (entries.length > 0) {
        const first = entries[0]!.index;
        if (first <= snapIndex || first > lastIndex + 1) {
          throw new StorageError('INVALID_ARGUMENT', `entries start at ${first}; log holds ${snapIndex + 1}..${lastIndex}`);
        }
        for (let i = 1; i < entries.length; i++) {
          if (entries[i]!.index !== first + i) throw new StorageError('INVALID_ARGUMENT', `entries not contiguous at position ${i}`);
        }
        // Segments starting at or after `first` hold only entries this save replaces (the put
        // overwrites the one starting exactly there); earlier ones are cut at load (see the header).
        while (keep > 0 && this.segments[keep - 1]! >= first) {
          keep--;
          if (this.segments[keep] !== first) ops.push({ type: 'del', key: segmentKey(this.segments[keep]!) });
        }
        let start = 0;
        let bytes = 0;
        for (let i = 0; i <= entries.length; i++) {
          const size = i < entries.length ? entries[i]!.data.length : 0;
          if (i === entries.length || (i > start && bytes + size > this.segmentBytes)) {
            const part = start === 0 && i === entries.length ? entries : entries.slice(start, i);
            const key = segmentKey(part[0]!.index);
            ops.push({ type: 'put', key, value: seal(key, encodeEntries(part, this.limits)) });
            added.push(part[0]!.index);
            start = i;
            bytes = 0;
          }
          bytes += size;
        }
        lastIndex = first + entries.length - 1;
      }

      if (hardState !== null) ops.push({ type: 'put', key: HARD_STATE_KEY, value: seal(HARD_STATE_KEY, encodeHardState(hardState, this.limits)) });

      await this.db.batch(ops, { sync: true });
      retire();
      this.lastIndex = lastIndex;
      if (snapGeneration !== this.snapGeneration) this.snapChunkBytes = this.chunkBytes;
      this.snapChunks = snapChunks;
      this.snapBytes = snapBytes;
      this.snapGeneration = snapGeneration;
      this.snapIndex = snapIndex;
      this.segments.length = keep;
      this.segments.push(...added);
    });
  }

  /**
   * A snapshot taken locally, staged batch by batch (each sealed beside the queue of operations,
   * then written as one synced batch in it, so `save` runs between batches); its commit switches
   * the record to it and then drops the segments it covers, keeping the entries after it.
   */
  beginSnapshot(): SnapshotWriter {
    if (this.closed) throw new StorageError('CLOSED', 'storage is closed');
    const generation = this.takeGeneration();
    let chunks = 0;
    const writer = new BatchedSnapshotWriter(this.snapshotBatchBytes, {
      stage: async (pieces, bytes) => {
        const ops = await sealChunks(generation, chunks, pieces, bytes, this.chunkBytes);
        await this.serialised(() => this.db.batch(ops, { sync: true }));
        chunks += ops.length;
      },
      commit: (meta, dataLength) =>
        this.serialised(async () => {
          const { index } = meta;
          if (index <= this.snapIndex) {
            throw new StorageError('STALE_SNAPSHOT', `snapshot at ${index} is not newer than the stored one at ${this.snapIndex}`);
          }
          if (chunks !== Math.ceil(dataLength / this.chunkBytes)) throw new StorageError('INVALID_ARGUMENT', `${chunks} chunks staged for ${dataLength} bytes`);
          const switched = this.switchOps({ generation, meta, dataLength, chunks });
          await this.db.batch(switched.ops, { sync: true });
          switched.retire();
          this.snapIndex = index;
          this.snapGeneration = generation;
          this.snapChunks = chunks;
          this.snapBytes = dataLength;
          this.snapChunkBytes = this.chunkBytes;
          this.lastIndex = Math.max(this.lastIndex, index);
          void this.dropCoveredSegments();
        }),
      // Never the live generation: a received snapshot's writer is dropped by no one once saved, but this is the guard.
      drop: () =>
        void this.serialised(async () => {
          const live = (generation === this.snapGeneration && this.snapIndex > 0) || [...this.retained.values()].some((r) => r.generation === generation);
          if (!live) await this.db.clear(generationRange(generation));
        }).catch(() => undefined),
    });
    this.staged.set(writer, { generation, chunks: () => chunks });
    return writer;
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

  private takeGeneration(): number {
    const generation = this.nextGeneration;
    if (generation > MAX_GENERATION) throw new StorageError('INVALID_ARGUMENT', `store ${this.path} has used every snapshot generation`);
    this.nextGeneration++;
    return generation;
  }

  /**
   * The ops that make `rec` (its chunks staged) the snapshot: its record, and the old chunks
   * deleted unless a send keeps them (`keepSnapshots`); `retire`, once the ops are durable, keeps
   * track of those.
   */
  private switchOps(rec: SnapshotRecord): { ops: Op[]; retire: () => void } {
    const ops: Op[] = [{ type: 'put', key: SNAPSHOT_KEY, value: seal(SNAPSHOT_KEY, encodeSnapshotRecord(rec, this.limits)) }];
    if (this.snapIndex === 0) return { ops, retire: () => {} };
    const old = { index: this.snapIndex, generation: this.snapGeneration, chunks: this.snapChunks, bytes: this.snapBytes, chunkBytes: this.snapChunkBytes };
    if (this.kept.has(old.index)) {
      return { ops, retire: () => void this.retained.set(old.index, { generation: old.generation, chunks: old.chunks, bytes: old.bytes, chunkBytes: old.chunkBytes }) };
    }
    for (let n = 0; n < old.chunks; n++) ops.push({ type: 'del', key: chunkKey(old.generation, n) });
    return { ops, retire: () => {} };
  }

  /** Replaced snapshots no send needs any more are deleted (queued operations, unsynced: garbage at worst). */
  keepSnapshots(indexes: readonly number[]): void {
    this.kept = new Set(indexes);
    if (this.closed) return;
    for (const [index, r] of this.retained) {
      if (this.kept.has(index)) continue;
      this.retained.delete(index);
      void this.serialised(() => this.db.clear(generationRange(r.generation))).catch(() => undefined);
    }
  }

  /**
   * Removes the segments the snapshot covers wholly: a prefix, since segment i ends where segment
   * i+1 begins (the last where the log ends). Tens of thousands of them at depth: they go in
   * operations of DROP_BATCH_SEGMENTS deletes each, queued now, so that saves go on between them;
   * the promise is of them all (not to be awaited inside an operation). Unsynced, and a failure is
   * left for the next open: `load` skips segments below the snapshot, wherever a deletion stopped.
   */
  private dropCoveredSegments(): Promise<void> {
    let drop = 0;
    while (drop < this.segments.length && (this.segments[drop + 1] ?? this.lastIndex + 1) <= this.snapIndex + 1) drop++;
    const covered = this.segments.splice(0, drop);
    const done: Array<Promise<void>> = [];
    for (let at = 0; at < covered.length; at += DROP_BATCH_SEGMENTS) {
      const ops: Op[] = covered.slice(at, at + DROP_BATCH_SEGMENTS).map((first) => ({ type: 'del', key: segmentKey(first) }));
      done.push(this.serialised(() => this.db.batch(ops)).catch(() => undefined));
    }
    return Promise.all(done).then(() => undefined);
  }

  /**
   * Reads a byte range of the stored snapshot's data from its chunks, outside the queue of
   * operations (a send to a follower or the load at start never waits behind a staged batch).
   * Each chunk's seal is checked; the digest of the whole is the reader's to check (it reads in
   * order, see RaftDriver). Rejects with STALE_SNAPSHOT if the stored snapshot is not the one at
   * `index`, or is replaced before the read completes: its chunks go with the switch.
   */
  async readSnapshot(index: number, offset: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new StorageError('CLOSED', 'storage is closed');
    const stale = () => new StorageError('STALE_SNAPSHOT', `the stored snapshot is at ${this.snapIndex}, not ${index} (nor is ${index} kept for a send)`);
    const source = this.readable(index);
    if (source === null) throw stale();
    const { generation, chunks, bytes: dataLength } = source;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > dataLength) {
      throw new StorageError('INVALID_ARGUMENT', `bytes ${offset}..${offset + length} of a ${dataLength}-byte snapshot`);
    }
    if (length === 0) return new Uint8Array(0);
    const chunkBytes = source.chunkBytes ?? (await this.learnChunkBytes(index, source));
    const first = Math.floor(offset / chunkBytes);
    const last = Math.floor((offset + length - 1) / chunkBytes);
    const keys = Array.from({ length: last - first + 1 }, (_, i) => chunkKey(generation, first + i));
    const stored = await this.db.getMany(keys);
    if (this.readable(index)?.generation !== generation || this.closed) throw stale();
    const out = new Uint8Array(length);
    for (const [i, value] of stored.entries()) {
      const n = first + i;
      const key = keys[i]!;
      if (value === undefined) throw corrupt(this.path, key, 'snapshot chunk missing');
      const part = unseal(this.path, key, value);
      const expected = n === chunks - 1 ? dataLength - n * chunkBytes : chunkBytes;
      if (n >= chunks || part.length !== expected) throw corrupt(this.path, key, `snapshot chunk of ${part.length} bytes, ${expected} expected`);
      const from = Math.max(offset, n * chunkBytes);
      const to = Math.min(offset + length, n * chunkBytes + part.length);
      out.set(part.subarray(from - n * chunkBytes, to - n * chunkBytes), from - offset);
    }
    return out;
  }

  /** The stored snapshot at `index`, or a replaced one kept for a send; null if neither. */
  private readable(index: number): ReadableSnapshot | null {
    if (index > 0 && index === this.snapIndex) {
      return { generation: this.snapGeneration, chunks: this.snapChunks, bytes: this.snapBytes, chunkBytes: this.snapChunkBytes };
    }
    return this.retained.get(index) ?? null;
  }

  /** The chunk size of a snapshot written before this process (see snapChunkBytes): its first chunk's length. */
  private async learnChunkBytes(index: number, source: ReadableSnapshot): Promise<number> {
    const { generation, chunks, bytes: dataLength } = source;
    if (chunks <= 1) return Math.max(1, dataLength);
    const key = chunkKey(generation, 0);
    const value = await this.db.get(key);
    if (this.readable(index)?.generation !== generation) throw new StorageError('STALE_SNAPSHOT', `the snapshot at ${index} was replaced during the read`);
    if (value === undefined) throw corrupt(this.path, key, 'snapshot chunk missing');
    const bytes = unseal(this.path, key, value).length;
    if (bytes === 0 || Math.ceil(dataLength / bytes) !== chunks) throw corrupt(this.path, key, `first chunk of ${bytes} bytes for ${chunks} chunks of ${dataLength} bytes`);
    if (generation === this.snapGeneration) this.snapChunkBytes = bytes;
    const kept = this.retained.get(index);
    if (kept?.generation === generation) kept.chunkBytes = bytes;
    return bytes;
  }
}

/** A snapshot's data from its chunks (under `keyOf(n)`), each passed through `open` (which checks its seal, or not). */
async function assembleChunks(
  db: Level<string, Uint8Array>,
  path: string,
  rec: SnapshotRecord,
  keyOf: (n: number) => string,
  open: (key: string, stored: Uint8Array) => Uint8Array,
): Promise<Uint8Array> {
  const keys = Array.from({ length: rec.chunks }, (_, n) => keyOf(n));
  const parts = keys.length === 0 ? [] : await db.getMany(keys);
  const data = new Uint8Array(rec.dataLength);
  let offset = 0;
  for (const [n, stored] of parts.entries()) {
    const part = stored === undefined ? undefined : open(keys[n]!, stored);
    if (part === undefined || offset + part.length > rec.dataLength) throw corrupt(path, keys[n]!, 'snapshot chunk missing or oversized');
    data.set(part, offset);
    offset += part.length;
  }
  if (offset !== rec.dataLength) throw corrupt(path, SNAPSHOT_KEY, `snapshot data is ${offset} bytes, record says ${rec.dataLength}`);
  return data;
}

/**
 * Refuses a store written in a layout this release cannot read; migrates a layout-2 or -3 one, a
 * step (one synced batch) at a time; stamps a new, empty one with this layout. Returns the layout
 * migrated from, if any.
 */
async function checkLayout(db: Level<string, Uint8Array>, path: string, limits: Partial<CodecLimits> | undefined): Promise<number | null> {
  const readable = `this release reads layouts ${UNSEALED_LAYOUT} to ${LAYOUT_VERSION}`;
  const format = await db.get(FORMAT_KEY);
  if (format === undefined) {
    const [anyKey] = await db.keys({ limit: 1 }).all();
    if (anyKey !== undefined) {
      throw new StorageError('UNSUPPORTED_FORMAT', `store ${path} holds data but no layout version (an older layout); ${readable}`);
    }
    await db.put(FORMAT_KEY, Uint8Array.of(LAYOUT_VERSION), { sync: true });
    return null;
  }
  const layout = format.length === 1 ? format[0]! : null;
  if (layout === null || layout < UNSEALED_LAYOUT || layout > LAYOUT_VERSION) {
    throw new StorageError('UNSUPPORTED_FORMAT', `store ${path} has layout ${layout ?? 'unreadable'}; ${readable}`);
  }
  if (layout === UNSEALED_LAYOUT) await sealUnsealedStore(db, path, limits);
  if (layout <= UNGENERATIONED_LAYOUT) await generationChunks(db, path, limits);
  return layout === LAYOUT_VERSION ? null : layout;
}

/**
 * Layout 2 to 3, in one synced batch (all or nothing): seals every value and gives the snapshot
 * record the digest of its data. What was already damaged is sealed as it is: the structural checks
 * on load still catch most of it, but a checksum cannot vouch for what was written before it.
 */
async function sealUnsealedStore(db: Level<string, Uint8Array>, path: string, limits: Partial<CodecLimits> | undefined): Promise<void> {
  const ops: Op[] = [];
  for await (const [key, value] of db.iterator()) {
    if (key !== FORMAT_KEY && key !== SNAPSHOT_KEY) ops.push({ type: 'put', key, value: seal(key, value) });
  }
  const stored = await db.get(SNAPSHOT_KEY);
  if (stored !== undefined) {
    const rec = decodeStored(path, SNAPSHOT_KEY, () => decodeSnapshotRecord(stored, limits));
    const data = await assembleChunks(db, path, rec, ungenerationedChunkKey, (_key, value) => value);
    const sealed = { ...rec, meta: { ...rec.meta, digest: snapshotDigest(data) } };
    ops.push({ type: 'put', key: SNAPSHOT_KEY, value: seal(SNAPSHOT_KEY, encodeSnapshotRecord(sealed, limits)) });
  }
  ops.push({ type: 'put', key: FORMAT_KEY, value: Uint8Array.of(UNGENERATIONED_LAYOUT) });
  await db.batch(ops, { sync: true });
}

/**
 * Layout 3 to 4, in one synced batch: the snapshot's chunks move from `d/<n>` to generation 0
 * (sealed anew, since a seal covers its key, once the old seal verified) and the record names that
 * generation. A chunk the record does not count is garbage and goes.
 */
async function generationChunks(db: Level<string, Uint8Array>, path: string, limits: Partial<CodecLimits> | undefined): Promise<void> {
  const ops: Op[] = [];
  const stored = await db.get(SNAPSHOT_KEY);
  const rec = stored === undefined ? null : decodeStored(path, SNAPSHOT_KEY, () => decodeSnapshotRecord(unseal(path, SNAPSHOT_KEY, stored), limits));
  if (rec !== null && rec.generation !== null) throw corrupt(path, SNAPSHOT_KEY, 'a layout-3 store with a layout-4 snapshot record');
  for await (const [key, value] of db.iterator({ gte: CHUNK_PREFIX, lt: CHUNK_END })) {
    ops.push({ type: 'del', key });
    const n = Number.parseInt(key.slice(CHUNK_PREFIX.length), 16);
    if (rec !== null && key === ungenerationedChunkKey(n) && n < rec.chunks) {
      const moved = chunkKey(0, n);
      ops.push({ type: 'put', key: moved, value: seal(moved, unseal(path, key, value)) });
    }
  }
  if (rec !== null) ops.push({ type: 'put', key: SNAPSHOT_KEY, value: seal(SNAPSHOT_KEY, encodeSnapshotRecord({ ...rec, generation: 0 }, limits)) });
  ops.push({ type: 'put', key: FORMAT_KEY, value: Uint8Array.of(LAYOUT_VERSION) });
  await db.batch(ops, { sync: true });
}

async function readSnapshotRecord(db: Level<string, Uint8Array>, path: string, limits: Partial<CodecLimits> | undefined): Promise<SnapshotRecord | null> {
  const stored = await db.get(SNAPSHOT_KEY);
  if (stored === undefined) return null;
  const rec = decodeStored(path, SNAPSHOT_KEY, () => decodeSnapshotRecord(unseal(path, SNAPSHOT_KEY, stored), limits));
  if (rec.generation === null) throw corrupt(path, SNAPSHOT_KEY, `snapshot record of version ${UNGENERATIONED_RECORD_VERSION} in a layout-${LAYOUT_VERSION} store`);
  if (rec.meta.digest.length !== SNAPSHOT_DIGEST_BYTES) throw corrupt(path, SNAPSHOT_KEY, `snapshot digest of ${rec.meta.digest.length} bytes`);
  return rec;
}

/** Bytes on disk that fail to decode mean corruption, reported as such. */
function decodeStored<T>(path: string, key: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof WireError) throw corrupt(path, key, `undecodable record: ${err.message}`);
    throw err;
  }
}
