// The leader's handoff after losing its Zenoh router: after the grace period, once per cool-down,
// and never while the router is up or this node does not lead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouterLossHandoff } from '../../src/node/router-loss-handoff.js';

function setup(moved = true) {
  const world = { connected: true, leader: true, clock: 1_000_000, transfers: 0, warnings: [] as string[] };
  const handoff = new RouterLossHandoff({
    routerConnected: () => world.connected,
    isLeader: () => world.leader,
    transferLeadership: async () => {
      world.transfers++;
      return moved;
    },
    log: { debug() {}, info() {}, error() {}, warn: (_o, msg) => void world.warnings.push(msg ?? '') },
    now: () => world.clock,
    graceMs: 3000,
    cooldownMs: 15_000,
  });
  return { world, handoff };
}

test('a leader hands over once its router has been gone for the grace period', () => {
  const { world, handoff } = setup();
  handoff.check();
  world.connected = false;
  handoff.check();
  world.clock += 2999;
  handoff.check();
  assert.equal(world.transfers, 0, 'not within the grace period');
  world.clock += 1;
  handoff.check();
  assert.equal(world.transfers, 1);
});

test('no second handoff within the cool-down, another after it', () => {
  const { world, handoff } = setup();
  world.connected = false;
  handoff.check();
  world.clock += 3000;
  handoff.check();
  world.clock += 14_999;
  handoff.check();
  assert.equal(world.transfers, 1);
  world.clock += 1;
  handoff.check();
  assert.equal(world.transfers, 2);
});

test('the grace period restarts when the router comes back, and a follower never hands over', () => {
  const { world, handoff } = setup();
  world.connected = false;
  handoff.check();
  world.clock += 2000;
  world.connected = true;
  handoff.check();
  world.connected = false;
  world.clock += 1000;
  handoff.check();
  world.clock += 2000;
  handoff.check();
  assert.equal(world.transfers, 0, 'only 2000 ms since the router went away again');
  world.leader = false;
  world.clock += 60_000;
  handoff.check();
  assert.equal(world.transfers, 0);
});

test('a handoff that does not complete is reported', async () => {
  const { world, handoff } = setup(false);
  world.connected = false;
  handoff.check();
  world.clock += 3000;
  handoff.check();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(world.warnings, [
    'leader has no Zenoh router: handing leadership over',
    'leadership handoff after router loss did not complete',
  ]);
});
