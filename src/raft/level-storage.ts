// RaftStorage on LevelDB. Key layout (all keys ASCII, values binary):
//   format         layout version (one byte, LAYOUT_VERSION); a store without it that holds anything is refused
//   h              hard state (codec: encodeHardState)
//   s              snapshot record: version, encoded SnapshotMeta (with the data's SHA-256), data length, chunk count
//   d/<8 hex>      snapshot data chunk n (0-based), at most `chunkBytes` each
//   g/<16 hex>     log segment: consecutive entries starting at that index (codec: encodeEntries);
//                  fixed width keeps key order = index order
//
// Integrity (layout 3): every value but `format` is sealed, followed by the first 8 bytes of
// SHA-256(key, value), so a flipped bit, a torn value or a value under the wrong key is caught
// when it is read, and named (store path and key) in a CORRUPT error; the snapshot's data must
// also match the digest in its metadata. A layout-2 store (the same without seals and digest) is
// migrated on open, in one synced batch. LevelDB's own block checksums are not checked on reads
// unless asked for (ReadOptions.verify_checksums), and never cover what a bug or bad memory did to
// a value before it was handed to LevelDB.
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
// Snapshots: a segment that ends at or below the snapshot index (its successor starts at or below
// index+1, or it is the last and the log ends there) is deleted; one straddling the index is kept
// and `load` skips its entries at or below the snapshot. Dropping a prefix of segments does not
// change the fold above the snapshot index, because the first kept segment starts at or below
// index+1 and cuts everything before it anyway. A snapshot passed to `save` (installed from the
// leader) replaces the whole log, so every segment goes in that same batch; one passed to
// `compact` (taken locally) keeps the entries after it.
//
// Every durable state change is one synced LevelDB batch, which LevelDB applies atomically, so after
// a crash we see either the whole change or none of it. The one exception is dropping segments a
// local snapshot covers: that happens *after* the snapshot batch is durable, and `load()` ignores
// entries at or below the snapshot index, so a crash between the two steps leaves garbage but never
// a wrong log (the next compaction or open removes it).
//
// Bookkeeping (snapshot index, last index, chunk count, segment starts) is kept in memory so `save`
// does no reads on its hot path; operations are serialised so batches reach LevelDB in call order.

import { Level } from 'level';
import { sameBytes, SNAPSHOT_DIGEST_BYTES, snapshotDigest, truncatedSha256 } from './digest.js';
import { decodeEntries, decodeHardState, decodeSnapshotMeta, encodeEntries, encodeHardState, encodeSnapshotMeta } from './codec.js';
import { ByteReader } from '../wire/reader.js';
import { ByteWriter } from '../wire/writer.js';
import { WireError } from '../wire/wire-error.js';
import type { CodecLimits } from './codec.js';
import type { Entry, HardState, PersistedState, RaftStorage, Snapshot, SnapshotMeta } from './types.js';

export type StorageErrorCode = 'CORRUPT' | 'INVALID_ARGUMENT' | 'STALE_SNAPSHOT' | 'CLOSED' | 'UNSUPPORTED_FORMAT';

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
   * Entry data bytes after which a save starts another segment (default 1 MiB), which keeps
   * LevelDB values bounded when a save carries a lot; a segment always holds at least one entry.
   */
  segmentBytes?: number;
  /** Bounds applied when decoding what is on disk (defaults: the codec's). */
  limits?: Partial<CodecLimits>;
}

/** 1 was one LevelDB value per entry (`e/<index>`); 2 is segments; 3 is segments with sealed values (migrated from 2). */
const LAYOUT_VERSION = 3;
const UNSEALED_LAYOUT = 2;
const CHECKSUM_BYTES = 8;
/** Image bytes sealed between two turns of the event loop (a few ms of copying and hashing). */
const SEAL_SLICE_BYTES = 4 << 20;
const utf8 = new TextEncoder();
const FORMAT_KEY = 'format';
const SNAPSHOT_RECORD_VERSION = 1;
const HARD_STATE_KEY = 'h';
const SNAPSHOT_KEY = 's';
const SEGMENT_PREFIX = 'g/';
// '0' is the character after '/', so [ 'g/', 'g0' ) spans exactly the segment keys.
const SEGMENT_END = 'g0';
const MAX_SNAPSHOT_CHUNKS = 0xffffffff;

function segmentKey(first: number): string {
  return SEGMENT_PREFIX + first.toString(16).padStart(16, '0');
}

function chunkKey(n: number): string {
  return 'd/' + n.toString(16).padStart(8, '0');
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
  meta: SnapshotMeta;
  dataLength: number;
  chunks: number;
}

function encodeSnapshotRecord(rec: SnapshotRecord, limits: Partial<CodecLimits> | undefined): Uint8Array {
  const w = new ByteWriter();
  w.u8(SNAPSHOT_RECORD_VERSION);
  w.varBytes(encodeSnapshotMeta(rec.meta, limits));
  w.uint(rec.dataLength);
  w.uint(rec.chunks);
  return w.finish();
}

