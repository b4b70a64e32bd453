// A leader that steps down answers its pending proposals at once with LEADERSHIP_LOST ("outcome
// unknown"), instead of leaving them to the request timeout. The answer must not claim a failure:
// a proposal the deposed leader replicated can still commit under the next leader, as the second
// test shows.

import { strict as assert } from 'node:assert';
import { afterEach, test } from 'node:test';
import { RaftDriver } from '../../src/raft/driver.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { RaftError, type Membership, type NodeId } from '../../src/raft/types.js';
import { AppendLog, encodeValue } from '../../src/sim/append-log.js';
import { InProcessNetwork, testDriverOptions, waitFor } from '../support/in-process-raft.js';

const ids: NodeId[] = ['n1', 'n2', 'n3'];
const membership: Membership = { voters: ids, learners: [] };
// Far above the step-down time (CheckQuorum: one election timeout, 50 ms here), so that an answer
// well before it can only come from the step-down.
const REQUEST_TIMEOUT_MS = 3000;
let running: Array<RaftDriver<number>> = [];

afterEach(async () => {
  for (const d of running) await d.stop();
  running = [];
});

async function startCluster(net: InProcessNetwork): Promise<{ drivers: Map<NodeId, RaftDriver<number>>; machines: Map<NodeId, AppendLog> }> {
  const drivers = new Map<NodeId, RaftDriver<number>>();
  const machines = new Map<NodeId, AppendLog>();
  for (const id of ids) {
    const stateMachine = new AppendLog();
    const opts = testDriverOptions(id, { initialMembership: membership, storage: new MemoryStorage(), transport: net.transport(id), stateMachine });
    const d = new RaftDriver({ ...opts, requestTimeoutMs: REQUEST_TIMEOUT_MS });
    await d.start();
    drivers.set(id, d);
    machines.set(id, stateMachine);
    running.push(d);
  }
  return { drivers, machines };
}


const leaderOf = (drivers: Map<NodeId, RaftDriver<number>>, except?: NodeId) =>
  waitFor('a leader', () => [...drivers.entries()].find(([id, d]) => id !== except && d.softState().role === 'leader'));

/** How a pending proposal ended, and after how many ms. */
async function settle(p: Promise<number>, started: number): Promise<{ ms: number; value?: number; error?: RaftError }> {
  try {
    const value = await p;
    return { ms: Date.now() - started, value };
  } catch (e) {
    assert.ok(e instanceof RaftError, String(e));
    return { ms: Date.now() - started, error: e };
  }
}

test('an isolated leader answers every pending proposal and membership change with LEADERSHIP_LOST when CheckQuorum deposes it', async () => {
  const net = new InProcessNetwork();
  const { drivers } = await startCluster(net);
  const [leaderId, leader] = await leaderOf(drivers);
  await leader.propose(encodeValue(1)); // a working cluster first
  for (const other of ids) if (other !== leaderId) net.cut.add(`${leaderId}>${other}`).add(`${other}>${leaderId}`);

  const started = Date.now();
  const proposals = [2, 3, 4].map((v) => settle(leader.propose(encodeValue(v)), started));
  const change = leader.changeMembership({ type: 'addLearner', node: 'n9' }).then(
    () => assert.fail('a membership change cannot commit on an isolated leader'),
    (e: unknown) => e,
  );
  const outcomes = await Promise.all(proposals);
  for (const o of outcomes) {
    assert.equal(o.error?.code, 'LEADERSHIP_LOST', JSON.stringify(o));
    assert.match(o.error!.message, /outcome unknown/);
    assert.ok(o.ms < REQUEST_TIMEOUT_MS / 3, `answered at step-down, not at the timeout: ${o.ms} ms`);
  }
  const changeError = await change;
  assert.ok(changeError instanceof RaftError && changeError.code === 'LEADERSHIP_LOST', String(changeError));
  assert.notEqual(leader.softState().role, 'leader');
  // Requests after the step-down are refused before proposing: a definite "not applied".
  assert.throws(() => leader.propose(encodeValue(5)), (e: unknown) => e instanceof RaftError && e.code === 'NOT_LEADER');

  // The two others elect a leader of their own, which works; once healed, the old leader follows it.
  const [newId, newLeader] = await leaderOf(drivers, leaderId);
  await newLeader.propose(encodeValue(6));
  net.cut.clear();
  await waitFor('the old leader to follow', () => (leader.softState().leader === newId ? true : undefined));
});

test('a proposal answered LEADERSHIP_LOST may still commit under the next leader: the outcome really is unknown', async () => {
  const net = new InProcessNetwork();
  const { drivers, machines } = await startCluster(net);
  const [leaderId, leader] = await leaderOf(drivers);
  await leader.propose(encodeValue(1));
  // The leader still reaches the others but hears nothing back: its entry is replicated, yet it
  // cannot learn that a quorum holds it, and CheckQuorum deposes it.
  for (const other of ids) if (other !== leaderId) net.cut.add(`${other}>${leaderId}`);
  const started = Date.now();
  const outcome = await settle(leader.propose(encodeValue(42)), started);
  assert.equal(outcome.error?.code, 'LEADERSHIP_LOST', JSON.stringify(outcome));
  assert.ok(outcome.ms < REQUEST_TIMEOUT_MS / 3, `answered at step-down, not at the timeout: ${outcome.ms} ms`);

  // The next leader holds the entry and commits it with its own term's first entry.
  const [newId] = await leaderOf(drivers, leaderId);
  await waitFor('the deposed leader’s entry to commit under the new leader', () =>
    machines.get(newId)!.values.includes(42) ? true : undefined,
  );
  net.cut.clear();
  await waitFor('the old leader to apply it too', () => (machines.get(leaderId)!.values.includes(42) ? true : undefined));
  assert.deepEqual(machines.get(leaderId)!.values, machines.get(newId)!.values);
});
