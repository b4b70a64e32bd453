// The byte writer: each field family writes exactly the bytes the two toolkits it replaced wrote
// (golden bytes taken from them), exact writers catch a wrong size computation, and reused
// writers hand out copies of their own.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter, uintSize, varFieldSize } from '../../src/wire/writer.js';
import { utf8Length } from '../../src/wire/text.js';
import { WireError } from '../../src/wire/wire-error.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('golden bytes: the varint family writes what the Raft codec wrote', () => {
  const w = new ByteWriter();
  w.varString('forge-raft-handshake-v1');
  w.varString('nöde');
  w.varBytes(Uint8Array.from([0, 255]));
  for (const v of [0, 127, 128, 2 ** 28, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) w.uint(v);
  w.raw(Uint8Array.from([0xab]));
  w.bool(true);
  w.u8(200);
  assert.equal(
    hex(w.finish()),
    '17666f7267652d726166742d68616e647368616b652d7631056ec3b664650200ff007f80018080808001838080808020ffffffffffffff0fab01c8',
  );
});

test('golden bytes: the fixed family writes what the mailbox codec wrote', () => {
  const w = new ByteWriter(4); // small, so that every field also exercises growth
  w.u8(0xfe);
  w.u16(0xbeef);
  w.u32(0xdeadbeef);
  w.f64(-1.5);
  w.f64(1_700_000_000_123);
  w.u16String('ann');
  w.u16String('idé✓');
  w.u32Bytes(Uint8Array.from([1, 0x80]));
  w.u32Filled(3, (buf, at) => buf.set([0, 0xff, 0x41], at));
  assert.equal(hex(w.finish()), 'feefbeefbeadde000000000000f8bf00b08756febc78420300616e6e07006964c3a9e29c930200000001800300000000ff41');
});

test('sizes computed ahead match what is written, for every field', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ maxLength: 40 }), (s, v, b) => {
      const n = utf8Length(s);
      const w = ByteWriter.exact(uintSize(v) + varFieldSize(n) + varFieldSize(b.length) + 2 + n + 4 + b.length + 8);
      w.uint(v);
      w.varString(s);
      w.varBytes(b);
      w.u16String(s);
      w.u32Bytes(b);
      w.f64(v);
      assert.equal(w.finish().length, w.length);
    }),
    { numRuns: 300 },
  );
});

test('an exact writer refuses to write past its size or to finish short of it', () => {
  const over = ByteWriter.exact(2);
  over.u8(1);
  assert.throws(() => over.u16(2), /past the computed size/);
  const short = ByteWriter.exact(2);
  short.u8(1);
  assert.throws(() => short.finish(), /wrote 1 of the computed 2/);
  // A non-ASCII string measured wrongly (as its char count) is caught too.
  const utf8 = ByteWriter.exact(2 + 2);
  assert.throws(() => utf8.u16String('éé'), /past the computed size/);
});

test('a reused writer hands out copies that later writes do not touch', () => {
  const w = new ByteWriter(16);
  w.u16String('first');
  const first = w.copy();
  w.reset();
  w.u16String('later');
  assert.equal(Buffer.from(first.subarray(2)).toString(), 'first');
  assert.equal(Buffer.from(w.copy().subarray(2)).toString(), 'later');
});

test('values a format cannot carry are refused with a WireError', () => {
  const w = new ByteWriter();
  for (const bad of [-1, 0.5, 2 ** 53, Number.NaN]) {
    assert.throws(() => w.uint(bad), (e: unknown) => e instanceof WireError && e.code === 'BAD_INTEGER');
  }
  assert.throws(() => w.u16String('x'.repeat(0x10000)), (e: unknown) => e instanceof WireError && e.code === 'TOO_LARGE');
  assert.throws(() => w.u16String('é'.repeat(0x8000)), (e: unknown) => e instanceof WireError && e.code === 'TOO_LARGE');
  w.u16String('é'.repeat(0x7fff)); // 65534 bytes: fits
});
