// Little-endian byte writer/reader shared by the command codec and the snapshot format.
// The reader checks every length against both a caller-given bound and the bytes actually left,
// so garbage input ends in a MailboxDecodeError instead of a huge allocation or a RangeError.

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

export class ByteWriter {
  private buf: Buffer;
  private view: DataView;
  private pos = 0;

  constructor(initialCapacity = 256) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafeSlow(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** UTF-8 string with a u16 byte-length prefix. */
  str(s: string): void {
    const max = s.length * 3;
    this.ensure(2 + max);
    const n = this.buf.write(s, this.pos + 2, 'utf8');
    if (n > 0xffff) throw new RangeError('string too long to encode');
    this.view.setUint16(this.pos, n, true);
    this.pos += 2 + n;
  }

  /** Bytes with a u32 length prefix. */
  bytes(b: Uint8Array): void {
    this.ensure(4 + b.length);
    this.view.setUint32(this.pos, b.length, true);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.length;
  }

  /** A body held as a Latin-1 string (one char per byte), written as u32 length + raw bytes. */
  latin1(s: string): void {
    this.ensure(4 + s.length);
    this.view.setUint32(this.pos, s.length, true);
    this.buf.write(s, this.pos + 4, 'latin1');
    this.pos += 4 + s.length;
  }

  /** The written bytes, copied into an allocation of their own (no slack, no shared slab). */
  finish(): Uint8Array {
    const out = new Uint8Array(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }
}

export class ByteReader {
  private readonly buf: Buffer;
  private readonly view: DataView;
  private pos = 0;

  constructor(data: Uint8Array) {
    this.buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) throw new MailboxDecodeError(`truncated input reading ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A u16-prefixed UTF-8 string of at most `maxBytes` bytes; invalid UTF-8 is rejected. */
  str(what: string, maxBytes: number): string {
    const n = this.u16(what);
    if (n > maxBytes) throw new MailboxDecodeError(`${what} is ${n} bytes, limit ${maxBytes}`);
    this.need(n, what);
    let s: string;
    try {
      s = utf8Strict.decode(this.buf.subarray(this.pos, this.pos + n));
    } catch {
      throw new MailboxDecodeError(`${what} is not valid UTF-8`);
    }
    this.pos += n;
    return s;
  }

  /** u32-prefixed bytes of at most `maxBytes`, as a view into the input (no copy). */
  bytes(what: string, maxBytes: number): Uint8Array {
    const n = this.u32(what);
    if (n > maxBytes) throw new MailboxDecodeError(`${what} is ${n} bytes, limit ${maxBytes}`);
    this.need(n, what);
    const out = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return out;
  }

  /** u32-prefixed bytes of at most `maxBytes`, returned as a Latin-1 string (one char per byte). */
  latin1(what: string, maxBytes: number): string {
    const n = this.u32(what);
    if (n > maxBytes) throw new MailboxDecodeError(`${what} is ${n} bytes, limit ${maxBytes}`);
    this.need(n, what);
    const s = this.buf.toString('latin1', this.pos, this.pos + n);
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
    if (this.pos !== this.buf.length) throw new MailboxDecodeError(`${this.buf.length - this.pos} trailing bytes`);
  }
}
