// The mailbox's body store on disk (the BodyStore port of src/mailbox/body-store.ts): message
// bodies appended to segment files, read back with pread (the page cache does the caching), so
// that the heap holds only the messages' metadata.
//
// Not replicated and not durable: a cache of the bodies of the live messages, which the node
// rebuilds from its snapshot and log at every start. So the directory is wiped when opened,
// nothing is fsynced, and a crash leaves nothing that needs repair. A failed file operation is a
// StorageError (IO): thrown out of apply it halts the Raft loop, at start it exits 74, like any
// storage failure.
//
// Layout: <dir>/g<generation>/<segment>.seg. A generation is one store (one state): a restore
// fills the next generation beside the live one and the loser's directory is removed. A ref is a
// body's position in the generation's byte stream; segments are consecutive stretches of it. A
// segment is closed once it reaches `segmentBytes` (a larger body gets a segment to itself) and
// its file is deleted once every body in it is released and no hold (a snapshot stream under way,
// which may still read them) is on. There is no compaction: a segment lives
// until its last body is consumed, acked, purged or expired, so the disk holds at most the live
// bytes plus every segment that still has one live body (see usage(), exported as metrics).

import { closeSync, mkdirSync, openSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BodyReader, BodyStore, BodyStoreUsage } from '../mailbox/body-store.js';
import { StorageError } from '../raft/level-storage.js';

export interface FileBodyStoreOptions {
  /** A segment is closed once it holds this many bytes. */
  segmentBytes: number;
  /** Small bodies are gathered in a buffer this large before they are written. */
  writeBufferBytes: number;
}

export const DEFAULT_FILE_BODY_STORE_OPTIONS: Readonly<FileBodyStoreOptions> = Object.freeze({
  segmentBytes: 64 * 1024 * 1024,
  writeBufferBytes: 1024 * 1024,
});

class Segment {
  /** Bytes of the segment, written or still in the write buffer. */
  size = 0;
  /** Bytes of the segment in its file; the rest (size - written) is in the write buffer. */
  written = 0;
  /** Bytes of the bodies not released yet. */
  live = 0;

  constructor(
    /** Position of the segment's first byte in the generation's byte stream. */
    readonly start: number,
    readonly path: string,
    readonly fd: number,
  ) {}
}

/** Hands out the generations of one body directory (shared by every store made from one open). */
class Generations {
  private next = 0;

  constructor(
    readonly dir: string,
    readonly options: FileBodyStoreOptions,
  ) {}

  make(): FileBodyStore {
    const dir = join(this.dir, `g${this.next++}`);
    mkdirSync(dir, { recursive: true });
    return new FileBodyStore(dir, this);
  }
}

export class FileBodyStore implements BodyStore {
  /** Segments holding live bodies, and the one being appended to (last), in stream order. */
  private readonly segments: Segment[] = [];
  /** Position of the next body. */
  private end = 0;
  private segmentsMade = 0;
  private readonly buffer: Uint8Array;
  private buffered = 0;
  private liveBytes = 0;
  private storedBytes = 0;
  private holds = 0;
  private discarded = false;

  /** Opens the body directory `dir`, wiping whatever a previous run left there, and returns its first (empty) store. */
  static open(dir: string, options: Partial<FileBodyStoreOptions> = {}): FileBodyStore {
    const o = { ...DEFAULT_FILE_BODY_STORE_OPTIONS, ...options };
    if (!(o.segmentBytes >= 1 && o.writeBufferBytes >= 1)) throw new RangeError('segmentBytes and writeBufferBytes must be >= 1');
    try {
      rmSync(dir, { recursive: true, force: true });
      return new Generations(dir, o).make();
    } catch (err) {
      throw ioFailure(err, dir);
    }
  }

  /** Use `open`: a store is made for a generation directory of its own. */
  constructor(
    readonly dir: string,
    private readonly generations: Generations,
  ) {
    this.buffer = new Uint8Array(generations.options.writeBufferBytes);
  }

  append(body: Uint8Array): number {
    this.assertOpen();
    const n = body.length;
    let seg = this.segments.at(-1);
    if (seg === undefined || seg.size >= this.generations.options.segmentBytes || (seg.size > 0 && seg.size + n > this.generations.options.segmentBytes)) {
      seg = this.roll();
    }
    const ref = this.end;
    if (n > this.buffer.length - this.buffered) this.flush(seg);
    if (n > this.buffer.length) {
      this.write(seg, body);
    } else {
      this.buffer.set(body, this.buffered);
      this.buffered += n;
    }
    seg.size += n;
    seg.live += n;
    this.end += n;
    this.liveBytes += n;
    this.storedBytes += n;
    return ref;
  }

  read(ref: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(ref, length, out, 0);
    return out;
  }

