import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RaftCore } from '../../src/raft/core.js';
import { EntryType, RaftError, type AppendRequest, type Entry, type Message } from '../../src/raft/types.js';
import { entryBytes } from '../../src/raft/log.js';
import { bytes, config, emptyState, flush, TestCluster, sent, text } from './core-harness.js';

const entry = (index: number, term: number, data = ''): Entry => ({ index, term, type: EntryType.Normal, time: 0, data: bytes(data) });

function appendsIn(msgs: Message[]): AppendRequest[] {
  return msgs.filter((m): m is AppendRequest => m.type === 'append');
}

/** A follower `c` whose durable log holds `entries`, at `term`. */
function follower(entries: Entry[], term: number, commit = 0): RaftCore {
  return new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term, vote: null, commit }, entries });
}

test('§5.3 a leader replicates proposals and commits them once a majority stored them', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.core('a').propose(bytes('x'), { wall: 1000, mono: 0 });
  c.core('a').propose(bytes('y'), { wall: 1001, mono: 1 });
  c.settle();
  for (const id of ['a', 'b', 'c']) assert.deepEqual(c.appliedData(id), ['x', 'y'], id);
  assert.equal(c.applied.get('b')!.at(-1)!.time, 1001, 'the leader time travels with the entry');
});

test('§5.3 a follower rejects an append whose previous entry does not match, with a conflict hint', () => {
  const core = follower([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)], 2);
  core.step({ type: 'append', from: 'a', to: 'c', term: 3, prevLogIndex: 4, prevLogTerm: 3, entries: [], commit: 0 });
  const resp = sent(flush(core))[0]!;
  assert.deepEqual(resp, {
    type: 'appendResp', from: 'c', to: 'a', term: 3, success: false, index: 4, conflictTerm: 2, conflictIndex: 3,
  });
  core.step({ type: 'append', from: 'a', to: 'c', term: 3, prevLogIndex: 9, prevLogTerm: 3, entries: [], commit: 0 });
  const short = sent(flush(core))[0]!;
  assert.ok(short.type === 'appendResp' && !short.success && short.conflictTerm === 0 && short.conflictIndex === 5);
});

test('§5.3 conflicting entries on a follower are deleted and replaced by the leader\'s', () => {
  const core = follower([entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'stale')], 1);
  core.step({
    type: 'append', from: 'a', to: 'c', term: 2, prevLogIndex: 2, prevLogTerm: 1,
    entries: [entry(3, 2, 'new'), entry(4, 2, 'more')], commit: 0,
  });
  const rd = flush(core);
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[3, 2], [4, 2]]);
  assert.equal(core.status().lastIndex, 4);
});

test('§5.3 fast backtracking: one round trip per conflicting term, not per entry', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  for (let i = 0; i < 20; i++) c.core('a').propose(bytes(`v${i}`));
  c.settle();
  // c misses a whole term of entries written by a leader nobody else saw.
  c.isolate('c');
  c.restart('c');
  const rejections: number[] = [];
  c.drop = (m) => {
    if (m.type === 'appendResp' && !m.success) rejections.push(m.index);
    return false;
  };
  for (let i = 0; i < 30; i++) c.core('a').propose(bytes(`w${i}`));
  c.settle();
  c.heal();
  c.tick('a');
  c.settle();
  assert.ok(rejections.length <= 2, `rejections: ${rejections}`);
  assert.equal(c.appliedData('c').length, 50);
});

