import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DEFAULT_CODEC_LIMITS } from '../../src/raft/codec.js';
import { RaftCore } from '../../src/raft/core.js';
import { decodeConfChange, encodeConfChange, MAX_LEARNERS, MAX_VOTERS } from '../../src/raft/membership.js';
import { EntryType, RaftError, type Entry } from '../../src/raft/types.js';
import { bytes, config, emptyState, flush, TestCluster } from './core-harness.js';

const isCode = (code: string) => (e: unknown) => e instanceof RaftError && e.code === code;

test('§4.2.1 a learner receives the log but does not count toward commitment, then is promoted', () => {
  const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
  c.elect('a');
  c.core('a').proposeConfChange({ type: 'addLearner', node: 'd' });
  c.settle();
  c.core('a').propose(bytes('x'));
  c.settle();
  assert.deepEqual(c.appliedData('d'), ['x'], 'the learner catches up');
  assert.deepEqual(c.core('a').status().membership, { voters: ['a', 'b', 'c'], learners: ['d'] });
  c.core('a').proposeConfChange({ type: 'promote', node: 'd' });
  c.settle();
  assert.deepEqual(c.core('d').status().membership, { voters: ['a', 'b', 'c', 'd'], learners: [] });
});

test('§4.1 a configuration takes effect as soon as its entry is appended, before it commits', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('b');
  c.isolate('c');
  const a = c.core('a');
  a.proposeConfChange({ type: 'remove', node: 'c' });
  assert.deepEqual(a.status().membership.voters, ['a', 'b']);
  assert.equal(a.status().commit, 1, 'not committed');
  // The followers learn it on append, too.
  c.heal();
  c.settle();
  assert.deepEqual(c.core('b').status().membership.voters, ['a', 'b']);
});

test('§4.1 one change at a time: a second change is refused while the first is uncommitted', () => {
  const c = new TestCluster(['a', 'b', 'c', 'd'], {}, ['a', 'b', 'c']);
  c.elect('a');
  c.isolate('b');
  c.isolate('c');
  const a = c.core('a');
  a.proposeConfChange({ type: 'addLearner', node: 'd' });
  assert.throws(() => a.proposeConfChange({ type: 'remove', node: 'b' }), isCode('CONF_CHANGE_IN_PROGRESS'));
  c.heal();
  c.tick('a');
  assert.doesNotThrow(() => a.proposeConfChange({ type: 'remove', node: 'b' }));
});

test('§4.1 a new leader makes no configuration change until an entry of its term commits', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.drop = (m) => m.type === 'appendResp';
  c.elect('a');
  assert.equal(c.core('a').status().commit, 0, 'its no-op is not acknowledged yet');
  assert.throws(() => c.core('a').proposeConfChange({ type: 'remove', node: 'c' }), isCode('CONF_CHANGE_IN_PROGRESS'));
  c.drop = () => false;
  c.tick('a');
  assert.equal(c.core('a').status().commit, 1);
  assert.doesNotThrow(() => c.core('a').proposeConfChange({ type: 'remove', node: 'c' }));
});

test('§4.2.2 a leader that removes itself keeps leading until the removal commits, then steps down', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.isolate('b');
  c.isolate('c');
  const a = c.core('a');
  a.proposeConfChange({ type: 'remove', node: 'a' });
  assert.equal(a.status().role, 'leader', 'still leading while the removal is uncommitted');
  assert.deepEqual(a.status().membership.voters, ['b', 'c']);
  c.heal();
  c.tick('a');
  assert.notEqual(a.status().role, 'leader');
  // It handed over to an up-to-date voter; b and c carry on without it.
  c.settle();
  const leader = ['b', 'c'].find((id) => c.core(id).status().role === 'leader');
  assert.ok(leader, 'a remaining voter took over');
  c.core(leader).propose(bytes('after'));
  c.settle();
  assert.deepEqual(c.appliedData(leader === 'b' ? 'c' : 'b'), ['after']);
  for (let i = 0; i < 50; i++) a.tick();
  assert.notEqual(a.status().role, 'candidate', 'a removed node does not campaign');
});

test('§4.1 an uncommitted configuration entry that a new leader overwrites is undone', () => {
  const noop = (index: number, term: number): Entry => ({ index, term, type: EntryType.Noop, time: 0, data: new Uint8Array() });
  const cc: Entry = { index: 2, term: 1, type: EntryType.ConfChange, time: 0, data: encodeConfChange({ type: 'remove', node: 'b' }) };
  const core = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 1, vote: null, commit: 1 }, entries: [noop(1, 1), cc] });
  assert.deepEqual(core.status().membership.voters, ['a', 'c']);
  core.step({ type: 'append', from: 'b', to: 'c', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [noop(2, 2)], commit: 1 });
  flush(core);
  assert.deepEqual(core.status().membership.voters, ['a', 'b', 'c']);
});

