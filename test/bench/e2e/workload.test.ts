// The levels every system of the end-to-end benchmark runs (bench/e2e/workload.ts).

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { levelsOf, type Workload } from '../../../bench/e2e/workload.js';

const work = (warmUpSeconds: number, levels: number[]): Workload => ({
  seconds: 5,
  warmUpSeconds,
  levels,
  users: ['u'],
  body: new Uint8Array(100),
  batchSizes: [],
  batchFill: 1,
  batchConcurrency: 1,
});

test('a warm-up at the first level comes first and is the only level not recorded', () => {
  assert.deepEqual(levelsOf(work(3, [16, 256])), [
    { inFlight: 16, seconds: 3, warmUp: true },
    { inFlight: 16, seconds: 5, warmUp: false },
    { inFlight: 256, seconds: 5, warmUp: false },
  ]);
});

test('no warm-up with --warm-up 0, and none without levels', () => {
  assert.deepEqual(levelsOf(work(0, [16])), [{ inFlight: 16, seconds: 5, warmUp: false }]);
  assert.deepEqual(levelsOf(work(3, [])), []);
});
