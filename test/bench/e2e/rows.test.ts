import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drainNote, perMessage, rowLine } from '../../../bench/e2e/rows.js';

test('perMessage keeps the batch requests elapsed time and latencies, and rates the messages taken over it', () => {
  // 50 requests at 100/s took 0.5 s; 800 messages in 0.5 s are 1,600/s.
  const f = perMessage({ count: 50, opsPerSec: 100, p50: 3, p99: 9 }, 800);
  assert.deepEqual(f, { count: 800, opsPerSec: 1600, p50: 3, p99: 9 });
});

test('perMessage of a phase that made no request rates it 0, not NaN', () => {
  assert.equal(perMessage({ count: 0, opsPerSec: 0, p50: NaN, p99: NaN }, 0).opsPerSec, 0);
});

test('drainNote says what was taken, and only mentions leftovers and empty replies when there are some', () => {
  assert.equal(drainNote(100, 100, 0, 0), 'took 100 of 100');
  assert.equal(drainNote(100, 90, 10, 2), 'took 90 of 100, 10 purged after the time limit, 2 unexpected empty replies');
});

test('rowLine prints a row with its note', () => {
  const line = rowLine({ system: 'rabbitmq', phase: 'put', inFlight: 16, figures: { count: 10, opsPerSec: 6046.4, p50: 2.4, p99: 4.71 }, note: 'confirm channel' });
  assert.equal(line, 'rabbitmq put 16 in flight: 6046 msg/s, p50 2.40 ms, p99 4.71 ms (confirm channel)');
});

test('rowLine of a row without a rate prints only its latencies', () => {
  const line = rowLine({ system: 'forge', phase: 'long poll', inFlight: 1, figures: { count: 200, opsPerSec: NaN, p50: 29.04, p99: 165.2 }, note: '' });
  assert.equal(line, 'forge long poll 1 in flight: p50 29.04 ms, p99 165.20 ms');
});

test('rowLine names the client of a row driven by another one', () => {
  const line = rowLine({ system: 'forge', client: 'Python client', phase: 'put', inFlight: 16, figures: { count: 10, opsPerSec: 1947.2, p50: 7.77, p99: 18 }, note: '4 processes' });
  assert.equal(line, 'forge (Python client) put 16 in flight: 1947 msg/s, p50 7.77 ms, p99 18.00 ms (4 processes)');
});
