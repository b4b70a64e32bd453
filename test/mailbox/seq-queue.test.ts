import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { SeqQueue, StoredMessage } from '../../src/mailbox/seq-queue.js';
import { heapUsedAfterGc } from '../support/heap.js';

function msg(seq: number, expiresAt = 1000 + seq, idLength = 0, deliveries = 0): StoredMessage {
  return new StoredMessage(seq, idLength, seq * 10, seq % 7, 500 + seq, expiresAt, deliveries);
}

function fields(m: StoredMessage | undefined): unknown {
  return m === undefined ? undefined : { ...m, recordLength: m.recordLength };
}

function contents(q: SeqQueue): unknown[] {
  return Array.from(q, fields);
}

function removedBy(f: (removed: (m: StoredMessage) => void) => number): { count: number; removed: number[] } {
  const removed: number[] = [];
  const count = f((m) => removed.push(m.seq));
  return { count, removed };
}

test('an empty queue reads as empty', () => {
  const q = new SeqQueue();
  assert.equal(q.size, 0);
  assert.equal(q.bytes, 0);
  assert.equal(q.at(0), undefined);
  assert.equal(q.shift(), undefined);
  assert.equal(q.earliestExpiry(), Infinity);
  assert.deepEqual(contents(q), []);
  assert.equal(q.clear(() => assert.fail('nothing to clear')), 0);
});

test('messages come out as they went in, every field, through growth past the exact-size stage', () => {
  const q = new SeqQueue();
  const all = Array.from({ length: 50 }, (_, i) => new StoredMessage(i + 1, i % 3 === 0 ? 1 + (i % 128) : 0, 1e12 + i, i, 1.7e12 + i / 4, 1.8e12 + i, i % 5));
  for (const m of all) q.push(m);
  assert.equal(q.size, 50);
  assert.equal(q.bytes, all.reduce((n, m) => n + m.bodyLength, 0));
  assert.deepEqual(contents(q), all.map(fields));
  assert.deepEqual(fields(q.at(49)), fields(all[49]));
  assert.equal(q.at(50), undefined);
  assert.equal(q.at(-1), undefined);
  for (const m of all) assert.deepEqual(fields(q.shift()), fields(m));
  assert.equal(q.size, 0);
  assert.equal(q.bytes, 0);
});

test('a message read from the queue is a copy: changing it does not change the queue', () => {
  const q = new SeqQueue();
  q.push(msg(1));
  q.at(0)!.deliveries = 9;
  assert.equal(q.at(0)!.deliveries, 0);
});

test('the consumed prefix is dropped as the head moves on, without losing or reordering messages', () => {
  const q = new SeqQueue();
  for (let i = 1; i <= 5000; i++) q.push(msg(i, 1e9, i % 2 === 0 ? 6 : 0));
  for (let i = 1; i <= 3000; i++) assert.equal(q.shift()!.seq, i);
  for (let i = 5001; i <= 6000; i++) q.push(msg(i, 1e9));
  assert.equal(q.size, 3000);
  const seqs = Array.from(q, (m) => m.seq);
  assert.deepEqual(seqs, Array.from({ length: 3000 }, (_, i) => i + 3001));
  assert.equal(q.at(0)!.idLength, 0);
  assert.equal(q.at(1)!.idLength, 6);
});