test('§5.4.2 a leader never commits an entry of an earlier term by counting replicas (Figure 8)', () => {
  // a was leader in term 2 and wrote entry 2 (term 2) only to itself; a new leader in term 3 got it
  // replicated to a majority: entry 2 must not commit until an entry of term 3 is on a majority.
  const entries = [entry(1, 1, 'one'), entry(2, 2, 'two')];
  const leader = new RaftCore(config('a'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: 'a', commit: 1 }, entries });
  for (let i = 0; i < 10; i++) leader.tick();
  flush(leader);
  leader.step({ type: 'voteResp', from: 'b', to: 'a', term: 3, preVote: false, granted: true });
  assert.equal(leader.status().role, 'leader');
  flush(leader);
  // b acknowledges entry 2 (the old-term entry), not the new no-op at 3.
  leader.step({ type: 'appendResp', from: 'b', to: 'a', term: 3, success: true, index: 2, conflictTerm: 0, conflictIndex: 0 });
  assert.equal(leader.status().commit, 1, 'old-term entry is on a majority but not committed by counting');
  leader.step({ type: 'appendResp', from: 'b', to: 'a', term: 3, success: true, index: 3, conflictTerm: 0, conflictIndex: 0 });
  assert.equal(leader.status().commit, 3, 'committing the term-3 no-op commits entry 2 with it');
});

test('durability: a leader counts its own log toward a quorum only after the caller persisted it', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const a = c.core('a');
  const { index } = a.propose(bytes('x'));
  const rd = a.ready();
  // One follower acknowledges before the leader's own write is durable: 1 of 3 is no majority.
  a.step({ type: 'appendResp', from: 'b', to: 'a', term: 1, success: true, index, conflictTerm: 0, conflictIndex: 0 });
  assert.ok(a.status().commit < index);
  a.advance(rd);
  assert.equal(a.status().commit, index);
});

test('durability: a follower acknowledges entries in the same Ready that hands them out for persisting', () => {
  const core = follower([], 1);
  core.step({ type: 'append', from: 'a', to: 'c', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, 1, 'x')], commit: 0 });
  const rd = core.ready();
  assert.equal(rd.entries.length, 1);
  assert.ok(sent(rd).some((m) => m.type === 'appendResp' && m.success && m.index === 1));
});

test('durability: a restarted node holds exactly what it synced', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.core('a').propose(bytes('x'));
  c.settle();
  c.restart('b');
  const st = c.core('b').status();
  assert.equal(st.term, 1);
  assert.equal(st.lastIndex, 2);
  assert.equal(st.commit, 2);
  assert.equal(st.applied, 0, 'the state machine is rebuilt by re-applying from the snapshot');
  assert.equal(c.core('b').ready().committedEntries.length, 2);
});

test('pipelining: in replicate state at most maxInflightMsgs appends are unacknowledged per follower', () => {
  const c = new TestCluster(['a', 'b', 'c'], { maxInflightMsgs: 3, maxEntriesPerMsg: 1 });
  c.elect('a');
  const a = c.core('a');
  c.settle();
  for (let i = 0; i < 10; i++) a.propose(bytes(`v${i}`));
  const toB = appendsIn(sent(flush(a))).filter((m) => m.to === 'b');
  assert.equal(toB.length, 3, 'flow control stops at the inflight limit');
  assert.deepEqual(toB.map((m) => m.entries.length), [1, 1, 1], 'maxEntriesPerMsg batches');
  a.step({ type: 'appendResp', from: 'b', to: 'a', term: 1, success: true, index: toB[0]!.entries[0]!.index, conflictTerm: 0, conflictIndex: 0 });
  assert.equal(appendsIn(sent(flush(a))).filter((m) => m.to === 'b').length, 1, 'one slot freed, one more sent');
});

test('batching: an append carries as many entries as fit in maxBytesPerMsg and maxEntriesPerMsg (at least one)', () => {
  const firstBatch = (maxBytesPerMsg: number, maxEntriesPerMsg: number): number[] => {
    const entries = [1, 2, 3, 4, 5].map((i) => ({ ...entry(i, 1), data: new Uint8Array(i === 3 ? 500 : 40) }));
    const a = new RaftCore(config('a', { maxBytesPerMsg, maxEntriesPerMsg }), { ...emptyState(['a', 'b']), hardState: { term: 1, vote: null, commit: 0 }, entries });
    for (let i = 0; i < 10; i++) a.tick();
    flush(a);
    a.step({ type: 'voteResp', from: 'b', to: 'a', term: 2, preVote: false, granted: true });
    flush(a);
    // b has nothing: it rejects the probe, and the leader retries from index 1 in one batch.
    a.step({ type: 'appendResp', from: 'b', to: 'a', term: 2, success: false, index: 5, conflictTerm: 0, conflictIndex: 1 });
    return appendsIn(sent(flush(a)))[0]!.entries.map((e) => e.index);
  };
  assert.deepEqual(firstBatch(150, 64), [1, 2], 'two 64-byte entries fit in 150 bytes');
  assert.deepEqual(firstBatch(1 << 20, 4), [1, 2, 3, 4], 'entry count limit');
  assert.deepEqual(firstBatch(10, 64), [1], 'an entry larger than the limit still goes, alone');
});