function decodeSnapshotRecord(b: Uint8Array, limits: Partial<CodecLimits> | undefined): SnapshotRecord {
  const r = new ByteReader(b);
  const version = r.u8();
  if (version !== SNAPSHOT_RECORD_VERSION) throw new WireError('BAD_VERSION', `snapshot record version ${version}`);
  const meta = decodeSnapshotMeta(r.varBytes('snapshot meta', b.length), limits);
  const dataLength = r.uint();
  const chunks = r.count('snapshot chunks', MAX_SNAPSHOT_CHUNKS);
  r.end();
  return { meta, dataLength, chunks };
}

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export class LevelStorage implements RaftStorage {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly db: Level<string, Uint8Array>,
    /** Where the store lives, for the errors that name a corrupt key. */
    private readonly path: string,
    /** The layout the store was migrated from on this open (null: it was current, or new). */
    readonly migratedFrom: number | null,
    private readonly chunkBytes: number,
    private readonly segmentBytes: number,
    private readonly limits: Partial<CodecLimits> | undefined,
    /** Index of the stored snapshot (0 when none). */
    private snapIndex: number,
    private snapChunks: number,
    /** Index of the last log entry, or snapIndex when the log after the snapshot is empty. */
    private lastIndex: number,
    /** First index of every segment on disk, ascending (those wholly at or below snapIndex await removal). */
    private readonly segments: number[],
  ) {}

  /** Opens (creating if needed) the database at `path` and reads the bookkeeping `save` relies on. */
  static async open(path: string, options: LevelStorageOptions = {}): Promise<LevelStorage> {
    const chunkBytes = options.chunkBytes ?? 1 << 20;
    const segmentBytes = options.segmentBytes ?? 1 << 20;
    for (const [name, value] of [['chunkBytes', chunkBytes], ['segmentBytes', segmentBytes]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new StorageError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${value}`);
      }
    }
    const db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
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
      const storage = new LevelStorage(db, path, migratedFrom, chunkBytes, segmentBytes, options.limits, snapIndex, rec?.chunks ?? 0, Math.max(lastStored, snapIndex), segments);
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
      const rec = await readSnapshotRecord(this.db, this.path, this.limits);
      let snapshot: Snapshot | null = null;
      if (rec !== null) snapshot = { meta: rec.meta, data: await this.readSnapshotData(rec) };
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

  save(update: { hardState: HardState | null; entries: Entry[]; snapshot: Snapshot | null }): Promise<void> {
    return this.serialised(async () => {
      const { hardState, entries, snapshot } = update;
      if (hardState === null && entries.length === 0 && snapshot === null) return;
      const ops: Op[] = [];
      let snapIndex = this.snapIndex;
      let lastIndex = this.lastIndex;
      let snapChunks = this.snapChunks;
      // After the batch: the first `keep` segments stay, then come the `added` ones.
      let keep = this.segments.length;
      const added: number[] = [];

      if (snapshot !== null) {
        const { index } = snapshot.meta;
        if (index <= this.snapIndex) {
          throw new StorageError('STALE_SNAPSHOT', `snapshot at ${index} is not newer than the stored one at ${this.snapIndex}`);
        }
        // A snapshot from the leader replaces the whole log (the core discards its own log too, see
        // `Ready`): every segment goes, in this batch.
        for (const first of this.segments) ops.push({ type: 'del', key: segmentKey(first) });
        keep = 0;
        lastIndex = index;
        snapChunks = await this.snapshotOps(ops, snapshot);
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
      this.lastIndex = lastIndex;
      this.snapChunks = snapChunks;
      this.snapIndex = snapIndex;
      this.segments.length = keep;
      this.segments.push(...added);
    });
  }

  compact(snapshot: Snapshot): Promise<void> {
    return this.serialised(async () => {
      const { index } = snapshot.meta;
      if (index <= this.snapIndex) {
        throw new StorageError('STALE_SNAPSHOT', `snapshot at ${index} is not newer than the stored one at ${this.snapIndex}`);
      }
      const ops: Op[] = [];
      const chunks = await this.snapshotOps(ops, snapshot);
      await this.db.batch(ops, { sync: true });
      this.snapIndex = index;
      this.snapChunks = chunks;
      this.lastIndex = Math.max(this.lastIndex, index);
      await this.dropCoveredSegments();
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

  /**
   * Adds the ops that store `snapshot` (record plus chunks, removing surplus old chunks); returns
   * the chunk count. Sealing copies and checksums every chunk: a large image yields to the event
   * loop every few MiB rather than holding it for the whole image.
   */
  private async snapshotOps(ops: Op[], snapshot: Snapshot): Promise<number> {
    const chunks = Math.ceil(snapshot.data.length / this.chunkBytes);
    let sealed = 0;
    for (let n = 0; n < chunks; n++) {
      const key = chunkKey(n);
      ops.push({ type: 'put', key, value: seal(key, snapshot.data.subarray(n * this.chunkBytes, (n + 1) * this.chunkBytes)) });
      sealed += this.chunkBytes;
      if (sealed >= SEAL_SLICE_BYTES) {
        sealed = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    for (let n = chunks; n < this.snapChunks; n++) ops.push({ type: 'del', key: chunkKey(n) });
    const record = encodeSnapshotRecord({ meta: snapshot.meta, dataLength: snapshot.data.length, chunks }, this.limits);
    ops.push({ type: 'put', key: SNAPSHOT_KEY, value: seal(SNAPSHOT_KEY, record) });
    return chunks;
  }

  /**
   * Removes the segments the snapshot covers wholly: a prefix, since segment i ends where segment
   * i+1 begins (the last where the log ends). Safe to lose in a crash because `load` skips them.
   */
  private async dropCoveredSegments(): Promise<void> {
    let drop = 0;
    while (drop < this.segments.length && (this.segments[drop + 1] ?? this.lastIndex + 1) <= this.snapIndex + 1) drop++;
    if (drop === 0) return;
    const firstKept = this.segments[drop];
    await this.db.clear({ gte: SEGMENT_PREFIX, lt: firstKept === undefined ? SEGMENT_END : segmentKey(firstKept) });
    this.segments.splice(0, drop);
  }

  /** The snapshot's data, each chunk's checksum and the whole data's digest verified. */
  private async readSnapshotData(rec: SnapshotRecord): Promise<Uint8Array> {
    const data = await assembleChunks(this.db, this.path, rec, (key, stored) => unseal(this.path, key, stored));
    if (!sameBytes(snapshotDigest(data), rec.meta.digest)) {
      throw corrupt(this.path, SNAPSHOT_KEY, `snapshot at index ${rec.meta.index}: its data does not match its SHA-256`);
    }
    return data;
  }
}

/** A snapshot's data from its chunks, each passed through `open` (which checks its seal, or not). */
async function assembleChunks(
  db: Level<string, Uint8Array>,
  path: string,
  rec: SnapshotRecord,
  open: (key: string, stored: Uint8Array) => Uint8Array,
): Promise<Uint8Array> {
  const keys = Array.from({ length: rec.chunks }, (_, n) => chunkKey(n));
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
 * Refuses a store written in a layout this release cannot read; migrates a layout-2 one; stamps a
 * new, empty one with this layout. Returns the layout migrated from, if any.
 */
async function checkLayout(db: Level<string, Uint8Array>, path: string, limits: Partial<CodecLimits> | undefined): Promise<number | null> {
  const format = await db.get(FORMAT_KEY);
  if (format === undefined) {
    const [anyKey] = await db.keys({ limit: 1 }).all();
    if (anyKey !== undefined) {
      throw new StorageError('UNSUPPORTED_FORMAT', `store ${path} holds data but no layout version (an older layout); this release reads layouts ${UNSEALED_LAYOUT} and ${LAYOUT_VERSION}`);
    }
    await db.put(FORMAT_KEY, Uint8Array.of(LAYOUT_VERSION), { sync: true });
    return null;
  }
  if (format.length === 1 && format[0] === UNSEALED_LAYOUT) {
    await sealUnsealedStore(db, path, limits);
    return UNSEALED_LAYOUT;
  }
  if (format.length !== 1 || format[0] !== LAYOUT_VERSION) {
    throw new StorageError('UNSUPPORTED_FORMAT', `store ${path} has layout ${format.length === 1 ? format[0] : 'unreadable'}; this release reads layouts ${UNSEALED_LAYOUT} and ${LAYOUT_VERSION}`);
  }
  return null;
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
    const data = await assembleChunks(db, path, rec, (_key, value) => value);
    const sealed = { ...rec, meta: { ...rec.meta, digest: snapshotDigest(data) } };
    ops.push({ type: 'put', key: SNAPSHOT_KEY, value: seal(SNAPSHOT_KEY, encodeSnapshotRecord(sealed, limits)) });
  }
  ops.push({ type: 'put', key: FORMAT_KEY, value: Uint8Array.of(LAYOUT_VERSION) });
  await db.batch(ops, { sync: true });
}

async function readSnapshotRecord(db: Level<string, Uint8Array>, path: string, limits: Partial<CodecLimits> | undefined): Promise<SnapshotRecord | null> {
  const stored = await db.get(SNAPSHOT_KEY);
  if (stored === undefined) return null;
  const rec = decodeStored(path, SNAPSHOT_KEY, () => decodeSnapshotRecord(unseal(path, SNAPSHOT_KEY, stored), limits));
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