test('insertBySeq puts a message at the head (reusing the slot before it), in the middle, at the tail', () => {
  const q = new SeqQueue();
  for (const s of [1, 2, 4, 6]) q.push(msg(s));
  const first = q.shift()!;
  q.insertBySeq(msg(5, 1005, 4));
  q.insertBySeq(msg(3));
  q.insertBySeq(msg(7));
  q.insertBySeq(first);
  assert.deepEqual(Array.from(q, (m) => m.seq), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(q.at(4)!.idLength, 4);
  assert.equal(q.at(0)!.idLength, 0);
  assert.equal(q.bytes, [1, 2, 3, 4, 5, 6, 7].reduce((n, s) => n + (s % 7), 0));
  const empty = new SeqQueue();
  empty.insertBySeq(msg(9));
  assert.deepEqual(Array.from(empty, (m) => m.seq), [9]);
});

test('removeExpired takes an expired prefix when expiries are ordered', () => {
  const q = new SeqQueue();
  for (let s = 1; s <= 6; s++) q.push(msg(s, 100 * s));
  assert.deepEqual(removedBy((r) => q.removeExpired(300, r)), { count: 3, removed: [1, 2, 3] });
  assert.deepEqual(Array.from(q, (m) => m.seq), [4, 5, 6]);
  assert.equal(q.earliestExpiry(), 400);
  assert.equal(q.bytes, 4 + 5 + 6);
});

test('removeExpired scans when expiries are out of order, keeping the rest in order with their id lengths', () => {
  const q = new SeqQueue();
  const expiries = [500, 100, 600, 200, 700];
  expiries.forEach((e, i) => q.push(msg(i + 1, e, i === 2 ? 4 : i === 1 ? 9 : 0)));
  assert.equal(q.earliestExpiry(), 100);
  assert.deepEqual(removedBy((r) => q.removeExpired(200, r)), { count: 2, removed: [2, 4] });
  assert.deepEqual(Array.from(q, (m) => [m.seq, m.idLength]), [[1, 0], [3, 4], [5, 0]]);
  assert.equal(q.earliestExpiry(), 500);
  assert.deepEqual(removedBy((r) => q.removeExpired(1000, r)), { count: 3, removed: [1, 3, 5] });
  assert.equal(q.size, 0);
  assert.equal(q.bytes, 0);
});

test('insertBySeq out of expiry order makes the sweep scan', () => {
  const q = new SeqQueue();
  q.push(msg(1, 100));
  q.push(msg(3, 300));
  q.insertBySeq(msg(2, 50));
  assert.equal(q.earliestExpiry(), 50);
  assert.deepEqual(removedBy((r) => q.removeExpired(60, r)), { count: 1, removed: [2] });
});

test('id and body lengths share a column exactly, up to the largest either can be', () => {
  // The image bounds an id at u16 and a body at u32 lengths; every path in and out of the columns.
  const big = (seq: number, idLength: number, bodyLength: number, expiresAt = 1e9): StoredMessage =>
    new StoredMessage(seq, idLength, 2 ** 40 + seq, bodyLength, 1.7e12, expiresAt, 3);
  const cases = [big(1, 0xffff, 2 ** 32 - 1), big(2, 0, 2 ** 32 - 1), big(3, 0xffff, 0), big(4, 1, 1), big(5, 0, 0)];
  const q = new SeqQueue();
  for (const m of cases) q.push(m);
  assert.deepEqual(contents(q), cases.map(fields));
  assert.deepEqual(contents(q.copy()), cases.map(fields));
  const first = q.shift()!;
  assert.deepEqual(fields(first), fields(cases[0]));
  q.insertBySeq(first);
  assert.deepEqual(contents(q), cases.map(fields));
  q.insertBySeq(big(6, 0xfffe, 2 ** 32 - 2, 1)); // out of expiry order: the sweep scans and rewrites the columns
  assert.deepEqual(removedBy((r) => q.removeExpired(2, r)).removed, [6]);
  assert.deepEqual(contents(q), cases.map(fields));
  assert.equal(q.bytes, cases.reduce((n, m) => n + m.bodyLength, 0));
});

test('copy is independent of the queue it was made from', () => {
  const q = new SeqQueue();
  for (let s = 1; s <= 4; s++) q.push(msg(s, 1000, s === 2 ? 3 : 0));
  q.shift();
  const c = q.copy();
  q.shift();
  q.insertBySeq(msg(1));
  q.push(msg(9));
  assert.deepEqual(Array.from(c, (m) => [m.seq, m.idLength]), [[2, 3], [3, 0], [4, 0]]);
  assert.equal(c.bytes, 2 + 3 + 4);
  assert.equal(new SeqQueue().copy().size, 0);
});

test('copyTo fills an empty queue (a mailbox is one) with an independent copy, and refuses a queue that holds messages', () => {
  const q = new SeqQueue();
  for (let s = 1; s <= 5; s++) q.push(msg(s, 2000 - s));
  q.shift();
  const target = new SeqQueue();
  assert.equal(q.copyTo(target), target);
  q.shift();
  q.push(msg(9));
  assert.deepEqual(contents(target), [2, 3, 4, 5].map((s) => fields(msg(s, 2000 - s))));
  assert.equal(target.earliestExpiry(), 1995, 'the copy keeps knowing that its expiries are out of order');
  target.push(msg(10));
  assert.deepEqual(contents(q).map((m) => (m as StoredMessage).seq), [3, 4, 5, 9]);
  assert.throws(() => q.copyTo(target), /not empty/);
  assert.equal(new SeqQueue().copyTo(new SeqQueue()).size, 0);
});

test('the queue behaves as a sorted array of messages under any sequence of operations', () => {
  type Op =
    | { kind: 'push'; expires: number; id: boolean }
    | { kind: 'shift' }
    | { kind: 'return'; pick: number }
    | { kind: 'expire'; now: number }
    | { kind: 'clear' }
    | { kind: 'copy' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('push' as const), expires: fc.integer({ min: 0, max: 100 }), id: fc.boolean() }) },
    { weight: 3, arbitrary: fc.constant({ kind: 'shift' as const }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('return' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), now: fc.integer({ min: 0, max: 100 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('copy' as const) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), fc.boolean(), (ops, sameTtl) => {
      let q = new SeqQueue();
      let model: StoredMessage[] = [];
      const out: StoredMessage[] = []; // taken, as by a lease, to come back later
      let seq = 0;
      for (const o of ops) {
        if (o.kind === 'push') {
          seq++;
          const m = new StoredMessage(seq, o.id ? 1 + (seq % 128) : 0, seq, seq % 13, seq, sameTtl ? seq + 50 : o.expires, seq % 4);
          q.push(m);
          model.push(m);
        } else if (o.kind === 'shift') {
          const m = q.shift();
          assert.deepEqual(fields(m), fields(model.shift()));
          if (m !== undefined) out.push(m);
        } else if (o.kind === 'return') {
          if (out.length === 0) continue;
          const [m] = out.splice(o.pick % out.length, 1);
          q.insertBySeq(m!);
          model.push(m!);
          model.sort((a, b) => a.seq - b.seq);
        } else if (o.kind === 'expire') {
          const gone: number[] = [];
          assert.equal(q.removeExpired(o.now, (m) => gone.push(m.seq)), gone.length);
          assert.deepEqual(gone, model.filter((m) => m.expiresAt <= o.now).map((m) => m.seq));
          model = model.filter((m) => m.expiresAt > o.now);
        } else if (o.kind === 'copy') {
          q = seq % 2 === 0 ? q.copy() : q.copyTo(new SeqQueue());
        } else {
          const gone: number[] = [];
          assert.equal(q.clear((m) => gone.push(m.seq)), model.length);
          assert.deepEqual(gone, model.map((m) => m.seq));
          model = [];
        }
        assert.equal(q.size, model.length);
        assert.equal(q.bytes, model.reduce((n, m) => n + m.bodyLength, 0));
        assert.equal(q.earliestExpiry(), Math.min(Infinity, ...model.map((m) => m.expiresAt)));
      }
      assert.deepEqual(contents(q), model.map(fields));
      model.forEach((m, i) => assert.deepEqual(fields(q.at(i)), fields(m)));
    }),
    { numRuns: 300 },
  );
});

test('a queued message costs its columns, not an object, and its client id nothing (it is in the body store): under 80 heap bytes each in a long queue (48 and room the array grows into; an object each was over 120, an id string 56 more), under 200 bytes for a queue of one (an object each was over 230)', () => {
  const N = 100_000;
  let before = heapUsedAfterGc();
  const long = new SeqQueue();
  for (let i = 1; i <= N; i++) long.push(new StoredMessage(i, 36, i * 100, 100, 1.7e12 + i, 1.8e12 + i, 0));
  const afterLong = heapUsedAfterGc();
  const perLong = (afterLong - before) / N;
  assert.ok(perLong < 80, `${perLong.toFixed(1)} B per message in a long queue`);
  before = afterLong;
  const singles = Array.from({ length: N }, (_, i) => {
    const q = new SeqQueue();
    q.push(new StoredMessage(i + 1, i % 2 === 0 ? 36 : 0, i * 100, 100, 1.7e12 + i, 1.8e12 + i, 0));
    return q;
  });
  const perSingle = (heapUsedAfterGc() - before) / N;
  assert.ok(perSingle < 200, `${perSingle.toFixed(1)} B per queue of one message`);
  assert.equal(long.size + singles.length, 2 * N);
});
