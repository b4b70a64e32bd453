import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coalescer, type Waiting } from '../../src/bridge/coalescer.js';

/** A coalescer whose sends are recorded and answered with each item doubled. */
function recording(limits: { maxItems: number; maxBytes: number }) {
  const batches: number[][] = [];
  const coalescer = new Coalescer<number, number>(limits, (batch: Waiting<number, number>[]) => {
    batches.push(batch.map((w) => w.item));
    for (const w of batch) w.resolve(w.item * 2);
  });
  return { batches, coalescer };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('requests made in one turn of the event loop go out together, in order, each with its own answer', async () => {
  const { batches, coalescer } = recording({ maxItems: 10, maxBytes: 1000 });
  const first = [1, 2, 3].map((n) => coalescer.add(n, 1));
  assert.deepEqual(batches, [], 'nothing is sent in the turn the requests are made');
  assert.deepEqual(await Promise.all(first), [2, 4, 6]);
  const second = coalescer.add(4, 1);
  await nextTurn();
  assert.equal(await second, 8);
  assert.deepEqual(batches, [[1, 2, 3], [4]]);
});

test('reaching the count sends at once; a request that would pass the byte bound sends the waiting ones first', async () => {
  const { batches, coalescer } = recording({ maxItems: 2, maxBytes: 10 });
  const answers = [coalescer.add(1, 1), coalescer.add(2, 1), coalescer.add(3, 1)];
  assert.deepEqual(batches, [[1, 2]], 'the second request filled the batch');
  await Promise.all(answers);
  assert.deepEqual(batches, [[1, 2], [3]]);
  batches.length = 0;
  const bytes = [coalescer.add(10, 6), coalescer.add(11, 6)];
  assert.deepEqual(batches, [[10]], '6 + 6 bytes pass the bound of 10');
  await Promise.all(bytes);
  assert.deepEqual(batches, [[10], [11]]);
});

test('a send that throws rejects every request of its batch, and the next batch is sent as usual', async () => {
  let fail = true;
  const coalescer = new Coalescer<number, number>({ maxItems: 10, maxBytes: 100 }, (batch) => {
    if (fail) throw new Error('no session');
    for (const w of batch) w.resolve(w.item);
  });
  const refused = await Promise.allSettled([coalescer.add(1, 1), coalescer.add(2, 1)]);
  assert.deepEqual(refused.map((r) => r.status), ['rejected', 'rejected']);
  fail = false;
  assert.equal(await coalescer.add(3, 1), 3);
});
