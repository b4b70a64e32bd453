import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PendingHandshakes, type PendingEntry } from '../../src/raft/pending-handshakes.js';

function entries(evicted: string[]) {
  return (address: string, name: string): PendingEntry => ({ address, evict: () => evicted.push(name) });
}

test('a newcomer from an address at its cap evicts that address\'s oldest, not anyone else\'s', () => {
  const evicted: string[] = [];
  const make = entries(evicted);
  const p = new PendingHandshakes({ perAddress: 2, total: 10 });
  const peer = make('10.0.0.1', 'peer');
  p.admit(peer);
  p.admit(make('10.0.0.9', 'x1'));
  p.admit(make('10.0.0.9', 'x2'));
  p.admit(make('10.0.0.9', 'x3'));
  p.admit(make('10.0.0.9', 'x4'));
  assert.deepEqual(evicted, ['x1', 'x2']);
  assert.equal(p.size, 3);
  assert.equal(p.evicted, 2);
});

test('at the total cap the oldest of all is evicted; released entries free their places', () => {
  const evicted: string[] = [];
  const make = entries(evicted);
  const p = new PendingHandshakes({ perAddress: 2, total: 3 });
  const a = make('a', 'a');
  p.admit(a);
  p.admit(make('b', 'b'));
  p.admit(make('c', 'c'));
  p.admit(make('d', 'd'));
  assert.deepEqual(evicted, ['a']);
  p.release(a); // already gone: no effect
  const e = make('e', 'e');
  p.admit(e);
  assert.deepEqual(evicted, ['a', 'b']);
  p.release(e);
  p.admit(make('f', 'f'));
  assert.deepEqual(evicted, ['a', 'b'], 'a released place is reused without evicting');
  assert.equal(p.size, 3);
});

test('limits are validated', () => {
  assert.throws(() => new PendingHandshakes({ perAddress: 0, total: 4 }), RangeError);
  assert.throws(() => new PendingHandshakes({ perAddress: 5, total: 4 }), RangeError);
});
