// Decoder tests: which WireError code a call ends in; a record with a field of every kind the
// byte toolkit has (the reader's tests and the wire-reader fuzz target).

import fc from 'fast-check';
import { ByteReader } from '../../src/wire/reader.js';
import { WireError, type WireErrorCode } from '../../src/wire/wire-error.js';
import { ByteWriter } from '../../src/wire/writer.js';

/** The code of the WireError `fn` throws, or NO_ERROR; any other exception propagates. */
export function wireErrorCodeOf(fn: () => unknown): WireErrorCode | 'NO_ERROR' {
  try {
    fn();
  } catch (err) {
    if (err instanceof WireError) return err.code;
    throw err;
  }
  return 'NO_ERROR';
}

/** One record with a field of every kind the reader has (written by `writeRecord`, read by `readRecord`). */
export const wireRecord = fc.record({
  u8: fc.nat(255),
  bool: fc.boolean(),
  uint: fc.oneof(fc.nat(300), fc.constant(Number.MAX_SAFE_INTEGER), fc.nat()),
  varBytes: fc.uint8Array({ maxLength: 40 }),
  varString: fc.string({ maxLength: 40, unit: 'grapheme' }),
  u16: fc.nat(65535),
  u32: fc.nat(),
  f64: fc.double(),
  u16String: fc.string({ maxLength: 40, unit: 'grapheme' }),
  u32Bytes: fc.uint8Array({ maxLength: 40 }),
  u32Filled: fc.uint8Array({ maxLength: 40 }),
  count: fc.nat(8),
  raw: fc.uint8Array({ minLength: 4, maxLength: 4 }),
}, { noNullPrototype: true });
export type WireRecord = typeof wireRecord extends fc.Arbitrary<infer T> ? T : never;

export function writeRecord(v: WireRecord): Uint8Array {
  const w = new ByteWriter();
  w.u8(v.u8);
  w.bool(v.bool);
  w.uint(v.uint);
  w.varBytes(v.varBytes);
  w.varString(v.varString);
  w.u16(v.u16);
  w.u32(v.u32);
  w.f64(v.f64);
  w.u16String(v.u16String);
  w.u32Bytes(v.u32Bytes);
  w.u32Filled(v.u32Filled.length, (buf, at) => buf.set(v.u32Filled, at));
  w.uint(v.count);
  w.raw(v.raw);
  return w.finish();
}

export function readRecord(b: Uint8Array): WireRecord {
  const r = new ByteReader(b);
  const v: WireRecord = {
    u8: r.u8(),
    bool: r.bool(),
    uint: r.uint(),
    varBytes: Uint8Array.from(r.varBytes('varBytes', 1000)),
    varString: r.varString('varString', 1000),
    u16: r.u16(),
    u32: r.u32(),
    f64: r.f64(),
    u16String: r.u16String('u16String', 1000),
    u32Bytes: Uint8Array.from(r.u32Bytes('u32Bytes', 1000)),
    u32Filled: Uint8Array.from(r.u32Bytes('u32Filled', 1000)),
    count: r.count('count', 8),
    raw: Uint8Array.from(r.raw(4)),
  };
  r.end();
  return v;
}
