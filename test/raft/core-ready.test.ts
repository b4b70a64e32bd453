// The durability rules the core hands its driver in each Ready (see Ready in types.ts): what must
// be synced, which messages may leave before the write and which only after it, and whether
// committed entries may be applied before the write.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RaftCore } from '../../src/raft/core.js';
import { snapshotDigest } from '../../src/raft/digest.js';
import { EntryType, InvariantViolation, type Entry } from '../../src/raft/types.js';
import { RaftLog } from '../../src/raft/log.js';
import { bytes, config, emptyState, flush, sent } from './core-harness.js';

const entry = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, time: 0, data: bytes('x') });
const types = (ms: { type: string }[]) => ms.map((m) => m.type);

/** A single-voter leader in term 1 whose term and vote are already durable. */
function soloLeader(): RaftCore {
  const core = new RaftCore(config('a'), emptyState(['a']));
  core.tick();
  for (let i = 0; i < 30 && core.status().role !== 'leader'; i++) core.tick();
  flush(core);
  return core;
}

test('a candidate sends its vote requests only after its new term and vote are written', () => {
  const core = new RaftCore(config('a'), emptyState(['a', 'b', 'c']));
  for (let i = 0; i < 30 && core.status().role !== 'candidate'; i++) core.tick();
  const rd = core.ready();
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.messagesNow, []);
  assert.deepEqual(types(rd.messagesAfterWrite), ['vote', 'vote']);
});

test('a follower acknowledges appended entries only after writing them', () => {
  const core = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 0 } });
  core.step({ type: 'append', from: 'a', to: 'c', term: 2, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, 2)], commit: 0 });
  const rd = core.ready();
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.messagesNow, []);
  assert.deepEqual(types(rd.messagesAfterWrite), ['appendResp']);
});

test('§10.2.1 a leader whose term is durable replicates while it writes; a new term waits for the write', () => {
  const c = new RaftCore(config('a'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 1, vote: null, commit: 0 } });
  for (let i = 0; i < 30 && c.status().role !== 'candidate'; i++) c.tick();
  flush(c);
  c.step({ type: 'voteResp', from: 'b', to: 'a', term: 2, preVote: false, granted: true });
  const elected = c.ready();
  assert.equal(elected.softState?.role, 'leader');
  // Term 2 and the vote were written with the candidacy: the new leader's no-op may go at once.
  assert.deepEqual(types(elected.messagesNow), ['append', 'append']);
  c.advance(elected);
  // b acknowledges the no-op, so the leader pipelines to it; c's probe is still unanswered.
  c.step({ type: 'appendResp', from: 'b', to: 'a', term: 2, success: true, index: 1, conflictTerm: 0, conflictIndex: 0 });
  flush(c);
  c.propose(bytes('p'));
  const rd = c.ready();
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.messagesNow.map((m) => [m.type, m.to]), [['append', 'b']]);
  assert.deepEqual(rd.messagesAfterWrite, []);
});

test('a follower answers heartbeats during a write; its append acknowledgment still waits for the write', () => {
  const core = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 0 } });
  core.step({ type: 'append', from: 'a', to: 'c', term: 2, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, 2)], commit: 0 });
  const writing = core.ready();
  assert.equal(writing.mustSync, true);
  // The write is slow: the leader's heartbeats go on arriving, and their answers leave at once.
  core.step({ type: 'heartbeat', from: 'a', to: 'c', term: 2, commit: 0, round: 4 });
  assert.deepEqual(core.takeHeartbeats(), [{ type: 'heartbeatResp', from: 'c', to: 'a', term: 2, round: 4 }]);
  assert.deepEqual(core.takeHeartbeats(), [], 'taken once');
  core.advance(writing);
  assert.deepEqual(types(sent(core.ready())), [], 'not sent again by the next Ready');
  assert.deepEqual(types(writing.messagesAfterWrite), ['appendResp']);
});