test('§4.1 changes that make no sense are refused with INVALID_REQUEST and change nothing', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const a = c.core('a');
  const before = a.status().lastIndex;
  assert.throws(() => a.proposeConfChange({ type: 'promote', node: 'b' }), isCode('INVALID_REQUEST'));
  assert.throws(() => a.proposeConfChange({ type: 'addLearner', node: 'b' }), isCode('INVALID_REQUEST'));
  assert.throws(() => a.proposeConfChange({ type: 'remove', node: 'z' }), isCode('INVALID_REQUEST'));
  assert.equal(a.status().lastIndex, before);
  const solo = new TestCluster(['a']);
  solo.elect('a');
  assert.throws(() => solo.core('a').proposeConfChange({ type: 'remove', node: 'a' }), isCode('INVALID_REQUEST'));
});

test('ConfChange entries round-trip and malformed payloads decode to null', () => {
  assert.deepEqual(decodeConfChange(encodeConfChange({ type: 'promote', node: 'n2' })), { type: 'promote', node: 'n2' });
  assert.equal(decodeConfChange(bytes('{"type":"explode","node":"x"}')), null);
  assert.equal(decodeConfChange(bytes('not json')), null);
  assert.equal(decodeConfChange(new Uint8Array(5000)), null);
  assert.equal(decodeConfChange(new Uint8Array([0xff, 0xfe])), null);
});

test('membership limits: the 8th voter and the 3rd learner are refused with MEMBERSHIP_FULL, nothing appended', () => {
  const voters = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const c = new TestCluster([...voters, 'h', 'i', 'j'], { maxVoters: 7, maxLearners: 2 }, voters);
  c.elect('a');
  const a = c.core('a');
  a.proposeConfChange({ type: 'addLearner', node: 'h' });
  c.settle();
  a.proposeConfChange({ type: 'addLearner', node: 'i' });
  c.settle();
  const before = a.status();
  assert.throws(() => a.proposeConfChange({ type: 'addLearner', node: 'j' }), isCode('MEMBERSHIP_FULL'));
  assert.throws(() => a.proposeConfChange({ type: 'promote', node: 'h' }), isCode('MEMBERSHIP_FULL'));
  assert.equal(a.status().lastIndex, before.lastIndex, 'nothing appended');
  assert.deepEqual(a.status().membership, { voters, learners: ['h', 'i'] });
  c.settle();
  assert.deepEqual(c.core('b').status().membership, { voters, learners: ['h', 'i'] }, 'followers saw nothing either');
  // Removals are always allowed, and free the slot they held.
  a.proposeConfChange({ type: 'remove', node: 'g' });
  c.settle();
  a.proposeConfChange({ type: 'promote', node: 'h' });
  c.settle();
  assert.deepEqual(a.status().membership, { voters: ['a', 'b', 'c', 'd', 'e', 'f', 'h'], learners: ['i'] });
  a.proposeConfChange({ type: 'addLearner', node: 'j' });
  c.settle();
  assert.deepEqual(a.status().membership.learners, ['i', 'j']);
});

test('membership limits come from the configuration; a node id the codec cannot carry is refused', () => {
  const c = new TestCluster(['a', 'b', 'c', 'd'], { maxVoters: 3, maxLearners: 1 }, ['a', 'b', 'c']);
  c.elect('a');
  const a = c.core('a');
  const before = a.status().lastIndex;
  assert.throws(() => a.proposeConfChange({ type: 'addLearner', node: 'x'.repeat(65) }), isCode('INVALID_REQUEST'));
  a.proposeConfChange({ type: 'addLearner', node: 'd' });
  c.settle();
  assert.throws(() => a.proposeConfChange({ type: 'promote', node: 'd' }), isCode('MEMBERSHIP_FULL'));
  assert.throws(() => a.proposeConfChange({ type: 'addLearner', node: 'e' }), isCode('MEMBERSHIP_FULL'));
  assert.equal(a.status().lastIndex, before + 1, 'only the accepted learner was appended');
});

test('limits the snapshot codec could not write are refused at construction', () => {
  assert.throws(() => new RaftCore(config('a', { maxVoters: 0 }), emptyState(['a'])), RangeError);
  assert.throws(() => new RaftCore(config('a', { maxVoters: 200, maxLearners: DEFAULT_CODEC_LIMITS.maxMembers }), emptyState(['a'])), RangeError);
  const crowd = Array.from({ length: DEFAULT_CODEC_LIMITS.maxMembers + 1 }, (_, i) => `n${i}`);
  assert.throws(() => new RaftCore(config('n0'), emptyState(crowd)), RangeError);
  assert.ok(DEFAULT_CODEC_LIMITS.maxMembers >= MAX_VOTERS + MAX_LEARNERS, 'the deployed limits fit the codec');
  assert.doesNotThrow(() => new RaftCore(config('a', { maxVoters: MAX_VOTERS, maxLearners: MAX_LEARNERS }), emptyState(['a'])));
});