  readInto(ref: number, length: number, target: Uint8Array, offset: number): void {
    this.assertOpen();
    if (length === 0) return;
    const seg = this.segmentOf(ref, length);
    const at = ref - seg.start;
    if (at >= seg.written) {
      // Appended since the last write: still in the buffer (a body is never split across the two).
      const from = at - seg.written;
      target.set(this.buffer.subarray(from, from + length), offset);
      return;
    }
    this.readFile(seg, at, length, target, offset);
  }

  scan(): ReadAhead {
    return new ReadAhead(this);
  }

  /** For ReadAhead: the segment holding a body and the body's place in its file, or null while it is in the write buffer. */
  placeOf(ref: number, length: number): { seg: Segment; at: number } | null {
    this.assertOpen();
    const seg = this.segmentOf(ref, length);
    const at = ref - seg.start;
    return at >= seg.written ? null : { seg, at };
  }

  /** Reads `length` bytes at `at` of a segment's file, which must hold them. */
  readFile(seg: Segment, at: number, length: number, target: Uint8Array, offset: number): void {
    let done = 0;
    while (done < length) {
      let got: number;
      try {
        got = readSync(seg.fd, target, offset + done, length - done, at + done);
      } catch (err) {
        throw ioFailure(err, this.dir);
      }
      if (got === 0) throw new StorageError('IO', `body store ${this.dir}: ${seg.path} ends before ${at + length}`);
      done += got;
    }
  }

  release(ref: number, length: number): void {
    this.assertOpen();
    if (length === 0) return;
    const seg = this.segmentOf(ref, length);
    if (seg.live < length) throw new Error(`body store ${this.dir}: released more bytes than ${seg.path} holds (ref ${ref}, ${length} bytes)`);
    seg.live -= length;
    this.liveBytes -= length;
    if (seg.live === 0 && seg !== this.segments.at(-1) && this.holds === 0) this.remove(seg);
  }

  hold(): () => void {
    this.holds++;
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      if (--this.holds > 0 || this.discarded) return;
      const active = this.segments.at(-1);
      for (const seg of this.segments.filter((s) => s.live === 0 && s !== active)) this.remove(seg);
    };
  }

  fresh(): FileBodyStore {
    try {
      return this.generations.make();
    } catch (err) {
      throw ioFailure(err, this.generations.dir);
    }
  }

  discard(): void {
    if (this.discarded) return;
    this.discarded = true;
    try {
      for (const seg of this.segments) closeSync(seg.fd);
      rmSync(this.dir, { recursive: true, force: true });
    } catch (err) {
      throw ioFailure(err, this.dir);
    } finally {
      this.segments.length = 0;
    }
    this.liveBytes = 0;
    this.storedBytes = 0;
  }

  usage(): BodyStoreUsage {
    return { liveBytes: this.liveBytes, storedBytes: this.storedBytes };
  }

  /** Segment files on disk now (for tests and operators). */
  segmentFiles(): string[] {
    return this.segments.map((s) => s.path);
  }

  /** Closes the segment being appended to (deleted at once if nothing in it is live) and starts the next. */
  private roll(): Segment {
    const last = this.segments.at(-1);
    if (last !== undefined) {
      this.flush(last);
      if (last.live === 0 && this.holds === 0) this.remove(last);
    }
    const path = join(this.dir, `${String(this.segmentsMade++).padStart(8, '0')}.seg`);
    let fd: number;
    try {
      fd = openSync(path, 'w+');
    } catch (err) {
      throw ioFailure(err, this.dir);
    }
    const seg = new Segment(this.end, path, fd);
    this.segments.push(seg);
    return seg;
  }

  private flush(seg: Segment): void {
    if (this.buffered === 0) return;
    this.write(seg, this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }

  /** Appends `bytes` to the segment's file (after what the buffer holds, which is flushed first). */
  private write(seg: Segment, bytes: Uint8Array): void {
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(seg.fd, bytes, done, bytes.length - done, seg.written + done);
    } catch (err) {
      throw ioFailure(err, this.dir);
    }
    seg.written += bytes.length;
  }

  private remove(seg: Segment): void {
    this.segments.splice(this.segments.indexOf(seg), 1);
    this.storedBytes -= seg.size;
    try {
      closeSync(seg.fd);
      unlinkSync(seg.path);
    } catch (err) {
      throw ioFailure(err, this.dir);
    }
  }

  /** The segment holding [ref, ref + length), or a clear error for a ref this store does not hold. */
  private segmentOf(ref: number, length: number): Segment {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid]!.start <= ref) lo = mid + 1;
      else hi = mid;
    }
    const seg = segs[lo - 1];
    if (!Number.isSafeInteger(ref) || !Number.isSafeInteger(length) || length < 0 || seg === undefined || ref + length > seg.start + seg.size) {
      throw new Error(`body store ${this.dir} holds no body of ${length} bytes at ref ${ref}`);
    }
    return seg;
  }

  private assertOpen(): void {
    if (this.discarded) throw new Error(`body store ${this.dir} was discarded`);
  }
}

