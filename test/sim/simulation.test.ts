// The deterministic simulation as a test: many seeds of chaos over the real driver must keep
// every safety invariant, recover liveness once faults heal, and produce a linearizable history,
// and a seed must replay exactly. (That the same checks catch deliberate bugs is
// test/sim/mutations.test.ts.)

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { runSimulation } from '../../src/sim/cluster.js';
import { checkLinearizable, type Op } from '../../src/sim/linearizability.js';

const SEEDS = 1000;
const STEPS = 300;

test(`simulation: ${SEEDS} seeds of crashes, partitions, lossy networks, compaction and membership changes stay safe and live`, async () => {
  const failures: string[] = [];
  const totals = { acknowledgedWrites: 0, readsServed: 0, snapshotsSent: 0, crashes: 0, membershipChanges: 0, transfers: 0 };
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await runSimulation({ seed, nodes: seed % 2 === 0 ? 3 : 5, steps: STEPS });
    if (!r.ok) failures.push(`seed ${seed}: ${r.error}`);
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r[k];
  }
  assert.deepEqual(failures, []);
  // The chaos really happened and every feature really got exercised.
  const t = JSON.stringify(totals);
  assert.ok(totals.acknowledgedWrites > SEEDS * 10, t);
  assert.ok(totals.readsServed > SEEDS * 2, t);
  assert.ok(totals.snapshotsSent > SEEDS, t);
  assert.ok(totals.crashes > SEEDS * 3, t);
  assert.ok(totals.membershipChanges > SEEDS, t);
  assert.ok(totals.transfers > SEEDS / 10, t);
});

test('simulation: a seed replays exactly', async () => {
  const a = await runSimulation({ seed: 42, nodes: 5, steps: STEPS });
  const b = await runSimulation({ seed: 42, nodes: 5, steps: STEPS });
  assert.deepEqual(a, b);
});

test('linearizability checker: accepts a valid history and rejects stale reads, lost and reordered writes', () => {
  const w = (value: number, invokedAt: number, respondedAt?: number, position?: number): Op =>
    ({ kind: 'write', value, invokedAt, ...(respondedAt === undefined ? {} : { respondedAt, position }) });
  const r = (invokedAt: number, respondedAt: number, result: number[]): Op => ({ kind: 'read', invokedAt, respondedAt, result });
  const ok = [w(1, 0, 5, 0), w(2, 1, 6, 1), r(7, 8, [1, 2]), w(3, 9)];
  assert.equal(checkLinearizable(ok, [1, 2, 3]), null);
  assert.equal(checkLinearizable(ok, [1, 2]), null, 'an unacknowledged write may be lost');
  assert.match(checkLinearizable([w(1, 0, 5, 0), r(6, 7, [])], [1])!, /read of length 0/, 'stale read');
  assert.match(checkLinearizable([w(1, 0, 5, 0)], [])!, /not in the log/, 'lost acknowledged write');
  assert.match(checkLinearizable([w(1, 0, 1, 1), w(2, 2, 3, 0)], [2, 1])!, /write 1 finished/, 'real-time order');
  assert.match(checkLinearizable([r(0, 1, [9])], [1])!, /saw 9/, 'read of a value never written there');
  assert.match(checkLinearizable([], [4, 4])!, /applied twice/);
});
