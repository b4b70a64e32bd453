import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare, ratio } from '../../../bench/e2e/comparison.js';
import type { Row, System } from '../../../bench/e2e/rows.js';

const row = (system: System, phase: string, inFlight: number, opsPerSec: number): Row => ({
  system,
  phase,
  inFlight,
  figures: { count: 1, opsPerSec, p50: 1, p99: 2 },
  note: '',
});

test('compare groups rows by phase and number in flight, in the order first measured, and lists the systems in their fixed order', () => {
  const rows = [
    row('forge', 'put', 16, 3000),
    row('forge', 'consume', 16, 4000),
    row('forge', 'put', 256, 12000),
    row('etcd', 'put', 16, 800),
    row('rabbitmq', 'put', 16, 6000),
    row('rabbitmq', 'consume max=16', 16, 9000),
  ];
  const c = compare(rows);
  assert.deepEqual(c.systems, ['forge', 'rabbitmq', 'etcd']);
  assert.deepEqual(
    c.groups.map((g) => `${g.phase}@${g.inFlight}:${Object.keys(g.bySystem).join('+')}`),
    ['put@16:forge+etcd+rabbitmq', 'consume@16:forge', 'put@256:forge', 'consume max=16@16:rabbitmq'],
  );
  assert.equal(c.groups[0]!.bySystem.rabbitmq!.figures.opsPerSec, 6000);
});

test('ratio is Forge over the peer, and null without both figures or with a peer at 0', () => {
  assert.equal(ratio(row('forge', 'put', 16, 3000), row('rabbitmq', 'put', 16, 6000)), 0.5);
  assert.equal(ratio(row('forge', 'put', 16, 3000), undefined), null);
  assert.equal(ratio(undefined, row('nats', 'put', 16, 6000)), null);
  assert.equal(ratio(row('forge', 'put', 16, 3000), row('nats', 'put', 16, 0)), null);
});
