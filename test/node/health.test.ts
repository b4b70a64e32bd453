import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { liveness, readiness, type HealthState } from '../../src/node/health.js';

const limits = { maxTickSilenceMs: 10_000, maxApplyLag: 1000 };
const serving: HealthState = {
  halted: null,
  sinceLastTickMs: 50,
  stopping: false,
  term: 7,
  leader: 'n2',
  commitIndex: 500,
  appliedIndex: 498,
  installingSnapshot: false,
  routerConnected: true,
};

test('a serving follower is live and ready, every check named', () => {
  const live = liveness(serving, limits);
  assert.deepEqual(live, { ok: true, checks: { not_halted: 'ok', raft_loop: 'ok' }, failed: [] });
  const ready = readiness(serving, limits);
  assert.equal(ready.ok, true);
  assert.deepEqual(Object.keys(ready.checks).sort(), ['caught_up', 'leader_known', 'no_snapshot_install', 'not_halted', 'not_stopping', 'raft_loop', 'router_session']);
});

test('during an election (no leader known) a node stays live but is not ready', () => {
  const electing = { ...serving, term: 8, leader: null };
  assert.equal(liveness(electing, limits).ok, true);
  const ready = readiness(electing, limits);
  assert.deepEqual(ready.failed, ['leader_known']);
  assert.match(ready.checks.leader_known!, /no leader known in term 8/);
});

test('a halted node fails liveness (and readiness), naming the storage failure', () => {
  const halted = { ...serving, halted: 'ENOSPC: no space left on device' };
  const live = liveness(halted, limits);
  assert.deepEqual(live.failed, ['not_halted']);
  assert.match(live.checks.not_halted!, /ENOSPC/);
  assert.ok(readiness(halted, limits).failed.includes('not_halted'));
});

test('a Raft loop that stopped ticking (or never ticked) fails liveness; a short silence does not', () => {
  assert.equal(liveness({ ...serving, sinceLastTickMs: 9_000 }, limits).ok, true);
  assert.deepEqual(liveness({ ...serving, sinceLastTickMs: 10_001 }, limits).failed, ['raft_loop']);
  assert.deepEqual(liveness({ ...serving, sinceLastTickMs: null }, limits).failed, ['raft_loop']);
});

test('readiness fails while catching up, installing a snapshot, without a router session or while stopping; liveness holds', () => {
  const cases: Array<[Partial<HealthState>, string]> = [
    [{ appliedIndex: 400, commitIndex: 1401 }, 'caught_up'],
    [{ installingSnapshot: true }, 'no_snapshot_install'],
    [{ routerConnected: false }, 'router_session'],
    [{ stopping: true }, 'not_stopping'],
  ];
  for (const [change, check] of cases) {
    const s = { ...serving, ...change };
    assert.deepEqual(readiness(s, limits).failed, [check], JSON.stringify(change));
    assert.equal(liveness(s, limits).ok, true, JSON.stringify(change));
  }
  assert.equal(readiness({ ...serving, appliedIndex: 400, commitIndex: 1400 }, limits).ok, true, 'at the limit is caught up');
});
