// The leader's periodic expiry sweep: proposed only while leading; refusals from Raft (lost
// leadership, no quorum) are expected and quiet, anything else is reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpirySweep } from '../../src/node/expiry-sweep.js';
import { RaftError } from '../../src/raft/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('sweeps periodically while leading, not before and not after', async () => {
  let sweeps = 0;
  const sweep = new ExpirySweep(5, async () => void sweeps++, { debug() {}, info() {}, warn() {}, error() {} });
  await sleep(30);
  assert.equal(sweeps, 0);
  sweep.setLeading(true);
  sweep.setLeading(true);
  await sleep(60);
  sweep.setLeading(false);
  assert.ok(sweeps >= 2, `swept ${sweeps} times`);
  const stoppedAt = sweeps;
  await sleep(30);
  assert.equal(sweeps, stoppedAt);
  assert.equal(sweep.running, false);
});

test('a Raft refusal is quiet, any other failure is logged', async () => {
  const warnings: string[] = [];
  let fail: Error = new RaftError('NOT_LEADER', 'stepped down');
  const sweep = new ExpirySweep(5, async () => Promise.reject(fail), {
    debug() {},
    info() {},
    error() {},
    warn: (_o, msg) => void warnings.push(msg ?? ''),
  });
  sweep.setLeading(true);
  await sleep(30);
  assert.deepEqual(warnings, []);
  fail = new Error('bug');
  await sleep(30);
  sweep.setLeading(false);
  assert.ok(warnings.length >= 1 && warnings.every((w) => w === 'expiry sweep failed'));
});
