import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { SettledEntries } from '../../src/raft/settled-entries.js';
import { EntryType, type Entry } from '../../src/raft/types.js';

function entry(index: number, length: number, term = 1 + Math.floor(index / 7), type = EntryType.Normal): Entry {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (index * 31 + i) & 0xff;
  return { term, index, type, time: 1_700_000_000_000 + index * 3, data };
}

function same(actual: Entry, expected: Entry): void {
  assert.deepEqual({ ...actual, data: Buffer.from(actual.data) }, { ...expected, data: Buffer.from(expected.data) });
}

test('settled entries read back as pushed: term, time, type and data, empty and larger than a chunk alike', () => {
  const s = new SettledEntries(5);
  const pushed = [entry(5, 0), entry(6, 100, 2, EntryType.Noop), entry(7, 300_000, 2, EntryType.ConfChange), entry(8, 1), entry(9, 200_000)];
  for (const e of pushed) s.push(e);
  assert.equal(s.size, 5);
  assert.equal(s.lastIndex, 9);
  for (const e of pushed) {
    same(s.entry(e.index), e);
    assert.equal(s.term(e.index), e.term);
    assert.equal(s.time(e.index), e.time);
    assert.equal(s.dataLength(e.index), e.data.length);
  }
});

test('the data is copied: changing the pushed buffer afterwards changes nothing', () => {
  const s = new SettledEntries(1);
  const e = entry(1, 10);
  s.push(e);
  e.data.fill(0);
  assert.deepEqual(Array.from(s.entry(1).data), Array.from(entry(1, 10).data));
});

test('an entry that does not follow the last one is refused; reads outside the entries throw', () => {
  const s = new SettledEntries(10);
  assert.throws(() => s.push(entry(11, 1)), RangeError);
  s.push(entry(10, 1));
  assert.throws(() => s.push(entry(10, 1)), RangeError);
  assert.throws(() => s.entry(9), RangeError);
  assert.throws(() => s.term(11), RangeError);
  s.dropThrough(10);
  assert.equal(s.size, 0);
  assert.equal(s.lastIndex, 10);
  assert.throws(() => s.entry(10), RangeError);
  s.push(entry(11, 3));
  same(s.entry(11), entry(11, 3));
});

test('an entry handed out stays intact while later entries fill, drop and refill the store', () => {
  const s = new SettledEntries(1);
  for (let i = 1; i <= 3000; i++) s.push(entry(i, 150));
  const held = [s.entry(1), s.entry(1500), s.entry(3000)];
  s.dropThrough(2999);
  for (let i = 3001; i <= 12_000; i++) s.push(entry(i, 150));
  s.dropThrough(11_000);
  same(held[0]!, entry(1, 150));
  same(held[1]!, entry(1500, 150));
  same(held[2]!, entry(3000, 150));
  same(s.entry(11_001), entry(11_001, 150));
  same(s.entry(12_000), entry(12_000, 150));
});

test('reset drops everything and starts again at the given index', () => {
  const s = new SettledEntries(1);
  for (let i = 1; i <= 50; i++) s.push(entry(i, 20));
  s.reset(1000);
  assert.equal(s.size, 0);
  assert.equal(s.lastIndex, 999);
  s.push(entry(1000, 20));
  same(s.entry(1000), entry(1000, 20));
});

test('any sequence of pushes, drops and resets reads back as a plain array of the entries would', () => {
  type Op = { kind: 'push'; lengths: number[] } | { kind: 'drop'; fraction: number } | { kind: 'reset'; gap: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('push' as const), lengths: fc.array(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 60_000, max: 300_000 })), { maxLength: 40 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('drop' as const), fraction: fc.integer({ min: 0, max: 120 }).map((p) => p / 100) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), gap: fc.integer({ min: 0, max: 100 }) }) },
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(op, { maxLength: 40 }), (start, ops) => {
      const s = new SettledEntries(start);
      let model: Entry[] = [];
      let next = start;
      for (const o of ops) {
        if (o.kind === 'push') {
          for (const length of o.lengths) {
            const e = entry(next++, length, 1 + (next % 5));
            s.push(e);
            model.push(e);
          }
        } else if (o.kind === 'drop') {
          const through = next - 1 - Math.floor(model.length * (1 - o.fraction));
          s.dropThrough(through);
          model = model.filter((e) => e.index > through);
        } else {
          next += o.gap;
          s.reset(next);
          model = [];
        }
        assert.equal(s.size, model.length);
        assert.equal(s.lastIndex, next - 1);
        for (const e of model) same(s.entry(e.index), e);
      }
    }),
    { numRuns: 200 },
  );
});
