import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBodyStore } from '../../src/mailbox/body-store.js';
import { appendRecord, deliveryOf, derivedId, RecordReader } from '../../src/mailbox/message-record.js';
import { StoredMessage } from '../../src/mailbox/seq-queue.js';

function stored(store: MemoryBodyStore, seq: number, id: string | null, body: Uint8Array): StoredMessage {
  const { ref, idLength } = appendRecord(store, id, body);
  return new StoredMessage(seq, idLength, ref, body.length, 10, 20, 1);
}

test('a record holds the id, then the body; a delivery reads both back, an id of none as @<seq>', () => {
  const store = new MemoryBodyStore();
  const withId = stored(store, 7, 'order-é1', Uint8Array.from([1, 2, 3]));
  const without = stored(store, 8, null, Uint8Array.from([4]));
  const emptyBody = stored(store, 9, 'k', new Uint8Array(0));
  assert.equal(withId.idLength, 9, 'UTF-8 bytes, not characters');
  assert.equal(withId.recordLength, 12);
  assert.equal(without.idLength, 0);
  assert.deepEqual(deliveryOf(withId, store), { id: 'order-é1', seq: 7, body: Uint8Array.from([1, 2, 3]), enqueuedAt: 10, expiresAt: 20, deliveries: 1 });
  assert.equal(deliveryOf(without, store).id, derivedId(8));
  assert.equal(derivedId(8), '@8');
  assert.deepEqual([...deliveryOf(without, store).body], [4]);
  assert.deepEqual(deliveryOf(emptyBody, store).body.length, 0);
  assert.equal(deliveryOf(emptyBody, store).id, 'k');
  assert.equal(store.usage().liveBytes, 12 + 1 + 1, 'the store counts whole records');
  store.release(withId.bodyRef, withId.recordLength);
  assert.throws(() => deliveryOf(withId, store), /holds no body/, 'a released record cannot be delivered');
});

test('a delivery does not change when its record is released afterwards', () => {
  const store = new MemoryBodyStore();
  const m = stored(store, 1, 'a', Uint8Array.from([9, 9]));
  const d = deliveryOf(m, store);
  store.release(m.bodyRef, m.recordLength);
  assert.deepEqual([d.id, [...d.body]], ['a', [9, 9]]);
});

test('a record reader reuses its buffer for small records and gives a large one a buffer of its own', () => {
  const store = new MemoryBodyStore();
  const small = stored(store, 1, 'id1', Uint8Array.from([1]));
  const small2 = stored(store, 2, 'id22', Uint8Array.from([2, 2]));
  const large = stored(store, 3, 'big', new Uint8Array(100_000).fill(7));
  const reader = new RecordReader(store);
  const a = reader.record(small);
  assert.deepEqual([...a], [...new TextEncoder().encode('id1'), 1]);
  const b = reader.record(small2);
  assert.equal(a.buffer, b.buffer, 'the same buffer, read again');
  assert.deepEqual([...b], [...new TextEncoder().encode('id22'), 2, 2]);
  const c = reader.record(large);
  assert.equal(c.length, 100_003);
  assert.notEqual(c.buffer, b.buffer);
  assert.equal(reader.record(small).buffer, b.buffer, 'the large record did not replace the kept buffer');
});