/** The appends to b of the next Ready, after `n` proposals by a settled leader a. */
function appendsToB(overrides: Parameters<typeof config>[1], proposals: Uint8Array[]): AppendRequest[] {
  const c = new TestCluster(['a', 'b', 'c'], overrides);
  c.elect('a');
  c.settle();
  const a = c.core('a');
  for (const p of proposals) a.propose(p);
  return appendsIn(sent(flush(a))).filter((m) => m.to === 'b');
}

/** Each append starts where the one before it ended, and together they carry exactly `count` entries. */
function contiguous(appends: AppendRequest[], count: number): void {
  for (let i = 1; i < appends.length; i++) {
    const prev = appends[i - 1]!;
    assert.equal(appends[i]!.prevLogIndex, prev.prevLogIndex + prev.entries.length, `append ${i} follows append ${i - 1}`);
    assert.equal(appends[i]!.prevLogTerm, prev.entries.at(-1)!.term);
  }
  const indexes = appends.flatMap((m) => m.entries.map((e) => e.index));
  assert.deepEqual(indexes, Array.from({ length: count }, (_, i) => appends[0]!.prevLogIndex + 1 + i));
}

test('batching: proposals made before the next Ready join the append still queued for each follower, one message per follower', () => {
  const ten = Array.from({ length: 10 }, (_, i) => bytes(`v${i}`));
  const one = appendsToB({}, ten);
  assert.equal(one.length, 1, 'one append to b, not one per proposal');
  contiguous(one, 10);
  assert.deepEqual(one[0]!.entries.map((e) => text(e.data)), ten.map(text));
  // The bounds of a message still hold: count...
  const byCount = appendsToB({ maxEntriesPerMsg: 4 }, ten);
  assert.deepEqual(byCount.map((m) => m.entries.length), [4, 4, 2]);
  contiguous(byCount, 10);
  // ...and bytes (an entry of a 40-byte body costs more than 40 bytes: three fit in 200, not four).
  const byBytes = appendsToB({ maxBytesPerMsg: 200 }, Array.from({ length: 7 }, () => new Uint8Array(40)));
  assert.ok(byBytes.length >= 3, `${byBytes.length} appends`);
  for (const m of byBytes) assert.ok(m.entries.reduce((n, e) => n + entryBytes(e), 0) <= 200, 'within maxBytesPerMsg');
  contiguous(byBytes, 7);
  // An entry over the bound goes alone, as before.
  const big = appendsToB({ maxBytesPerMsg: 200 }, [new Uint8Array(10), new Uint8Array(500), new Uint8Array(10)]);
  assert.deepEqual(big.map((m) => m.entries.map((e) => e.data.length)), [[10], [500], [10]]);
});

test('batching: an extended append keeps its one place in the pipeline, and carries the commit index as it is when the Ready is taken', () => {
  // One append in flight at most: before batching, the second and third proposals waited for its answer.
  const c = new TestCluster(['a', 'b', 'c'], { maxInflightMsgs: 1 });
  c.elect('a');
  c.settle();
  const a = c.core('a');
  for (const v of ['x', 'y', 'z']) a.propose(bytes(v));
  const first = appendsIn(sent(flush(a))).filter((m) => m.to === 'b');
  assert.deepEqual(first.map((m) => m.entries.map((e) => text(e.data))), [['x', 'y', 'z']]);
  // b's answer commits all three (with a's own log); a's next append to b is paused no more and says so.
  const last = first[0]!.entries.at(-1)!.index;
  a.step({ type: 'appendResp', from: 'b', to: 'a', term: a.status().term, success: true, index: last, conflictTerm: 0, conflictIndex: 0 });
  a.propose(bytes('w'));
  const next = appendsIn(sent(flush(a))).filter((m) => m.to === 'b');
  assert.equal(next.length, 1, 'the commit-only append and the new entry are one message');
  assert.deepEqual(next[0]!.entries.map((e) => text(e.data)), ['w']);
  assert.equal(next[0]!.commit, last);
  assert.equal(next[0]!.prevLogIndex, last);
});

