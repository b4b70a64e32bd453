// The memory body store: as strict as a file store (a released body cannot be read or released
// again), with a hold keeping released bodies readable until it ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBodyStore } from '../../src/mailbox/body-store.js';

test('bodies come back as copies; a released body is gone, and releasing it again is an error', () => {
  const store = new MemoryBodyStore();
  const body = Uint8Array.of(1, 2, 3);
  const ref = store.append(body);
  body[0] = 9;
  const read = store.read(ref, 3);
  assert.deepEqual(read, Uint8Array.of(1, 2, 3), 'the store kept its own copy');
  read[1] = 9;
  const into = new Uint8Array(5);
  store.readInto(ref, 3, into, 1);
  assert.deepEqual(into, Uint8Array.of(0, 1, 2, 3, 0));
  assert.throws(() => store.read(ref, 2), /holds no body of 2 bytes at ref/, 'wrong length');
  assert.deepEqual(store.usage(), { liveBytes: 3, storedBytes: 3 });
  store.release(ref, 3);
  assert.throws(() => store.read(ref, 3), /holds no body/);
  assert.throws(() => store.release(ref, 3), /holds no body/);
  assert.deepEqual(store.usage(), { liveBytes: 0, storedBytes: 0 });
});

test('under a hold a released body stays readable (not releasable) until the last hold ends', () => {
  const store = new MemoryBodyStore();
  const ref = store.append(Uint8Array.of(7, 7));
  const unhold = store.hold();
  store.release(ref, 2);
  assert.deepEqual(store.read(ref, 2), Uint8Array.of(7, 7));
  assert.throws(() => store.release(ref, 2), /holds no body/);
  assert.deepEqual(store.usage(), { liveBytes: 0, storedBytes: 2 });
  unhold();
  assert.throws(() => store.read(ref, 2), /holds no body/);
  assert.deepEqual(store.usage(), { liveBytes: 0, storedBytes: 0 });
});
