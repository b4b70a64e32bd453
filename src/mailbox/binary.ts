// Little-endian byte writer/reader shared by the command codec and the snapshot format.
// The reader checks every length against both a caller-given bound and the bytes actually left,
// so garbage input ends in a MailboxDecodeError instead of a huge allocation or a RangeError.
// Both sit on the hot apply path, so they avoid per-call Buffer/DataView objects: the writer keeps
// one DataView per buffer, the reader assembles integers byte by byte and floats through a shared
// 8-byte scratch, ASCII strings are copied char by char.

import { Buffer } from 'node:buffer';

/** Thrown by every mailbox decoder (commands, results, snapshots) on malformed or oversized input. */
export class MailboxDecodeError extends Error {
  readonly code = 'DECODE_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'MailboxDecodeError';
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Node's native Latin-1 conversions. They accept any Uint8Array as `this`, which spares building a
 * Buffer view per call (as costly as the conversion itself for short strings). Not declared in
 * @types/node, but part of Buffer.prototype in every Node release.
 */
const nativeLatin1 = Buffer.prototype as unknown as {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  latin1Write(this: Uint8Array, s: string, offset: number, length: number): number;
};
const f64Scratch = new Float64Array(1);
const f64Bytes = new Uint8Array(f64Scratch.buffer);
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Results are written straight into shared slabs of this size (see ByteWriter.finishTransient). */
const SLAB_BYTES = 64 * 1024;

export class ByteWriter {
  private bytes: Uint8Array;
  /** Over `bytes`, remade only when `bytes` is replaced. */
  private view: DataView;
  /** Where the value being written starts in `bytes` (non-zero only when writing into a slab). */
  private start = 0;
  private pos = 0;

  constructor(initialCapacity = 256) {
    this.bytes = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.bytes.buffer);
  }

  /** Start a value at offset 0 of the buffer, for `finish`. */
  reset(): void {
    this.start = 0;
    this.pos = 0;
  }

  /** Start a value after the previous one in the current slab (a fresh slab when little is left), for `finishTransient`. */
  resetTransient(): void {
    if (this.bytes.length - this.pos < SLAB_BYTES / 16) {
      this.bytes = new Uint8Array(SLAB_BYTES);
      this.view = new DataView(this.bytes.buffer);
      this.pos = 0;
    }
    this.start = this.pos;
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.bytes.length) return;
    const used = this.pos - this.start;
    let cap = Math.max(this.bytes.length, SLAB_BYTES);
    while (cap < used + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.bytes.subarray(this.start, this.pos));
    this.bytes = next;
    this.view = new DataView(next.buffer);
    this.start = 0;
    this.pos = used;
  }

  u8(v: number): void {
    this.ensure(1);
    this.bytes[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    const b = this.bytes;
    b[this.pos] = v;
    b[this.pos + 1] = v >>> 8;
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    const b = this.bytes;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** UTF-8 string with a u16 byte-length prefix. */
  str(s: string): void {
    const len = s.length;
    this.ensure(2 + len * 3);
    const b = this.bytes;
    const start = this.pos + 2;
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[start + i] = c;
    }
    const n = i === len ? len : utf8Encoder.encodeInto(s, this.bytes.subarray(start)).written;
    if (n > 0xffff) throw new RangeError('string too long to encode');
    b[this.pos] = n;
    b[this.pos + 1] = n >>> 8;
    this.pos = start + n;
  }

  /** Bytes with a u32 length prefix. */
  bytesField(v: Uint8Array): void {
    this.u32(v.length);
    this.ensure(v.length);
    this.bytes.set(v, this.pos);
    this.pos += v.length;
  }

  /** A body held as a Latin-1 string (one char per byte), written as u32 length + raw bytes. */
  latin1(s: string): void {
    const n = s.length;
    this.u32(n);
    this.ensure(n);
    nativeLatin1.latin1Write.call(this.bytes, s, this.pos, n);
    this.pos += n;
  }

  /** The written bytes, copied into an allocation of their own (no slack, no shared slab): for data that is kept. */
  finish(): Uint8Array {
    return this.bytes.slice(this.start, this.pos);
  }

  /**
   * The written bytes, handing over the buffer itself when they fill it exactly (for a writer sized
   * in advance and used once: no final copy of a large image), a copy of their own otherwise.
   */
  detach(): Uint8Array {
    return this.start === 0 && this.pos === this.bytes.length ? this.bytes : this.finish();
  }

  /**
   * The written bytes as a view into the shared slab, without a copy: several times cheaper for
   * small outputs, but a holder keeps the whole slab alive, so only for short-lived data.
   */
  finishTransient(): Uint8Array {
    return this.bytes.subarray(this.start, this.pos);
  }
}

