// The log's settled entries, those both durable here and applied, kept in columns instead of
// objects. A node holds many of them between snapshots: a take is spaced by the image it rewrites
// (hundreds of thousands of entries at a deep backlog), and a leader keeps entries for followers
// catching up. As objects each costs about 195 bytes of V8 heap beside its data (the Entry and its
// Uint8Array view, often keeping a whole received frame alive), and every full collection marks
// them all. Here an entry costs four doubles of columns and its data, copied into shared chunks.
//
// Settled entries are never rewritten: a leader's conflicting suffix starts after the commit
// index, and a settled entry is committed. So the columns only grow at the end and drop from the
// front. An Entry is made on the spot when one is read (a follower catching up), its data a view
// into a chunk; a chunk's bytes are written once (pushes only fill the rest of it), so such a
// view stays valid however long it is held.

import type { Entry, EntryType } from './types.js';

// The columns of one entry, at slot * STRIDE in `cols`.
const STRIDE = 4;
const TERM = 0;
const TIME = 1;
/** type * 2^32 + data length: both exact in a double (a type is 0..2, a length below 2^32). */
const TYPE_AND_LENGTH = 2;
/** Position of the data's first byte in the stream of all data ever pushed (see Chunk). */
const POSITION = 3;
const TWO_32 = 2 ** 32;

/** Data is copied into chunks of this size; a larger entry gets a chunk of its own. */
const CHUNK_BYTES = 256 * 1024;
/** Columns start with room for this many entries, and never shrink below it. */
const MIN_SLOTS = 1024;

/** A piece of the data stream: `bytes[i]` is the byte at position `start + i`. */
interface Chunk {
  readonly start: number;
  readonly bytes: Uint8Array;
}

export class SettledEntries {
  private cols = new Float64Array(MIN_SLOTS * STRIDE);
  /** Slot of the first entry. */
  private head = 0;
  private count = 0;
  /** Raft index of the first entry (of the next one pushed, while empty). */
  private first: number;
  /** Oldest first; the last is being filled. */
  private chunks: Chunk[] = [];
  /** Bytes used in the last chunk. */
  private fill = 0;
  /** Position of the next byte pushed. */
  private position = 0;

  constructor(firstIndex: number) {
    this.first = firstIndex;
  }

  get size(): number {
    return this.count;
  }

  /** Index of the last entry (firstIndex - 1 while empty). */
  get lastIndex(): number {
    return this.first + this.count - 1;
  }

  /** Appends `e`, whose index must follow the last one's; its data is copied. */
  push(e: Entry): void {
    if (e.index !== this.first + this.count) throw new RangeError(`settled entry ${e.index} does not follow ${this.lastIndex}`);
    if (this.head + this.count === this.cols.length / STRIDE) this.makeRoom();
    const at = (this.head + this.count) * STRIDE;
    const length = e.data.length;
    this.cols[at + TERM] = e.term;
    this.cols[at + TIME] = e.time;
    this.cols[at + TYPE_AND_LENGTH] = e.type * TWO_32 + length;
    this.cols[at + POSITION] = this.position;
    if (length > 0) {
      let last = this.chunks.at(-1);
      if (last === undefined || this.fill + length > last.bytes.length) {
        last = { start: this.position, bytes: new Uint8Array(Math.max(CHUNK_BYTES, length)) };
        this.chunks.push(last);
        this.fill = 0;
      }
      last.bytes.set(e.data, this.fill);
      this.fill += length;
      this.position += length;
    }
    this.count++;
  }

  term(index: number): number {
    return this.cols[this.slot(index) + TERM]!;
  }

  time(index: number): number {
    return this.cols[this.slot(index) + TIME]!;
  }

  dataLength(index: number): number {
    return this.cols[this.slot(index) + TYPE_AND_LENGTH]! % TWO_32;
  }

  /** A new Entry object for `index`; its data is a view into this store's memory, never written again. */
  entry(index: number): Entry {
    const at = this.slot(index);
    const typeAndLength = this.cols[at + TYPE_AND_LENGTH]!;
    const length = typeAndLength % TWO_32;
    const position = this.cols[at + POSITION]!;
    let data: Uint8Array;
    if (length === 0) {
      data = new Uint8Array(0);
    } else {
      const chunk = this.chunkAt(position);
      const offset = position - chunk.start;
      data = chunk.bytes.subarray(offset, offset + length);
    }
    return { term: this.cols[at + TERM]!, index, type: Math.floor(typeAndLength / TWO_32) as EntryType, time: this.cols[at + TIME]!, data };
  }

  /** Drops every entry through `index`, and the chunks only they used. */
  dropThrough(index: number): void {
    const n = Math.min(Math.max(index - this.first + 1, 0), this.count);
    if (n === 0) return;
    this.head += n;
    this.count -= n;
    this.first += n;
    const firstPosition = this.count > 0 ? this.cols[this.head * STRIDE + POSITION]! : this.position;
    let drop = 0;
    while (drop + 1 < this.chunks.length && this.chunks[drop + 1]!.start <= firstPosition) drop++;
    if (drop > 0) this.chunks.splice(0, drop);
    this.shrinkIfSparse();
  }

  /** Drops everything; the next entry pushed is `firstIndex`. */
  reset(firstIndex: number): void {
    this.cols = new Float64Array(MIN_SLOTS * STRIDE);
    this.head = 0;
    this.count = 0;
    this.first = firstIndex;
    this.chunks = [];
    this.fill = 0;
  }

  private slot(index: number): number {
    const k = index - this.first;
    if (k < 0 || k >= this.count) throw new RangeError(`entry ${index} is not settled (${this.first}..${this.lastIndex})`);
    return (this.head + k) * STRIDE;
  }

  /** The chunk holding `position`: the last one starting at or before it. */
  private chunkAt(position: number): Chunk {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunks[mid]!.start <= position) lo = mid;
      else hi = mid - 1;
    }
    return this.chunks[lo]!;
  }

  /** The columns are full at the end: move the live slots to the front, or grow. */
  private makeRoom(): void {
    const slots = this.cols.length / STRIDE;
    if (this.head >= slots / 2) {
      this.cols.copyWithin(0, this.head * STRIDE, (this.head + this.count) * STRIDE);
      this.head = 0;
    } else {
      this.resize(slots * 2);
    }
  }

  /** After a large drop, give the memory back: a snapshot can leave a few entries of hundreds of thousands. */
  private shrinkIfSparse(): void {
    const slots = this.cols.length / STRIDE;
    if (slots > MIN_SLOTS && this.count < slots / 4) this.resize(Math.max(MIN_SLOTS, this.count * 2));
  }

  private resize(slots: number): void {
    const cols = new Float64Array(slots * STRIDE);
    cols.set(this.cols.subarray(this.head * STRIDE, (this.head + this.count) * STRIDE));
    this.cols = cols;
    this.head = 0;
  }
}
