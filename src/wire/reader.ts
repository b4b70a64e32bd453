// The bounded byte reader every decoder here is built with; it reads the fields ByteWriter writes
// (see writer.ts for the two families). Every read checks the bytes actually present, and every
// length or count is checked against a caller-given bound and the bytes left before anything is
// allocated, so garbage from a socket or a damaged disk ends in a WireError, never in a huge
// allocation, a RangeError or a loop. Integers are assembled byte by byte and floats through a
// shared 8-byte scratch: no per-call DataView or Buffer objects on the hot decode paths.

import { decodeUtf8 } from './text.js';
import { WireError } from './wire-error.js';

const f64Scratch = new Float64Array(1);
const f64Bytes = new Uint8Array(f64Scratch.buffer);
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class ByteReader {
  private pos = 0;
  private readonly buf: Uint8Array;

  /**
   * Byte fields come out as views of `input` (no copy): they share its memory and keep it alive.
   * Never Buffers, even from a Buffer, so that a holder's `slice()` copies. `following`: bytes of
   * the same record known to come after `input` (a record read a piece at a time, see
   * piece-decoder.ts), counted as left when a count is checked against the bytes left.
   */
  constructor(
    input: Uint8Array,
    private readonly following = 0,
  ) {
    this.buf = input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  }

  /**
   * Copies `input` once and hands out byte fields as views of that private copy: one allocation
   * per record instead of one per field. The fields share (and keep alive) the copy, never the input.
   */
  static ofCopy(input: Uint8Array): ByteReader {
    return new ByteReader(new Uint8Array(input));
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Bytes left in the whole record: those of the input not read yet, and the `following` ones. */
  get remainingInRecord(): number {
    return this.buf.length - this.pos + this.following;
  }

  /** Bytes of the input read so far. */
  get offset(): number {
    return this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw new WireError('TRUNCATED', `input ends inside ${what}`);
  }

  u8(what = 'a field'): number {
    if (this.pos >= this.buf.length) throw new WireError('TRUNCATED', `input ends inside ${what}`);
    return this.buf[this.pos++]!;
  }

  bool(what = 'a boolean'): boolean {
    const b = this.u8(what);
    if (b > 1) throw new WireError('BAD_BOOLEAN', `${what}: boolean byte ${b}`);
    return b === 1;
  }

  /** `n` bytes as a view (see the constructor). */
  raw(n: number, what = 'a field'): Uint8Array {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  end(): void {
    if (this.remaining !== 0) throw new WireError('TRAILING_BYTES', `${this.remaining} bytes after the end of the record`);
  }

  // ---- varint family ----------------------------------------------------------------------------

  /** An unsigned LEB128 safe integer in shortest form. */
  uint(what = 'an integer'): number {
    // Most values (types, lengths, small terms) fit in one byte.
    const first = this.buf[this.pos];
    if (first !== undefined && first < 0x80) {
      this.pos++;
      return first;
    }
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      // 8 groups of 7 bits cover 2^53; a ninth group can only be out of range.
      if (i === 8) throw new WireError('BAD_INTEGER', `${what}: varint longer than a safe integer`);
      const b = this.u8(what);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw new WireError('BAD_INTEGER', `${what}: varint not in shortest form`);
        break;
      }
      scale *= 0x80;
    }
    if (!Number.isSafeInteger(value)) throw new WireError('BAD_INTEGER', `${what}: varint exceeds the safe integer range`);
    return value;
  }

  /** A varint length prefix, bounded by `max` and by the bytes left. */
  length(what: string, max: number): number {
    const n = this.uint(what);
    if (n > max) throw new WireError('TOO_LARGE', `${what}: ${n} exceeds limit ${max}`);
    if (n > this.remaining) throw new WireError('TRUNCATED', `${what}: length ${n} runs past the end`);
    return n;
  }

  /** A varint item count, bounded by `max` (the caller bounds it by the bytes left where items have a minimum size). */
  count(what: string, max: number): number {
    const n = this.uint(what);
    if (n > max) throw new WireError('TOO_LARGE', `${what}: ${n} exceeds limit ${max}`);
    return n;
  }

  /** Varint-prefixed bytes of at most `max`, as a view (see the constructor). */
  varBytes(what: string, max: number): Uint8Array {
    return this.raw(this.length(what, max), what);
  }

  /** A varint-prefixed UTF-8 string of at most `maxBytes`; invalid UTF-8 is rejected. */
  varString(what: string, maxBytes: number): string {
    const n = this.length(what, maxBytes);
    const start = this.pos;
    this.pos += n;
    return decodeUtf8(this.buf, start, start + n, what);
  }

  // ---- fixed family (little-endian) -------------------------------------------------------------

  u16(what = 'a u16'): number {
    this.need(2, what);
    const d = this.buf;
    const v = d[this.pos]! | (d[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }

  u32(what = 'a u32'): number {
    this.need(4, what);
    const d = this.buf;
    const p = this.pos;
    const v = (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16)) + d[p + 3]! * 0x1000000;
    this.pos += 4;
    return v;
  }

  f64(what = 'an f64'): number {
    this.need(8, what);
    const d = this.buf;
    const p = this.pos;
    for (let i = 0; i < 8; i++) f64Bytes[hostIsLittleEndian ? i : 7 - i] = d[p + i]!;
    this.pos += 8;
    return f64Scratch[0]!;
  }

  /** A u32 count of items that each take at least `minItemBytes`, bounded by `max` and by the bytes left. */
  u32Count(what: string, max: number, minItemBytes: number): number {
    const n = this.u32(what);
    if (n > max || n * minItemBytes > this.remainingInRecord) throw new WireError('TOO_LARGE', `${what}: count ${n} is impossible here`);
    return n;
  }

  /** A u16-prefixed UTF-8 string of at most `maxBytes`; invalid UTF-8 is rejected. */
  u16String(what: string, maxBytes: number): string {
    const n = this.u16(what);
    if (n > maxBytes) throw new WireError('TOO_LARGE', `${what} is ${n} bytes, limit ${maxBytes}`);
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    return decodeUtf8(this.buf, start, start + n, what);
  }

  /** u32-prefixed bytes of at most `maxBytes`, as a view (see the constructor). */
  u32Bytes(what: string, maxBytes: number): Uint8Array {
    const n = this.u32(what);
    if (n > maxBytes) throw new WireError('TOO_LARGE', `${what} is ${n} bytes, limit ${maxBytes}`);
    return this.raw(n, what);
  }
}
