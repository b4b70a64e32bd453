import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RaftCore } from '../../src/raft/core.js';
import { EntryType, type Message, type VoteRequest } from '../../src/raft/types.js';
import { config, emptyState, flush, TestCluster, sent } from './core-harness.js';

const voteReq = (from: string, to: string, term: number, lastLogIndex: number, lastLogTerm: number, transfer = false): VoteRequest =>
  ({ type: 'vote', from, to, term, lastLogIndex, lastLogTerm, transfer });

function tickUntilCampaign(core: RaftCore): void {
  for (let i = 0; i < 100 && !core.hasReady(); i++) core.tick();
}

function messagesOf<T extends Message['type']>(msgs: Message[], type: T): Extract<Message, { type: T }>[] {
  return msgs.filter((m): m is Extract<Message, { type: T }> => m.type === type);
}

test('§5.2 a follower that hears nothing for an election timeout becomes candidate and asks every voter', () => {
  const core = new RaftCore(config('a'), emptyState(['a', 'b', 'c']));
  for (let i = 0; i < 9; i++) core.tick();
  assert.equal(core.status().role, 'follower');
  core.tick();
  const rd = core.ready();
  assert.equal(core.status().role, 'candidate');
  assert.deepEqual(rd.hardState, { term: 1, vote: 'a', commit: 0 });
  // The vote for itself is persisted in the same Ready as the requests that depend on it.
  assert.deepEqual(messagesOf(sent(rd), 'vote').map((m) => [m.to, m.term]), [['b', 1], ['c', 1]]);
});

test('§5.2 election timeouts are randomized in [electionTick, 2*electionTick)', () => {
  const timeoutWith = (r: number): number => {
    const core = new RaftCore(config('a', { random: () => r }), emptyState(['a', 'b', 'c']));
    let ticks = 0;
    while (core.status().role === 'follower') {
      core.tick();
      ticks++;
    }
    return ticks;
  };
  assert.equal(timeoutWith(0), 10);
  assert.equal(timeoutWith(0.55), 15);
  assert.equal(timeoutWith(0.9999), 19);
});

test('§5.2 a candidate with votes from a majority becomes leader and appends a no-op of its term (§5.4.2)', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const st = c.core('a').status();
  assert.equal(st.role, 'leader');
  assert.equal(st.term, 1);
  assert.equal(c.disks.get('a')!.entries[0]!.type, EntryType.Noop);
  assert.equal(c.core('b').status().leader, 'a');
  assert.equal(c.core('b').status().commit, 1);
});

test('durability: a vote is granted in the same Ready that persists it', () => {
  const core = new RaftCore(config('c'), emptyState(['a', 'b', 'c']));
  core.step(voteReq('a', 'c', 1, 0, 0));
  const rd = core.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: 'a', commit: 0 });
  assert.deepEqual(messagesOf(sent(rd), 'voteResp').map((m) => m.granted), [true]);
});

test('§5.2 a server grants at most one vote per term', () => {
  const core = new RaftCore(config('c'), emptyState(['a', 'b', 'c']));
  core.step(voteReq('a', 'c', 1, 0, 0));
  core.step(voteReq('b', 'c', 1, 0, 0));
  const votes = messagesOf(sent(flush(core)), 'voteResp');
  assert.deepEqual(votes.map((v) => [v.to, v.granted]), [['a', true], ['b', false]]);
  // Asking again (a retransmission) from the one it voted for is granted again.
  core.step(voteReq('a', 'c', 1, 0, 0));
  assert.equal(messagesOf(sent(flush(core)), 'voteResp')[0]!.granted, true);
});

test('§5.2 a voter that restarts from its disk remembers whom it voted for', () => {
  const core = new RaftCore(config('c'), emptyState(['a', 'b', 'c']));
  core.step(voteReq('a', 'c', 1, 0, 0));
  const { hardState } = core.ready();
  const restarted = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: hardState! });
  restarted.step(voteReq('b', 'c', 1, 0, 0));
  assert.deepEqual(messagesOf(sent(flush(restarted)), 'voteResp').map((m) => m.granted), [false]);
});

test('§5.4.1 voter rejects candidate with less up-to-date log', () => {
  const entries = [
    { term: 1, index: 1, type: EntryType.Noop, time: 0, data: new Uint8Array() },
    { term: 2, index: 2, type: EntryType.Noop, time: 0, data: new Uint8Array() },
  ];
  const make = () =>
    new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 0 }, entries });
  const answer = (lastLogIndex: number, lastLogTerm: number): boolean => {
    const core = make();
    core.step(voteReq('a', 'c', 3, lastLogIndex, lastLogTerm));
    return messagesOf(sent(flush(core)), 'voteResp')[0]!.granted;
  };
  assert.equal(answer(5, 1), false, 'older last term loses even with a longer log');
  assert.equal(answer(1, 2), false, 'same last term, shorter log');
  assert.equal(answer(2, 2), true, 'same last term and length');
  assert.equal(answer(1, 3), true, 'newer last term wins even with a shorter log');
});

test('§5.1 a leader that sees a higher term steps down to follower', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.core('a').step({ type: 'heartbeatResp', from: 'b', to: 'a', term: 7, round: 0 });
  const st = c.core('a').status();
  assert.equal(st.role, 'follower');
  assert.equal(st.term, 7);
});

test('§5.1 requests from a stale term are rejected without changing state', () => {
  const core = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 5, vote: null, commit: 0 } });
  core.step(voteReq('a', 'c', 4, 10, 4));
  const rd = flush(core);
  assert.equal(rd.hardState, null, 'no vote recorded');
  assert.deepEqual(sent(rd).map((m) => m.type === 'voteResp' && m.granted), [false]);
  core.step({ type: 'append', from: 'a', to: 'c', term: 4, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0 });
  assert.equal(core.status().leader, null);
  assert.equal(core.status().term, 5);
  assert.equal(core.status().lastIndex, 0);
});

