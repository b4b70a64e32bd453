import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare, groupRatio, ratio } from '../../../bench/e2e/comparison.js';
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

test('a Forge row of another client has its own group, compared with the peers of its phase', () => {
  const python = { ...row('forge', 'put', 16, 1500), client: 'Python client' };
  const c = compare([row('forge', 'put', 16, 3000), python, row('rabbitmq', 'put', 16, 6000), row('nats', 'consume', 16, 100)]);
  assert.deepEqual(
    c.groups.map((g) => `${g.phase}@${g.inFlight}:${Object.keys(g.bySystem).join('+')}`),
    ['put@16:forge+rabbitmq', 'put, Python client@16:forge', 'consume@16:nats'],
  );
  const own = c.groups[1]!;
  assert.equal(own.bySystem.forge, python);
  assert.equal(groupRatio(own, 'rabbitmq'), 0.25);
  assert.equal(groupRatio(c.groups[0]!, 'rabbitmq'), 0.5);
  // No peer row in its phase (nor a consume of its own): no ratio.
  assert.equal(groupRatio(own, 'nats'), null);
  // Without a zenoh-ts row of the phase, nothing else appears.
  const alone = compare([python, row('etcd', 'put', 256, 10)]);
  assert.deepEqual(alone.groups.map((g) => g.phase), ['put, Python client', 'put']);
  assert.equal(groupRatio(alone.groups[0]!, 'etcd'), null);
});
