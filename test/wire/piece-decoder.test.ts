// A record fed in pieces cut anywhere decodes item by item to what the whole record decodes to,
// with the same errors; an item cut short is read again only a few times; counts are checked
// against the whole record's bytes left, not the piece's.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PieceDecoder } from '../../src/wire/piece-decoder.js';
import type { ByteReader } from '../../src/wire/reader.js';
import { ByteWriter } from '../../src/wire/writer.js';
import { WireError } from '../../src/wire/wire-error.js';

/** A record: u32 count of items, each u32-prefixed bytes. */
function encode(items: Uint8Array[]): Uint8Array {
  const w = new ByteWriter(64);
  w.u32(items.length);
  for (const it of items) w.u32Bytes(it);
  return w.finish();
}

/** Decodes `size` bytes fed as `pieces`: the items (copied), and how many steps were tried. */
function decode(size: number, pieces: Uint8Array[]): { items: Uint8Array[]; attempts: number } {
  const items: Uint8Array[] = [];
  let left = -1;
  let attempts = 0;
  const d = new PieceDecoder(size, (r: ByteReader) => {
    attempts++;
    if (left < 0) {
      left = r.u32Count('items', 1_000_000, 4);
      return left > 0;
    }
    items.push(r.u32Bytes('item', 1 << 20).slice());
    return --left > 0;
  });
  for (const p of pieces) d.write(p);
  d.finish();
  return { items, attempts };
}

function cut(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const to of [...at, data.length]) {
    out.push(data.subarray(from, to));
    from = to;
  }
  return out;
}

const codeOf = (f: () => unknown) => {
  try {
    f();
    return 'NO_ERROR';
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return `${err.code}: ${err.message}`;
  }
};

test('pieces cut anywhere decode to the items of the whole record; damaged records give its error', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (items, cuts, at, value) => {
      const record = encode(items);
      assert.deepEqual(decode(record.length, cut(record, cuts)).items, items);
      const damaged = record.slice();
      if (damaged.length > 0) damaged[at % damaged.length] = value;
      for (const bad of [damaged, record.subarray(0, at % (record.length + 1)), Uint8Array.of(...record, value)]) {
        assert.equal(codeOf(() => decode(bad.length, cut(bad, cuts))), codeOf(() => decode(bad.length, [bad])));
      }
    }),
    { numRuns: 500 },
  );
});

test('a long item fed a byte at a time is read again a logarithmic number of times, not once per byte', () => {
  const record = encode([new Uint8Array(100_000)]);
  const { items, attempts } = decode(record.length, cut(record, Array.from(record, (_, i) => i)));
  assert.equal(items[0]!.length, 100_000);
  assert.ok(attempts < 40, `${attempts} attempts`);
});

test('a count is checked against the bytes left in the whole record, not in the piece at hand', () => {
  // Ten items of at least 4 bytes cannot fit in 20 bytes: refused from the first piece on.
  const claim = Uint8Array.of(10, 0, 0, 0);
  assert.match(codeOf(() => decode(24, [claim])), /^TOO_LARGE/);
  // Two items fit in 20 more bytes, though the first piece holds none of them.
  const record = encode([new Uint8Array(6), new Uint8Array(6)]);
  assert.equal(decode(record.length, [record.subarray(0, 4), record.subarray(4)]).items.length, 2);
});

test('bytes past the size, a finish before all of them, and writes after an error are refused', () => {
  const record = encode([Uint8Array.of(1)]);
  assert.match(codeOf(() => decode(record.length - 1, [record])), /^TRAILING_BYTES/);
  // The record ends 3 bytes before the size it was announced with: those 3 would be trailing.
  assert.match(codeOf(() => decode(record.length + 3, [record])), /^TRAILING_BYTES/);
  assert.match(codeOf(() => decode(record.length, [record.subarray(0, 6)])), /^TRUNCATED: input ends after 6 of/);
  const d = new PieceDecoder(record.length, (r) => {
    r.u32Count('items', 10, 4);
    return false;
  });
  assert.throws(() => d.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff)), WireError);
  assert.throws(() => d.write(Uint8Array.of(0)), WireError, 'the decoder stays failed');
});
