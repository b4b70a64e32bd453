// MapFront: the oldest entry of a Map losing entries from the front, through a kept iterator,
// and the same answers as a walk from the start when the front changed some other way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MapFront } from '../../src/mailbox/map-front.js';

const v = (n: number) => ({ n });

test('first is the oldest entry and dropFirst goes on from it, past entries added meanwhile', () => {
  const m = new Map([['a', v(1)], ['b', v(2)]]);
  const f = new MapFront<{ n: number }>();
  assert.equal(f.first(m)?.[0], 'a');
  f.dropFirst(m);
  m.set('c', v(3));
  assert.equal(f.first(m)?.[0], 'b');
  f.dropFirst(m);
  assert.equal(f.first(m)?.[0], 'c');
  f.dropFirst(m);
  assert.equal(f.first(m), undefined);
  assert.equal(m.size, 0);
  // Emptied, then filled again: the exhausted iterator is replaced.
  m.set('d', v(4));
  assert.equal(f.first(m)?.[0], 'd');
});

test('a first entry deleted, moved to the end or replaced elsewhere is looked up again from the front', () => {
  const m = new Map([['a', v(1)], ['b', v(2)], ['c', v(3)]]);
  const f = new MapFront<{ n: number }>();
  assert.equal(f.first(m)?.[0], 'a');
  m.delete('a');
  m.set('a', v(9)); // now last
  assert.equal(f.first(m)?.[0], 'b');
  m.set('b', v(8)); // replaced in place: still first, with its new value
  assert.deepEqual(f.first(m), ['b', { n: 8 }]);
  m.delete('b');
  assert.equal(f.first(m)?.[0], 'c');
  // Another map: its own front.
  assert.equal(f.first(new Map([['z', v(0)]]))?.[0], 'z');
});

test('dropping the front of a large table stays cheap (no walk over deleted entries)', () => {
  const m = new Map<string, { n: number }>();
  for (let i = 0; i < 300_000; i++) m.set(`k${i}`, v(i));
  const f = new MapFront<{ n: number }>();
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) {
    f.first(m);
    f.dropFirst(m);
    m.set(`n${i}`, v(i));
  }
  const ms = performance.now() - t0;
  console.log(`100,000 front drops of a 300,000-entry Map: ${ms.toFixed(0)} ms`);
  // From the start each time this is minutes; generous for a loaded machine.
  assert.ok(ms < 5_000, `${ms} ms`);
  assert.equal(f.first(m)?.[0], 'k100000');
});

test('at walks past the first without dropping, and sees entries set after a walk reached the end', () => {
  const m = new Map([['a', v(1)], ['b', v(2)]]);
  const f = new MapFront<{ n: number }>();
  assert.deepEqual([f.at(m, 0)?.[0], f.at(m, 1)?.[0], f.at(m, 2)], ['a', 'b', undefined]);
  m.set('c', v(3));
  assert.equal(f.at(m, 2)?.[0], 'c');
  f.dropFirst(m);
  assert.deepEqual([f.at(m, 0)?.[0], f.at(m, 1)?.[0]], ['b', 'c']);
  m.delete('c');
  assert.equal(f.at(m, 1), undefined);
  assert.deepEqual([...m.keys()], ['b']);
});
