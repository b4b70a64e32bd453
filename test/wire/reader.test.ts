// The bounded reader: it reads back what the writer writes, and every way input can be wrong ends
// in a WireError with the code of the broken rule, before anything is allocated for it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteReader } from '../../src/wire/reader.js';
import { readRecord, wireErrorCodeOf, wireRecord, writeRecord } from '../support/wire.js';

test('every field reads back as written, and the record ends exactly there', () => {
  fc.assert(
    fc.property(wireRecord, (v) => {
      const bytes = writeRecord(v);
      assert.deepEqual(readRecord(bytes), v);
      // Every strict prefix ends in a typed error.
      for (let n = 0; n < bytes.length; n += 3) assert.notEqual(wireErrorCodeOf(() => readRecord(bytes.subarray(0, n))), 'NO_ERROR');
    }),
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
