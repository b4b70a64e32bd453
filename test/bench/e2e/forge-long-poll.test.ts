import { test } from 'node:test';
import assert from 'node:assert/strict';
import { longPollClusterOptions, longPollRow, LONG_POLL_WAIT_MS } from '../../../bench/e2e/forge-long-poll.js';

const figures = {
  consumers: 2000,
  parked: 1990,
  peak: 1990,
  answeredEarly: {},
  outcomes: { message: 2000 },
  delivered: 2000,
  distinct: 2000,
  latencyMs: Array.from({ length: 200 }, (_, i) => i + 1),
};

test('the long poll row has the wake-up latency percentiles, no rate, and says what became of the parked consumers', () => {
  const row = longPollRow(figures);
  assert.equal(row.system, 'forge');
  assert.equal(row.phase, 'long poll');
  assert.equal(row.inFlight, 1);
  assert.equal(row.figures.count, 200);
  assert.ok(Number.isNaN(row.figures.opsPerSec));
  assert.equal(row.figures.p50, 101);
  assert.equal(row.figures.p99, 199);
  assert.match(row.note, /200 samples, max 200\.0 ms, taken after 1990 of 2000/);
  assert.match(row.note, /consumers were parked on the leader \(peak 1990\), 0 answered before any put, 2000 then answered with a message \(2000 distinct\)/);
});

test('the long poll row names the early answers by outcome when there are some', () => {
  const row = longPollRow({ ...figures, answeredEarly: { BUSY: 16 }, outcomes: { message: 1984, BUSY: 16 } });
  assert.match(row.note, /16 answered before any put \{"BUSY":16\}, 1984 then answered/);
});

test('the cluster options let consumers wait the whole wait and hold as many as asked', () => {
  assert.deepEqual(longPollClusterOptions(20_000), { mailbox: { maxConsumeWaitMs: LONG_POLL_WAIT_MS }, zenoh: { maxParkedConsumers: 20_000 } });
});
