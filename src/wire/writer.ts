// The byte writer every binary format here is built with. Two families of fields, each chosen by
// its format and never mixed within one:
//   - varint: unsigned LEB128 integers (shortest form, safe integers only) and byte/string fields
//     prefixed by such a length (Raft messages and records, the transport handshake);
//   - fixed: little-endian u16/u32/f64 and byte/string fields with a u16 or u32 length prefix (the
//     mailbox commands and snapshot, the cluster state image).
// Hot encoders compute their exact size first and use `ByteWriter.exact`: one allocation, no growth,
// no copy at the end, and a wrong size computation fails loudly instead of silently costing a copy.
// A writer reused across values (`reset`, then `copy`) spares the allocation of a fresh buffer.

import { utf8Encoder, utf8Length } from './text.js';
import { WireError } from './wire-error.js';

export class ByteWriter {
  private buf: Uint8Array;
  /** Over `buf` for f64 writes; made on the first one and dropped when `buf` is replaced. */
  private view: DataView | null = null;
  private len = 0;
  private fixed = false;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
  }

  /** A writer for exactly `size` bytes: writing more, or finishing with fewer, is a bug and throws. */
  static exact(size: number): ByteWriter {
    const w = new ByteWriter(size);
    w.fixed = true;
    return w;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.len;
  }

  /** Starts over at offset 0, keeping the buffer (for a writer reused with `copy`). */
  reset(): void {
    this.len = 0;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    if (this.fixed) throw new Error(`wire bug: write past the computed size ${this.buf.length}`);
    let size = Math.max(this.buf.length * 2, 16);
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = null;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  // ---- varint family ----------------------------------------------------------------------------

  /** An unsigned safe integer as LEB128, shortest form. */
  uint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new WireError('BAD_INTEGER', `cannot encode ${v} as an unsigned safe integer`);
    if (this.len + 8 > this.buf.length) this.reserve(uintSize(v));
    const buf = this.buf;
    let len = this.len;
    // Bit operators work on 32 bits, so a value of 2^28 or more (times, large indexes) is split:
    // four full groups from the low 32 bits, then the rest (below 2^25) from the low word's top
    // nibble and the high word. Cheaper than dividing doubles.
    if (v >= 0x10000000) {
      const lo = v >>> 0;
      buf[len++] = (lo & 0x7f) | 0x80;
      buf[len++] = ((lo >>> 7) & 0x7f) | 0x80;
      buf[len++] = ((lo >>> 14) & 0x7f) | 0x80;
      buf[len++] = ((lo >>> 21) & 0x7f) | 0x80;
      v = (lo >>> 28) | (((v - lo) / 0x100000000) << 4);
    }
    while (v > 0x7f) {
      buf[len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[len++] = v;
    this.len = len;
  }

  /** Bytes with a varint length prefix. */
  varBytes(b: Uint8Array): void {
    this.uint(b.length);
    this.raw(b);
  }

  /** A UTF-8 string with a varint byte-length prefix. */
  varString(s: string): void {
    const n = utf8Length(s);
    this.uint(n);
    this.reserve(n);
    const b = this.buf;
    const start = this.len;
    if (n === s.length) {
      for (let i = 0; i < n; i++) b[start + i] = s.charCodeAt(i);
    } else {
      utf8Encoder.encodeInto(s, b.subarray(start, start + n));
    }
    this.len += n;
  }

  // ---- fixed family (little-endian) -------------------------------------------------------------

  u16(v: number): void {
    this.reserve(2);
    const b = this.buf;
    b[this.len] = v;
    b[this.len + 1] = v >>> 8;
    this.len += 2;
  }

  u32(v: number): void {
    this.reserve(4);
    const b = this.buf;
    const p = this.len;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.len += 4;
  }

  f64(v: number): void {
    this.reserve(8);
    (this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)).setFloat64(this.len, v, true);
    this.len += 8;
  }

  /** A UTF-8 string of at most 65535 bytes with a u16 byte-length prefix. */
  u16String(s: string): void {
    const chars = s.length;
    // ASCII (the common case) is copied char by char while its length is found; anything else is
    // measured, then encoded natively over the copied prefix.
    this.reserve(2 + chars);
    const start = this.len + 2;
    let b = this.buf;
    let i = 0;
    for (; i < chars; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[start + i] = c;
    }
    const n = i === chars ? chars : utf8Length(s);
    if (n > 0xffff) throw new WireError('TOO_LARGE', `string of ${n} bytes does not fit a u16 length`);
    if (i < chars) {
      this.reserve(2 + n);
      b = this.buf;
      utf8Encoder.encodeInto(s, b.subarray(start, start + n));
    }
    b[this.len] = n;
    b[this.len + 1] = n >>> 8;
    this.len = start + n;
  }

  /** Bytes with a u32 length prefix. */
  u32Bytes(v: Uint8Array): void {
    this.u32(v.length);
    this.raw(v);
  }

  /**
   * `n` bytes with a u32 length prefix, put in place by `fill(buf, offset)` (which writes exactly
   * `buf[offset, offset + n)`): bytes copied from elsewhere without an array of their own.
   */
  u32Filled(n: number, fill: (buf: Uint8Array, offset: number) => void): void {
    this.u32(n);
    this.reserve(n);
    fill(this.buf, this.len);
    this.len += n;
  }

  // ---- output -----------------------------------------------------------------------------------

  /**
   * The written bytes. When they fill the buffer exactly (an `exact` writer, or a sized one) the
   * buffer itself is handed over, so the writer must not be used again; otherwise a trimmed copy.
   */
  finish(): Uint8Array {
    if (this.len === this.buf.length) return this.buf;
    if (this.fixed) throw new Error(`wire bug: wrote ${this.len} of the computed ${this.buf.length} bytes`);
    return this.buf.slice(0, this.len);
  }

  /** The written bytes in an allocation of their own; the writer stays usable (`reset`). */
  copy(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Bytes `uint(v)` writes for a valid v (anything invalid is rejected when written). */
export function uintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  if (v < 0x800000000) return 5;
  if (v < 0x40000000000) return 6;
  if (v < 0x2000000000000) return 7;
  return 8;
}

/** Bytes `varBytes`/`varString` write for a field of `n` bytes. */
export function varFieldSize(n: number): number {
  return uintSize(n) + n;
}
