// The stall watch: a blocked event loop is reported once, with its length, and the garbage
// collections that ran inside it are counted; short gaps are not reported.
import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { LoopStallWatch, type LoopStall } from '../../src/node/loop-stall-watch.js';
import { fullGc } from '../support/heap.js';

function block(ms: number, during?: () => void): void {
  const until = performance.now() + ms;
  while (performance.now() < until) during?.();
}


test('a loop blocked 300 ms is one stall of about that length; gaps under the threshold are not reported', async () => {
  const stalls: LoopStall[] = [];
  const watch = new LoopStallWatch({ thresholdMs: 150, intervalMs: 10, onStall: (s) => stalls.push(s) });
  try {
    await sleep(50);
    block(60);
    await sleep(50);
    assert.equal(stalls.length, 0, `a 60 ms gap is under the threshold: ${JSON.stringify(stalls)}`);
    block(300);
    await sleep(80);
    assert.equal(stalls.length, 1, JSON.stringify(stalls));
    const s = stalls[0]!;
    assert.ok(s.stallMs >= 300 && s.stallMs < 300 + 200, `stall of ${s.stallMs} ms`);
    assert.ok(Math.abs(s.to - s.from - s.stallMs) < 1e-6);
  } finally {
    watch.stop();
  }
});

test('collections inside a stall are counted and their pauses summed', async () => {
  const gc = fullGc();
  const stalls: LoopStall[] = [];
  // A heap worth collecting, so that each full collection takes measurable time. Built before the
  // watch starts: on a busy machine building it was a stall of its own (150 ms, ten collections).
  const keep = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `x${i}` }));
  const watch = new LoopStallWatch({ thresholdMs: 150, intervalMs: 10, onStall: (s) => stalls.push(s) });
  try {
    await sleep(50);
    block(250); // only the collections the allocator runs by itself (scavenges of the timing loop)
    await sleep(80);
    let forced = 0;
    block(250, () => {
      if (forced < 3) {
        forced++;
        gc();
      }
    });
    await sleep(80);
    assert.equal(stalls.length, 2, JSON.stringify(stalls));
    const [plain, collected] = stalls as [LoopStall, LoopStall];
    assert.ok(collected.gcCount >= 3, JSON.stringify(stalls));
    assert.ok(collected.gcMs > plain.gcMs && collected.gcMs < collected.stallMs, JSON.stringify(stalls));
  } finally {
    watch.stop();
  }
  assert.equal(keep.length, 300_000);
});

test('a stopped watch reports nothing more', async () => {
  const stalls: LoopStall[] = [];
  const watch = new LoopStallWatch({ thresholdMs: 100, intervalMs: 10, onStall: (s) => stalls.push(s) });
  await sleep(30);
  watch.stop();
  block(200);
  await sleep(60);
  assert.deepEqual(stalls, []);
});
