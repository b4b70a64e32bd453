// The loop pacer (replies and ingress): a burst of replies resolved together no longer holds the event loop for the
// whole burst (a timer runs between turns), replies go in the order they asked, and a lone reply
// waits for nothing.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { LoopPacer } from '../../src/bridge/loop-pacer.js';
import { EventLoopGaps } from '../../src/verify/event-loop-gaps.js';
import { busy } from '../support/busy.js';

/** 300 requests resolved in one microtask checkpoint, each reply costing 1 ms; the longest event-loop gap meanwhile. */
async function burst(pacer: LoopPacer | null): Promise<{ gapMs: number; order: number[] }> {
  const order: number[] = [];
  let release!: () => void;
  const committed = new Promise<void>((r) => (release = r));
  const replies = Array.from({ length: 300 }, async (_, i) => {
    await committed;
    const reply = async () => {
      busy(1);
      order.push(i);
    };
    await (pacer === null ? reply() : pacer.send(reply));
  });
  await new Promise((r) => setTimeout(r, 20));
  const gaps = new EventLoopGaps(undefined, 1);
  release();
  await Promise.all(replies);
  return { gapMs: gaps.stop(), order };
}

test('a burst of 300 one-millisecond replies leaves the loop free between turns, in arrival order', async (t) => {
  const unpaced = await burst(null);
  const paced = await burst(new LoopPacer(5));
  const report = `longest gap unpaced ${unpaced.gapMs.toFixed(0)} ms, paced ${paced.gapMs.toFixed(0)} ms`;
  t.diagnostic(report);
  // Unpaced, the whole burst is one turn of the loop.
  assert.ok(unpaced.gapMs >= 290, report);
  // Paced, a turn is 5 ms of replies and one more; the rest is room for a loaded machine.
  assert.ok(paced.gapMs < 100, report);
  const inOrder = Array.from({ length: 300 }, (_, i) => i);
  assert.deepEqual(unpaced.order, inOrder);
  assert.deepEqual(paced.order, inOrder);
});

test('replies within the turn budget start at once, in the turn they were handed over', async () => {
  const pacer = new LoopPacer(50);
  let turnEnded = false;
  setImmediate(() => (turnEnded = true));
  const started: boolean[] = [];
  await Promise.all(Array.from({ length: 10 }, () => pacer.send(async () => started.push(turnEnded))));
  assert.deepEqual(started, Array(10).fill(false), 'ten quick replies in one turn');
  assert.equal(pacer.waiting, 0);
});

test('a reply that fails, or throws before its first await, fails its own send only', async () => {
  const pacer = new LoopPacer(0); // every reply after the first waits for a turn of its own
  const throwing = (() => {
    throw new Error('sync');
  }) as () => Promise<void>;
  const results = await Promise.allSettled([
    pacer.send(throwing),
    pacer.send(async () => 1),
    pacer.send(async () => {
      throw new Error('async');
    }),
    pacer.send(throwing),
    pacer.send(async () => 4),
  ]);
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    ['sync', 1, 'async', 'sync', 4],
  );
});

test('synchronous work runs now within the budget, later past it, in order; a throw reaches the caller of work run now', async () => {
  const pacer = new LoopPacer(0); // the first piece of a turn runs at once, every later one in a turn of its own
  const order: number[] = [];
  for (let i = 0; i < 5; i++) pacer.run(() => order.push(i));
  assert.deepEqual(order, [0], 'only the first ran at once');
  assert.equal(pacer.waiting, 4);
  await new Promise((r) => setImmediate(r));
  assert.ok(pacer.waiting >= 1 && pacer.waiting <= 3, `${pacer.waiting} waiting after the next turn`);
  while (pacer.waiting > 0) await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  await new Promise((r) => setImmediate(r));
  assert.throws(
    () =>
      pacer.run(() => {
        throw new Error('sync');
      }),
    /sync/,
  );
});
