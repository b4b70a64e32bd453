// The leader's handoff after losing its Zenoh router, on a fake clock: the grace is counted from
// when the router was last heard (not from when the loss was noticed) and from the election, one
// handoff per outage, a new outage may hand over again, a failed handoff is retried, and never
// while the router is up or this node does not lead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouterLossHandoff } from '../../src/node/router-loss-handoff.js';

function setup(moved = true) {
  const world = { downSince: null as number | null, leader: true, clock: 1_000_000, transfers: 0, warnings: [] as string[] };
  const handoff = new RouterLossHandoff({
    routerDownSince: () => world.downSince,
    isLeader: () => world.leader,
    transferLeadership: async () => {
      world.transfers++;
      return moved;
    },
    log: { debug() {}, info() {}, error() {}, warn: (_o, msg) => void world.warnings.push(msg ?? '') },
    now: () => world.clock,
    graceMs: 500,
  });
  return { world, handoff };
}

test('the grace counts from when the router was last heard, not from when the loss was noticed', () => {
  const { world, handoff } = setup();
  handoff.check();
  world.clock += 10_000; // leading for a while
  // The bridge notices a silent link 700 ms after the last pong: the grace is already over.
  world.downSince = world.clock - 700;
  handoff.check();
  assert.equal(world.transfers, 1);
});

test('a closed link hands over once the grace has passed', () => {
  const { world, handoff } = setup();
  handoff.check();
  world.downSince = world.clock;
  handoff.check();
  world.clock += 499;
  handoff.check();
  assert.equal(world.transfers, 0, 'not within the grace period');
  world.clock += 1;
  handoff.check();
  assert.equal(world.transfers, 1);
});

test('one handoff per outage, however long; a new outage hands over again', () => {
  const { world, handoff } = setup();
  handoff.check();
  world.downSince = world.clock;
  world.clock += 500;
  handoff.check();
  // Leadership came back to this node (every router down): it does not hand over again.
  for (let i = 0; i < 100; i++) {
    world.clock += 1000;
    handoff.check();
  }
  assert.equal(world.transfers, 1);
  world.downSince = null;
  handoff.check();
  world.downSince = world.clock;
  world.clock += 500;
  handoff.check();
  assert.equal(world.transfers, 2);
});

test('a router back within the grace means no handoff, and a follower never hands over', () => {
  const { world, handoff } = setup();
  world.downSince = world.clock;
  world.clock += 400;
  handoff.check();
  world.downSince = null;
  world.clock += 1000;
  handoff.check();
  assert.equal(world.transfers, 0);
  world.leader = false;
  world.downSince = world.clock;
  world.clock += 60_000;
  handoff.check();
  assert.equal(world.transfers, 0);
});

test('a handoff that does not complete is reported and tried again', async () => {
  const { world, handoff } = setup(false);
  handoff.check();
  world.downSince = world.clock;
  world.clock += 500;
  handoff.check();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(world.warnings, [
    'leader has no Zenoh router: handing leadership over',
    'leadership handoff after router loss did not complete',
  ]);
  handoff.check();
  assert.equal(world.transfers, 2);
});

test('a node elected while its router is down gets the grace from its election', () => {
  const { world, handoff } = setup();
  world.leader = false;
  // Started 2 s ago, its first session still not open.
  world.downSince = world.clock - 2000;
  handoff.check();
  world.leader = true;
  handoff.check();
  world.clock += 499;
  handoff.check();
  assert.equal(world.transfers, 0, 'leading for less than the grace');
  world.clock += 1;
  handoff.check();
  assert.equal(world.transfers, 1);
});

test('start checks every 25 ms by default', async () => {
  let checks = 0;
  const handoff = new RouterLossHandoff({
    routerDownSince: () => {
      checks++;
      return null;
    },
    isLeader: () => true,
    transferLeadership: async () => true,
    log: { debug() {}, info() {}, error() {}, warn() {} },
  });
  handoff.start();
  await new Promise((r) => setTimeout(r, 260));
  handoff.stop();
  // 10 at 25 ms; a loaded machine delays timers, never runs them early.
  assert.ok(checks >= 3 && checks <= 11, `${checks} checks in 260 ms`);
});