test('§5.1 a vote request from a stale term is refused with the current term, so the candidate catches up', () => {
  const voter = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 5, vote: null, commit: 0 } });
  voter.step(voteReq('a', 'c', 3, 0, 0));
  assert.deepEqual(sent(flush(voter)), [{ type: 'voteResp', from: 'c', to: 'a', term: 5, preVote: false, granted: false }]);
  const candidate = new RaftCore(config('a'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 0 } });
  tickUntilCampaign(candidate);
  candidate.step({ type: 'voteResp', from: 'c', to: 'a', term: 5, preVote: false, granted: false });
  assert.equal(candidate.status().term, 5);
  assert.equal(candidate.status().role, 'follower');
});

test('§9.6 pre-vote: a pre-candidate keeps its term and becomes candidate only with a majority of pre-votes', () => {
  const core = new RaftCore(config('a', { preVote: true }), emptyState(['a', 'b', 'c', 'd', 'e']));
  tickUntilCampaign(core);
  const rd = flush(core);
  assert.equal(core.status().role, 'preCandidate');
  assert.equal(core.status().term, 0);
  assert.equal(rd.hardState, null, 'a pre-vote changes nothing durable');
  assert.deepEqual(messagesOf(sent(rd), 'preVote').map((m) => m.term), [1, 1, 1, 1]);
  core.step({ type: 'voteResp', from: 'b', to: 'a', term: 1, preVote: true, granted: true });
  assert.equal(core.status().role, 'preCandidate', '2 of 5 is not a majority');
  core.step({ type: 'voteResp', from: 'c', to: 'a', term: 1, preVote: true, granted: true });
  assert.equal(core.status().role, 'candidate');
  assert.equal(core.status().term, 1);
});

test('§9.6 pre-vote: a pre-candidate rejected by a majority goes back to follower in the same term', () => {
  const core = new RaftCore(config('a', { preVote: true }), emptyState(['a', 'b', 'c']));
  tickUntilCampaign(core);
  flush(core);
  core.step({ type: 'voteResp', from: 'b', to: 'a', term: 0, preVote: true, granted: false });
  core.step({ type: 'voteResp', from: 'c', to: 'a', term: 0, preVote: true, granted: false });
  assert.equal(core.status().role, 'follower');
  assert.equal(core.status().term, 0);
});

test('§9.6 pre-vote: a partitioned node does not inflate its term, and rejoins without disrupting the leader', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: true });
  c.elect('a');
  c.isolate('c');
  c.tick('c', 100);
  assert.equal(c.core('c').status().term, 1);
  c.heal();
  c.tick('a');
  assert.equal(c.core('a').status().role, 'leader');
  assert.equal(c.core('a').status().term, 1);
  assert.equal(c.core('c').status().leader, 'a');
});

test('§6.2 check-quorum: a leader that has not heard from a majority within an election timeout steps down', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true });
  c.elect('a');
  c.tick('a', 10);
  assert.equal(c.core('a').status().role, 'leader', 'followers answered');
  c.isolate('a');
  c.tick('a', 20);
  assert.equal(c.core('a').status().role, 'follower');
  assert.equal(c.core('a').status().leader, null);
});

test('§4.2.3 leader stickiness: a follower that recently heard from the leader ignores a disruptive candidate', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const b = c.core('b');
  b.step(voteReq('c', 'b', 5, 100, 1));
  assert.equal(b.status().term, 1, 'term unchanged');
  assert.equal(b.hasReady(), false, 'no vote granted');
});

test('§4.2.3 leader stickiness expires: a node that stopped hearing from the leader votes again, non-voters included', () => {
  const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
  c.elect('a');
  c.core('a').proposeConfChange({ type: 'addLearner', node: 'd' });
  c.settle();
  const d = c.core('d');
  assert.equal(d.status().leader, 'a');
  const last = d.status().lastIndex;
  d.step(voteReq('b', 'd', 5, last, 1));
  assert.equal(d.hasReady(), false, 'still within the lease');
  for (let i = 0; i < 10; i++) d.tick();
  d.step(voteReq('b', 'd', 5, last, 1));
  assert.equal(messagesOf(sent(d.ready()), 'voteResp')[0]!.granted, true);
});

test('§3.10 a vote marked as a leadership transfer bypasses leader stickiness', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true });
  c.elect('a');
  const b = c.core('b');
  b.step(voteReq('c', 'b', 2, 100, 1, true));
  assert.equal(b.status().term, 2);
  assert.equal(messagesOf(sent(b.ready()), 'voteResp')[0]!.granted, true);
});

test('§3.6 a node outside the voters (learner) never campaigns', () => {
  const core = new RaftCore(config('d'), emptyState(['a', 'b', 'c'], ['d']));
  for (let i = 0; i < 100; i++) core.tick();
  assert.equal(core.status().role, 'follower');
  assert.equal(core.hasReady(), false);
});

test('§5.2 a single-voter cluster elects itself and commits once its own log is persisted', () => {
  const core = new RaftCore(config('a'), emptyState(['a']));
  tickUntilCampaign(core);
  assert.equal(core.status().role, 'leader');
  const rd = core.ready();
  assert.equal(rd.entries.length, 1);
  assert.equal(core.status().commit, 0, 'not committed before the caller persisted it');
  core.advance(rd);
  assert.equal(core.status().commit, 1);
  assert.equal(core.ready().committedEntries.length, 1);
});