export class ByteReader {
  private pos = 0;

  constructor(private readonly data: Uint8Array) {}

  get remaining(): number {
    return this.data.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.data.length - this.pos) throw new MailboxDecodeError(`truncated input reading ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.data[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const d = this.data;
    const v = d[this.pos]! | (d[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const d = this.data;
    const p = this.pos;
    const v = (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16)) + d[p + 3]! * 0x1000000;
    this.pos += 4;
    return v;
  }

  f64(what: string): number {
    this.need(8, what);
    const d = this.data;
    const p = this.pos;
    for (let i = 0; i < 8; i++) f64Bytes[hostIsLittleEndian ? i : 7 - i] = d[p + i]!;
    this.pos += 8;
    return f64Scratch[0]!;
  }

  /** A u16-prefixed UTF-8 string of at most `maxBytes` bytes; invalid UTF-8 is rejected. */
  str(what: string, maxBytes: number): string {
    const n = this.u16(what);
    if (n > maxBytes) throw new MailboxDecodeError(`${what} is ${n} bytes, limit ${maxBytes}`);
    this.need(n, what);
    const d = this.data;
    const start = this.pos;
    let ascii = true;
    for (let i = start; i < start + n; i++) {
      if (d[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    let s: string;
    if (ascii) {
      s = nativeLatin1.latin1Slice.call(d, start, start + n);
    } else {
      try {
        s = utf8Strict.decode(d.subarray(start, start + n));
      } catch {
        throw new MailboxDecodeError(`${what} is not valid UTF-8`);
      }
    }
    this.pos += n;
    return s;
  }

  /** u32-prefixed bytes of at most `maxBytes`, as a view into the input (no copy). */
  bytes(what: string, maxBytes: number): Uint8Array {
    const n = this.u32(what);
    if (n > maxBytes) throw new MailboxDecodeError(`${what} is ${n} bytes, limit ${maxBytes}`);
    this.need(n, what);
    // A plain Uint8Array even when the input is a Buffer, so that a caller's slice() copies.
    const out = new Uint8Array(this.data.buffer, this.data.byteOffset + this.pos, n);
    this.pos += n;
    return out;
  }

  /** u32-prefixed bytes of at most `maxBytes`, returned as a Latin-1 string (one char per byte). */
  latin1(what: string, maxBytes: number): string {
    const n = this.u32(what);
    if (n > maxBytes) throw new MailboxDecodeError(`${what} is ${n} bytes, limit ${maxBytes}`);
    this.need(n, what);
    const s = nativeLatin1.latin1Slice.call(this.data, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A count of items that each take at least `minItemBytes`, checked against what is left. */
  count(what: string, max: number, minItemBytes: number): number {
    const n = this.u32(what);
    if (n > max || n * minItemBytes > this.remaining) throw new MailboxDecodeError(`${what} count ${n} is impossible here`);
    return n;
  }

  end(): void {
    if (this.pos !== this.data.length) throw new MailboxDecodeError(`${this.data.length - this.pos} trailing bytes`);
  }
}

/** Encoded length of `s` as written by ByteWriter.str, without the prefix. */
export function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** Bytes as a Latin-1 string: char i is byte i. */
export function latin1FromBytes(b: Uint8Array): string {
  return nativeLatin1.latin1Slice.call(b, 0, b.length);
}

/** A Latin-1 string back to bytes, in a fresh allocation of its own (never a slice of a pooled slab). */
export function latin1ToBytes(s: string): Uint8Array {
  const n = s.length;
  const out = new Uint8Array(n);
  nativeLatin1.latin1Write.call(out, s, 0, n);
  return out;
}
