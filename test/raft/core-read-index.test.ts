import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RaftCore } from '../../src/raft/core.js';
import { EntryType, RaftError, type HeartbeatRequest, type ReadState } from '../../src/raft/types.js';
import { config, emptyState, flush, TestCluster, sent } from './core-harness.js';

function readStates(c: TestCluster, id: string): ReadState[] {
  return c.readys.get(id)!.flatMap((rd) => rd.readStates);
}

test('§6.4 a read is confirmed by one heartbeat round and reports the commit index at arrival', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.core('a').readIndex(7);
  c.settle();
  assert.deepEqual(readStates(c, 'a'), [{ index: 1, context: 7 }]);
});

test('§6.4 many reads share one heartbeat round', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const a = c.core('a');
  a.readIndex(1);
  a.readIndex(2);
  a.readIndex(3);
  const heartbeats = sent(flush(a)).filter((m): m is HeartbeatRequest => m.type === 'heartbeat');
  assert.equal(heartbeats.length, 2, 'one heartbeat per follower for all three reads');
  assert.ok(heartbeats.every((h) => h.round === 1));
  a.step({ type: 'heartbeatResp', from: 'b', to: 'a', term: 1, round: 1 });
  assert.deepEqual(flush(a).readStates.map((r) => r.context), [1, 2, 3]);
});

test('§6.4 a read arriving after the round left waits for the next round', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const a = c.core('a');
  a.readIndex(1);
  flush(a);
  a.readIndex(2);
  const hb = sent(flush(a)).filter((m): m is HeartbeatRequest => m.type === 'heartbeat');
  assert.ok(hb.every((h) => h.round === 2));
  a.step({ type: 'heartbeatResp', from: 'b', to: 'a', term: 1, round: 1 });
  assert.deepEqual(flush(a).readStates.map((r) => r.context), [1], 'an answer to round 1 does not confirm a read of round 2');
  a.step({ type: 'heartbeatResp', from: 'c', to: 'a', term: 1, round: 2 });
  assert.deepEqual(flush(a).readStates.map((r) => r.context), [2]);
});

test('§6.4 a new leader serves no read before an entry of its own term is committed', () => {
  const entries = [1, 2].map((index) => ({ index, term: 1, type: EntryType.Normal, time: 0, data: new Uint8Array() }));
  const a = new RaftCore(config('a'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 1, vote: null, commit: 1 }, entries });
  for (let i = 0; i < 10; i++) a.tick();
  flush(a);
  a.step({ type: 'voteResp', from: 'b', to: 'a', term: 2, preVote: false, granted: true });
  flush(a);
  a.readIndex(9);
  assert.equal(sent(flush(a)).some((m) => m.type === 'heartbeat'), false, 'held back until the no-op commits');
  a.step({ type: 'appendResp', from: 'b', to: 'a', term: 2, success: true, index: 3, conflictTerm: 0, conflictIndex: 0 });
  const rd = flush(a);
  const hb = sent(rd).find((m): m is HeartbeatRequest => m.type === 'heartbeat');
  assert.ok(hb, 'the round starts once the no-op committed');
  a.step({ type: 'heartbeatResp', from: 'b', to: 'a', term: 2, round: hb.round });
  assert.deepEqual(flush(a).readStates, [{ index: 3, context: 9 }]);
});

test('§6.4 a deposed leader cut off from the majority never confirms a read', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('a');
  c.core('a').readIndex(5);
  // b and c stop hearing from a; their leases expire and one of them takes over.
  c.tick('c', 5);
  const winner = () => ['b', 'c'].find((id) => c.core(id).status().role === 'leader');
  for (let i = 0; i < 100 && !winner(); i++) {
    c.tick('b');
    c.tick('c');
    c.tick('a');
  }
  const next = winner();
  assert.ok(next, 'the majority elected a new leader');
  assert.equal(c.core('a').status().role, 'leader', 'a still believes it leads');
  assert.deepEqual(readStates(c, 'a'), []);
  const other = next === 'b' ? 'c' : 'b';
  assert.throws(() => c.core(other).readIndex(6), (e: unknown) => e instanceof RaftError && e.code === 'NOT_LEADER' && e.leaderHint === next);
});

test('§6.4 a single-voter cluster confirms reads without a round trip', () => {
  const a = new RaftCore(config('a'), emptyState(['a']));
  for (let i = 0; i < 10; i++) a.tick();
  flush(a);
  a.readIndex(4);
  assert.deepEqual(flush(a).readStates, [{ index: 1, context: 4 }]);
});