test('heartbeat answers under a term not yet on disk wait for the write, as any other message', () => {
  const core = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 0 } });
  core.step({ type: 'heartbeat', from: 'a', to: 'c', term: 3, commit: 0, round: 1 });
  assert.deepEqual(core.takeHeartbeats(), [], 'term 3 is not durable');
  const rd = core.ready();
  assert.equal(rd.mustSync, true);
  assert.deepEqual(types(rd.messagesAfterWrite), ['heartbeatResp']);
  core.advance(rd);
  core.step({ type: 'heartbeat', from: 'a', to: 'c', term: 3, commit: 0, round: 2 });
  assert.deepEqual(types(core.takeHeartbeats()), ['heartbeatResp'], 'term 3 is durable now');
});

test("a leader's heartbeats leave during its write; a read registered after them starts a round of its own", () => {
  const c = new RaftCore(config('a'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 1, vote: null, commit: 0 } });
  for (let i = 0; i < 30 && c.status().role !== 'candidate'; i++) c.tick();
  flush(c);
  c.step({ type: 'voteResp', from: 'b', to: 'a', term: 2, preVote: false, granted: true });
  flush(c);
  c.step({ type: 'appendResp', from: 'b', to: 'a', term: 2, success: true, index: 1, conflictTerm: 0, conflictIndex: 0 });
  flush(c);
  flush(c);
  c.propose(bytes('p'));
  const writing = c.ready();
  assert.equal(writing.mustSync, true);
  c.readIndex(7);
  const first = c.takeHeartbeats();
  assert.deepEqual(first.map((m) => [m.type, m.to]), [['heartbeat', 'b'], ['heartbeat', 'c']]);
  const round = (first[0] as { round: number }).round;
  c.readIndex(8);
  const second = c.takeHeartbeats();
  assert.deepEqual(second.map((m) => (m as { round: number }).round), [round + 1, round + 1], 'read 8 needs answers sent after it arrived');
  // b answers the first round only: read 7 is confirmed (with a's own), read 8 is not.
  c.step({ type: 'heartbeatResp', from: 'b', to: 'a', term: 2, round });
  c.advance(writing);
  assert.deepEqual(c.ready().readStates.map((r) => r.context), [7]);
});

test('a Ready that only moves the commit index needs no synced write; committed entries apply before the write', () => {
  const core = soloLeader();
  core.propose(bytes('p'));
  const write = core.ready();
  assert.equal(write.mustSync, true);
  core.advance(write);
  const commit = core.ready();
  assert.equal(commit.mustSync, false, 'only the volatile commit index moved');
  assert.equal(commit.hardState?.commit, 2);
  assert.equal(commit.applyBeforeWrite, true);
  assert.deepEqual(commit.committedEntries.map((e) => e.index), [2]);
});

test('an installed snapshot is written, then restored, then entries applied', () => {
  const core = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 0 } });
  const meta = { index: 5, term: 2, membership: { voters: ['a', 'b', 'c'], learners: [] }, time: 0, digest: snapshotDigest(bytes('s')) };
  core.step({ type: 'snapshot', from: 'a', to: 'c', term: 2, meta, offset: 0, total: 1, data: bytes('s'), done: true });
  const rd = core.ready();
  assert.ok(rd.snapshot);
  assert.equal(rd.mustSync, true);
  assert.equal(rd.applyBeforeWrite, false);
  assert.deepEqual(types(rd.messagesAfterWrite), ['snapshotResp']);
});

test('invariants: the log refuses commit past its end and apply past commit', () => {
  const log = new RaftLog(null, [entry(1, 1), entry(2, 1)], 1);
  assert.throws(() => log.commitTo(3), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'committed <= last');
  assert.throws(() => log.appliedTo(2), (e: unknown) => e instanceof InvariantViolation && e.invariant === 'applied <= committed');
  log.commitTo(2);
  log.appliedTo(2);
  assert.equal(log.applied, 2);
});