test('batching: only the last message queued for a follower is extended, so its messages keep their order', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.settle();
  const a = c.core('a');
  a.propose(bytes('x'));
  a.tick(); // heartbeatTick 1: a heartbeat to every follower, after the append of x
  a.propose(bytes('y'));
  const toB = sent(flush(a)).filter((m) => m.to === 'b');
  assert.deepEqual(toB.map((m) => (m.type === 'append' ? `append ${m.entries.map((e) => text(e.data)).join()}` : m.type)), ['append x', 'heartbeat', 'append y']);
});

test('flow control: proposals beyond maxUncommittedBytes are refused with BACKLOG_FULL', () => {
  const c = new TestCluster(['a', 'b', 'c'], { maxUncommittedBytes: 200 });
  c.elect('a');
  c.isolate('a');
  const a = c.core('a');
  a.propose(new Uint8Array(100));
  assert.throws(() => a.propose(new Uint8Array(100)), (e: unknown) => e instanceof RaftError && e.code === 'BACKLOG_FULL');
  c.heal();
  c.tick('a');
  c.settle();
  assert.doesNotThrow(() => a.propose(new Uint8Array(100)), 'room again once committed');
});

test('a follower refuses proposals with NOT_LEADER and names the leader', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  assert.throws(
    () => c.core('b').propose(bytes('x')),
    (e: unknown) => e instanceof RaftError && e.code === 'NOT_LEADER' && e.leaderHint === 'a',
  );
});

test('a malformed append (entries not following prevLogIndex) is ignored', () => {
  const core = follower([], 1);
  core.step({ type: 'append', from: 'a', to: 'c', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(5, 1)], commit: 0 });
  assert.equal(core.status().lastIndex, 0);
});

test('§5.3 appends lost in pipelined (replicate) mode are detected on the next heartbeat answer and resent', () => {
  const c = new TestCluster(['a', 'b', 'c'], { maxInflightMsgs: 2 });
  c.elect('a');
  c.drop = (m) => m.type === 'append' && m.to === 'b';
  for (let i = 0; i < 5; i++) c.core('a').propose(bytes(`v${i}`));
  c.settle();
  assert.equal(c.core('b').status().lastIndex, 1, 'b missed everything after the no-op');
  c.drop = () => false;
  c.tick('a');
  c.tick('a');
  assert.deepEqual(c.appliedData('b'), ['v0', 'v1', 'v2', 'v3', 'v4']);
});

test('§4.2.1 a learner\'s acknowledgement does not count toward the commit quorum', () => {
  const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
  c.elect('a');
  c.core('a').proposeConfChange({ type: 'addLearner', node: 'd' });
  c.settle();
  c.isolate('b');
  c.isolate('c');
  const { index } = c.core('a').propose(bytes('x'));
  c.settle();
  assert.equal(c.core('d').status().lastIndex, index, 'the learner has it');
  assert.ok(c.core('a').status().commit < index, 'leader + learner is not a majority of the voters');
});

test('§5.1 a stale leader learns the newer term from a follower\'s answer and steps down', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const b = c.core('b');
  // b moved on to term 5 (say, a leader nobody else saw); a's next heartbeat is answered with term 5.
  b.step({ type: 'heartbeat', from: 'c', to: 'b', term: 5, commit: 0, round: 0 });
  c.tick('a');
  assert.equal(c.core('a').status().role, 'follower');
  assert.equal(c.core('a').status().term, 5);
});
