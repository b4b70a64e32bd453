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

/** Leader a of a, b, c in term 2 whose no-op both followers hold: both are replicating. */
function leaderOfThree(): RaftCore {
  const c = new RaftCore(config('a'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 1, vote: null, commit: 0 } });
  for (let i = 0; i < 30 && c.status().role !== 'candidate'; i++) c.tick();
  flush(c);
  c.step({ type: 'voteResp', from: 'b', to: 'a', term: 2, preVote: false, granted: true });
  flush(c);
  for (const from of ['b', 'c']) c.step({ type: 'appendResp', from, to: 'a', term: 2, success: true, index: 1, conflictTerm: 0, conflictIndex: 0 });
  flush(c);
  flush(c);
  return c;
}

test("during a leader's write, what it proposes leaves at once and what its followers' writes commit is applied", () => {
  const c = leaderOfThree();
  c.propose(bytes('p2'));
  const writing = c.ready();
  assert.deepEqual(writing.entries.map((e) => e.index), [2]);
  assert.deepEqual(writing.messagesNow.map((m) => [m.type, m.to]), [['append', 'b'], ['append', 'c']]);
  assert.deepEqual(c.takeAppends(), [], 'nothing new to send');
  assert.deepEqual(c.takeCommitted(), [], 'nothing committed yet');

  // The write of 2 is slow: 3 is proposed meanwhile, and goes to the followers at once.
  c.propose(bytes('p3'));
  const early = c.takeAppends();
  assert.deepEqual(early.map((m) => [m.type, m.to, m.type === 'append' ? m.entries.map((e) => e.index) : []]), [['append', 'b', [3]], ['append', 'c', [3]]]);
  assert.deepEqual(c.takeAppends(), [], 'taken once');

  // Both followers wrote 2 and 3 before the leader wrote either: a majority holds them, so they
  // are committed and handed out to apply while the leader's write of 2 is still under way.
  for (const from of ['b', 'c']) c.step({ type: 'appendResp', from, to: 'a', term: 2, success: true, index: 3, conflictTerm: 0, conflictIndex: 0 });
  assert.deepEqual(c.takeCommitted().map((e) => e.index), [2, 3]);
  assert.deepEqual(c.takeCommitted(), [], 'handed out once');

  c.advance(writing);
  assert.equal(c.status().applied, 3, 'what was taken counts as applied');
  const next = c.ready();
  assert.deepEqual(next.entries.map((e) => e.index), [3], 'the leader still writes 3 itself');
  assert.deepEqual(next.committedEntries, [], 'not handed out again');
  assert.ok(!sent(next).some((m) => m.type === 'append' && m.entries.length > 0), 'the appends of 3 are not sent again');
});

test("a follower applies what the leader commits during the follower's own write", () => {
  const c = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 0 } });
  c.step({ type: 'append', from: 'a', to: 'c', term: 2, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, 2), entry(2, 2)], commit: 0 });
  const writing = c.ready();
  assert.deepEqual(writing.committedEntries, []);
  c.step({ type: 'append', from: 'a', to: 'c', term: 2, prevLogIndex: 2, prevLogTerm: 2, entries: [entry(3, 2)], commit: 2 });
  assert.deepEqual(c.takeCommitted().map((e) => e.index), [1, 2]);
  assert.deepEqual(c.takeAppends(), [], 'a follower sends no appends');
  c.advance(writing);
  const next = c.ready();
  assert.deepEqual(next.committedEntries, []);
  assert.deepEqual(next.entries.map((e) => e.index), [3]);
});

test("nothing is taken early around a leader's snapshot, nor before a new term is on disk", () => {
  // A Ready installing a snapshot applies after its write: nothing committed is handed out before.
  const f = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 0 } });
  const meta = { index: 5, term: 2, membership: { voters: ['a', 'b', 'c'], learners: [] }, time: 0, digest: snapshotDigest(bytes('s')) };
  f.step({ type: 'snapshot', from: 'a', to: 'c', term: 2, meta, offset: 0, total: 1, data: bytes('s'), done: true });
  const installing = f.ready();
  f.step({ type: 'append', from: 'a', to: 'c', term: 2, prevLogIndex: 5, prevLogTerm: 2, entries: [entry(6, 2)], commit: 6 });
  assert.deepEqual(f.takeCommitted(), []);
  f.advance(installing);
  assert.deepEqual(f.ready().committedEntries.map((e) => e.index), [6], 'applied after the snapshot, by the next Ready');

  // A new leader's first write holds its term: its appends wait for it, as a Ready's own would.
  const c = new RaftCore(config('a'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 1, vote: null, commit: 0 } });
  for (let i = 0; i < 30 && c.status().role !== 'candidate'; i++) c.tick();
  const candidacy = c.ready();
  c.step({ type: 'voteResp', from: 'b', to: 'a', term: 2, preVote: false, granted: true });
  c.propose(bytes('p'));
  assert.deepEqual(c.takeAppends(), [], 'term 2 and the vote are not on disk yet');
  c.advance(candidacy);
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
