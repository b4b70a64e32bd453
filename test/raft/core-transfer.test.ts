import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RaftError } from '../../src/raft/types.js';
import { bytes, TestCluster } from './core-harness.js';

test('§3.10 leadership transfer: the target is caught up, sent TimeoutNow, and wins the next term', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: true, checkQuorum: true });
  c.elect('a');
  let timeoutNowSent = 0;
  c.drop = (m) => {
    if (m.type === 'timeoutNow') timeoutNowSent++;
    return false;
  };
  c.core('a').transferLeadership('c');
  c.settle();
  assert.equal(timeoutNowSent, 1);
  assert.equal(c.core('c').status().role, 'leader');
  assert.equal(c.core('c').status().term, 2);
  assert.equal(c.core('a').status().leader, 'c');
});

test('§3.10 leadership transfer: a lagging target first receives the missing entries', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('c');
  c.core('a').propose(bytes('x'));
  c.settle();
  c.heal();
  c.core('a').transferLeadership('c');
  c.settle();
  assert.equal(c.core('c').status().role, 'leader');
  assert.deepEqual(c.appliedData('c'), ['x']);
});

test('§3.10 leadership transfer: proposals are refused while it is in progress', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('c');
  c.core('a').transferLeadership('c');
  assert.throws(
    () => c.core('a').propose(bytes('x')),
    (e: unknown) => e instanceof RaftError && e.code === 'TRANSFER_IN_PROGRESS' && e.leaderHint === 'c',
  );
});

test('§3.10 leadership transfer: aborted after an election timeout if the target does not take over', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('c');
  c.core('a').transferLeadership('c');
  c.tick('a', 10);
  assert.equal(c.core('a').status().role, 'leader');
  assert.doesNotThrow(() => c.core('a').propose(bytes('x')));
});

test('§3.10 leadership transfer: only to a voter, only by the leader', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  assert.throws(() => c.core('a').transferLeadership('z'), (e: unknown) => e instanceof RaftError && e.code === 'INVALID_REQUEST');
  assert.throws(() => c.core('b').transferLeadership('c'), (e: unknown) => e instanceof RaftError && e.code === 'NOT_LEADER');
});