/** ReadAhead's blocks: how many, and the bounds of their size. */
const READ_AHEAD_BLOCKS = 16;
const READ_AHEAD_MAX_BYTES = 64 * 1024;
const READ_AHEAD_MIN_BYTES = 1024;
/** Larger bodies are read alone: a block would hold few of them. */
const READ_AHEAD_DIRECT_BYTES = 16 * 1024;
/** A block that served this many bodies after the one it was read for was worth its size. */
const READ_AHEAD_GOOD_HITS = 4;

interface Block {
  seg: Segment | null;
  /** The file bytes [from, from + valid) of seg, in bytes[0, valid). */
  from: number;
  valid: number;
  bytes: Uint8Array;
  /** Reads served after the one that filled it. */
  hits: number;
  lastUse: number;
}

/**
 * A scan of a FileBodyStore (its `scan()`): each body not found in one of a few blocks read
 * earlier is read with the file bytes after it, so bodies appended one after another cost one
 * system call per block, not per body (a take at 3,000,000 queued messages spent most of its
 * 8-16 s in one pread per 100-byte body). A snapshot writes mailbox by mailbox, so reads follow
 * several runs of the append order at once; blocks are replaced least recently used first. The
 * block size adapts: halved (down to 1 KiB) when a block is replaced having served nothing more
 * (bodies read in no order: a miss then costs about a one-body read; 3-5% slower than one read per
 * body in a take of 3M bodies put in random order), doubled (up to 64 KiB) when it served several
 * (3.5x faster in a take of 3M bodies put round robin over 1M mailboxes). Segment files are append-only and a block never holds the write
 * buffer's bytes, so what a block holds never goes stale; a block is matched by its Segment, so a
 * removed segment's blocks are never used again.
 */
export class ReadAhead implements BodyReader {
  private readonly blocks: Block[] = [];
  private blockBytes = READ_AHEAD_MAX_BYTES;
  private uses = 0;
  private reads = 0;

  constructor(private readonly store: FileBodyStore) {}

  readInto(ref: number, length: number, target: Uint8Array, offset: number): void {
    if (length === 0) return;
    const place = length > READ_AHEAD_DIRECT_BYTES ? null : this.store.placeOf(ref, length);
    if (place === null) {
      // Large, or still in the write buffer: as the store reads it.
      this.store.readInto(ref, length, target, offset);
      return;
    }
    const { seg, at } = place;
    this.uses++;
    for (const b of this.blocks) {
      if (b.seg === seg && at >= b.from && at + length <= b.from + b.valid) {
        b.hits++;
        b.lastUse = this.uses;
        target.set(b.bytes.subarray(at - b.from, at - b.from + length), offset);
        return;
      }
    }
    const b = this.freeBlock();
    const valid = Math.max(length, Math.min(this.blockBytes, seg.written - at));
    this.store.readFile(seg, at, valid, b.bytes, 0);
    this.reads++;
    b.seg = seg;
    b.from = at;
    b.valid = valid;
    b.hits = 0;
    b.lastUse = this.uses;
    target.set(b.bytes.subarray(0, length), offset);
  }

  /** A block to fill: a new one while there are fewer than READ_AHEAD_BLOCKS, else the least recently used, after it adapts the size. */
  private freeBlock(): Block {
    if (this.blocks.length < READ_AHEAD_BLOCKS) {
      const b: Block = { seg: null, from: 0, valid: 0, bytes: new Uint8Array(READ_AHEAD_MAX_BYTES), hits: 0, lastUse: 0 };
      this.blocks.push(b);
      return b;
    }
    let victim = this.blocks[0]!;
    for (const b of this.blocks) if (b.lastUse < victim.lastUse) victim = b;
    if (victim.hits === 0) this.blockBytes = Math.max(READ_AHEAD_MIN_BYTES, this.blockBytes >> 1);
    else if (victim.hits >= READ_AHEAD_GOOD_HITS) this.blockBytes = Math.min(READ_AHEAD_MAX_BYTES, this.blockBytes << 1);
    return victim;
  }

  /** The current block size (for tests). */
  get readBytes(): number {
    return this.blockBytes;
  }

  /** Blocks read from the files so far (for tests and benches). */
  get fileReads(): number {
    return this.reads;
  }
}

/** A failed file operation (an errno error) as the node's storage failure; anything else as is. */
function ioFailure(err: unknown, dir: string): unknown {
  if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string') {
    return new StorageError('IO', `body store ${dir}: ${err.message}`);
  }
  return err;
}
