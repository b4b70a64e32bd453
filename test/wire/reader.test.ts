// The bounded reader: it reads back what the writer writes, and every way input can be wrong ends
// in a WireError with the code of the broken rule, before anything is allocated for it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteReader } from '../../src/wire/reader.js';
import { ByteWriter } from '../../src/wire/writer.js';
import { wireErrorCodeOf } from '../support/wire.js';

const text = fc.string({ unit: 'grapheme', maxLength: 40 });

test('every field reads back as written, and the record ends exactly there', () => {
  fc.assert(
    fc.property(
      fc.record({
        u8: fc.integer({ min: 0, max: 255 }),
        bool: fc.boolean(),
        uint: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        u16: fc.integer({ min: 0, max: 0xffff }),
        u32: fc.nat({ max: 0xffffffff }),
        f64: fc.double(),
        s1: text,
        s2: text,
        b1: fc.uint8Array({ maxLength: 40 }),
        b2: fc.uint8Array({ maxLength: 40 }),
        latin1: fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
      }),
      (v) => {
        const w = new ByteWriter(8);
        w.u8(v.u8);
        w.bool(v.bool);
        w.uint(v.uint);
        w.u16(v.u16);
        w.u32(v.u32);
        w.f64(v.f64);
        w.varString(v.s1);
        w.u16String(v.s2);
        w.varBytes(v.b1);
        w.u32Bytes(v.b2);
        w.u32Latin1(v.latin1);
        const bytes = w.finish();
        const r = new ByteReader(bytes);
        assert.equal(r.u8(), v.u8);
        assert.equal(r.bool(), v.bool);
        assert.equal(r.uint(), v.uint);
        assert.equal(r.u16(), v.u16);
        assert.equal(r.u32(), v.u32);
        assert.ok(Object.is(r.f64(), v.f64));
        assert.equal(r.varString('s1', 1000), v.s1);
        assert.equal(r.u16String('s2', 1000), v.s2);
        assert.deepEqual(Array.from(r.varBytes('b1', 1000)), Array.from(v.b1));
        assert.deepEqual(Array.from(r.u32Bytes('b2', 1000)), Array.from(v.b2));
        assert.equal(r.u32Latin1('latin1', 1000), v.latin1);
        r.end();
        // Every strict prefix ends in a typed error.
        for (let n = 0; n < bytes.length; n += 3) {
          const p = new ByteReader(bytes.subarray(0, n));
          assert.notEqual(
            wireErrorCodeOf(() => {
              p.u8();
              p.bool();
              p.uint();
              p.u16();
              p.u32();
              p.f64();
              p.varString('s1', 1000);
              p.u16String('s2', 1000);
              p.varBytes('b1', 1000);
              p.u32Bytes('b2', 1000);
              p.u32Latin1('latin1', 1000);
              p.end();
            }),
            'NO_ERROR',
          );
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('lengths and counts are bounded by the caller and by the bytes left', () => {
  const r = (...b: number[]) => new ByteReader(Uint8Array.from(b));
  assert.equal(wireErrorCodeOf(() => r(3, 0x61, 0x62, 0x63).varString('s', 2)), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => r(4, 0x61, 0x62, 0x63).varString('s', 10)), 'TRUNCATED');
  assert.equal(wireErrorCodeOf(() => r(0x80, 0x80, 0x80, 0x80, 0x80, 0x20).varBytes('b', 2 ** 50)), 'TRUNCATED'); // 2^40 claimed
  assert.equal(wireErrorCodeOf(() => r(3, 0, 0x61, 0x62, 0x63).u16String('s', 2)), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => r(4, 0, 0x61).u16String('s', 10)), 'TRUNCATED');
  assert.equal(wireErrorCodeOf(() => r(0xff, 0xff, 0xff, 0xff).u32Bytes('b', 10)), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => r(0xff, 0xff, 0xff, 0xff).u32Latin1('b', 10)), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => r(5, 0, 0, 0, 1, 2).u32Bytes('b', 10)), 'TRUNCATED');
  assert.equal(wireErrorCodeOf(() => r(9).count('items', 8)), 'TOO_LARGE');
  // A u32 count whose items cannot fit in what is left, however high the caller's bound.
  assert.equal(wireErrorCodeOf(() => r(3, 0, 0, 0, 1, 2, 3, 4, 5).u32Count('items', 1000, 2)), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => r(3, 0, 0, 0, 1, 2, 3, 4, 5, 6).u32Count('items', 1000, 2)), 'NO_ERROR');
});

test('malformed fields get the code of the broken rule', () => {
  const r = (...b: number[]) => new ByteReader(Uint8Array.from(b));
  assert.equal(wireErrorCodeOf(() => r().u8()), 'TRUNCATED');
  assert.equal(wireErrorCodeOf(() => r(2).bool()), 'BAD_BOOLEAN');
  assert.equal(wireErrorCodeOf(() => r(0x80, 0x00).uint()), 'BAD_INTEGER'); // not shortest form
  assert.equal(wireErrorCodeOf(() => r(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01).uint()), 'BAD_INTEGER'); // past 2^56
  assert.equal(wireErrorCodeOf(() => r(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10).uint()), 'BAD_INTEGER'); // 2^53 and over
  assert.equal(wireErrorCodeOf(() => r(2, 0xc3, 0x28).varString('s', 10)), 'BAD_UTF8');
  assert.equal(wireErrorCodeOf(() => r(12, 0, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0xc3, 0x28).u16String('s', 20)), 'BAD_UTF8');
  assert.equal(wireErrorCodeOf(() => r(1, 2).end()), 'TRAILING_BYTES');
});

test('byte fields are plain Uint8Array views: of the input, or of one private copy with ofCopy', () => {
  const input = Buffer.from([3, 7, 8, 9]);
  const view = new ByteReader(input).varBytes('b', 10);
  assert.equal(view.constructor, Uint8Array);
  assert.equal(view.buffer, input.buffer);
  const copied = ByteReader.ofCopy(input).varBytes('b', 10);
  assert.equal(copied.constructor, Uint8Array);
  assert.notEqual(copied.buffer, input.buffer);
  input[1] = 0;
  assert.deepEqual(Array.from(view), [0, 8, 9]);
  assert.deepEqual(Array.from(copied), [7, 8, 9]);
});
