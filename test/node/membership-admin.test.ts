// The leader's membership administration over real Raft drivers (LevelDB on disk, messages
// delivered in-process) replicating the node's real state machine: add-node records the address,
// adds a learner, waits for it to catch up and promotes it; refusals change nothing. The members
// snapshot every few entries, so the limits are also shown to leave every snapshot writable.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SILENT_LOGGER } from '../../src/logger-port.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { ClusterStateMachine, MAX_DIRECTORY_PEERS, type ClusterResult } from '../../src/node/cluster-state-machine.js';
import { AdminError, MembershipAdmin } from '../../src/node/membership-admin.js';
import { proposeDirectory } from '../../src/node/proposals.js';
import { RaftDriver } from '../../src/raft/driver.js';
import { LevelStorage } from '../../src/raft/level-storage.js';
import { isMember, MAX_LEARNERS, MAX_VOTERS } from '../../src/raft/membership.js';
import { RaftError, type Membership, type NodeId } from '../../src/raft/types.js';
import { InProcessNetwork, testDriverOptions } from '../support/in-process-raft.js';

interface Member {
  driver: RaftDriver<ClusterResult>;
  state: ClusterStateMachine;
  admin: MembershipAdmin;
}

const net = new InProcessNetwork();
const SNAPSHOT_ENTRIES = 16;
// Seven drivers share this process and the disk: a leader sends its heartbeats only once its
// previous synced write returned, and on a busy machine a sync can outlast the usual 50 ms test
// election timeout. 20 ms ticks (a 200 ms timeout) keep the leadership stable through these tests.
const TICK_MS = 20;

const dir = mkdtempSync(join(tmpdir(), 'membership-admin-'));
const members = new Map<NodeId, Member>();
after(async () => {
  for (const m of members.values()) await m.driver.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(id: NodeId, initialMembership: Membership): Promise<Member> {
  const state = new ClusterStateMachine(new MailboxStateMachine());
  const storage = await LevelStorage.open(join(dir, id));
  const driver = new RaftDriver({
    ...testDriverOptions(id, { initialMembership, storage, transport: net.transport(id), stateMachine: state }),
    snapshotEntries: SNAPSHOT_ENTRIES,
    tickMs: TICK_MS,
  });
  await driver.start();
  const admin = new MembershipAdmin({
    nodeId: id,
    driver,
    directory: () => state.peers(),
    isLeader: () => driver.softState().role === 'leader',
    log: SILENT_LOGGER,
  });
  const member = { driver, state, admin };
  members.set(id, member);
  return member;
}

async function leader(): Promise<Member> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = [...members.values()].find((m) => m.driver.softState().role === 'leader');
    if (found) return found;
    if (Date.now() > deadline) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rejectsWith = (code: string) => (e: unknown) => (e instanceof RaftError || e instanceof AdminError) && e.code === code;

test('setup: three founders elect a leader', async () => {
  for (const id of ['n1', 'n2', 'n3']) await start(id, { voters: ['n1', 'n2', 'n3'], learners: [] });
  await leader();
});

test('add-node records the address, catches the learner up and promotes it', async () => {
  const joiner = await start('n4', { voters: [], learners: [] });
  const l = await leader();
  const view = await l.admin.run({ op: 'addNode', node: 'n4', host: '10.0.0.4', port: 7004, catchUpMs: 5000 });
  assert.deepEqual(view, { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
  assert.deepEqual(l.state.peers()['n4'], { host: '10.0.0.4', port: 7004 });
  const deadline = Date.now() + 5000;
  while (joiner.driver.status().membership.voters.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual([...joiner.driver.status().membership.voters].sort(), ['n1', 'n2', 'n3', 'n4'], 'the new voter learned it from the log');
});

test('refusals: a voter again, a node that is not a member, a request to a follower', async () => {
  const l = await leader();
  const before = l.driver.status().lastIndex;
  await assert.rejects(l.admin.run({ op: 'addNode', node: 'n4', host: '10.0.0.4', port: 7004, catchUpMs: 1000 }), rejectsWith('ALREADY_MEMBER'));
  await assert.rejects(l.admin.run({ op: 'removeNode', node: 'n9' }), rejectsWith('UNKNOWN_NODE'));
  assert.equal(l.driver.status().lastIndex, before, 'nothing was proposed');
  const follower = [...members.values()].find((m) => m.driver.softState().role === 'follower')!;
  await assert.rejects(
    follower.admin.run({ op: 'removeNode', node: 'n4' }),
    (e: unknown) => rejectsWith('NOT_LEADER')(e) && (e as RaftError).leaderHint === l.driver.softState().leader,
  );
});

test('a learner that never catches up stays a learner after the wait; remove-node then drops it and its address', async () => {
  const l = await leader();
  await assert.rejects(l.admin.run({ op: 'addNode', node: 'n5', host: '10.0.0.5', port: 7005, catchUpMs: 150 }), rejectsWith('TIMEOUT'));
  assert.deepEqual(l.driver.status().membership.learners, ['n5']);
  assert.deepEqual(l.state.peers()['n5'], { host: '10.0.0.5', port: 7005 });
  const view = await l.admin.run({ op: 'removeNode', node: 'n5' });
  assert.deepEqual(view, { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
  assert.equal(l.state.peers()['n5'], undefined);
});

test('a leader prunes directory entries of nodes that are not members', async () => {
  const l = await leader();
  assert.equal(await proposeDirectory(l.driver, { op: 'set', node: 'n6', host: '10.0.0.6', port: 7006 }), null);
  assert.ok(l.state.peers()['n6']);
  await l.admin.pruneDirectory();
  assert.equal(l.state.peers()['n6'], undefined);
  assert.deepEqual(l.state.peers()['n4'], { host: '10.0.0.4', port: 7004 }, 'members keep theirs');
});

/** Everything a refused change must leave as it was, on the leader. */
function observable(m: Member) {
  const st = m.driver.status();
  return { lastIndex: st.lastIndex, membership: { voters: [...st.membership.voters].sort(), learners: [...st.membership.learners].sort() }, directory: m.state.peers() };
}

const unreachable = (node: string, i: number) => ({ op: 'addNode' as const, node, host: `10.9.0.${i}`, port: 7100 + i, catchUpMs: 100 });

test('concurrent add-nodes hold at most the learner slots; the rest are MEMBERSHIP_FULL and change nothing', async () => {
  const l = await leader();
  const calls = ['x1', 'x2', 'x3', 'x4', 'x5'].map((n, i) => l.admin.run(unreachable(n, i)).then(() => 'ok', (e: unknown) => (e as AdminError | RaftError).code));
  const outcomes = await Promise.all(calls);
  assert.deepEqual(outcomes.slice(2), ['MEMBERSHIP_FULL', 'MEMBERSHIP_FULL', 'MEMBERSHIP_FULL'], 'refused at once: two slots are taken');
  for (const o of outcomes.slice(0, 2)) assert.ok(o === 'TIMEOUT' || o === 'CONF_CHANGE_IN_PROGRESS', o);
  const learners = l.driver.status().membership.learners;
  for (const n of Object.keys(l.state.peers())) {
    assert.ok(isMember(l.driver.status().membership, n), `no address left for ${n}, which did not become a learner`);
  }
  // The unlucky one (its addLearner met the other's uncommitted change) finishes on a retry.
  for (const [i, n] of ['x1', 'x2'].entries()) {
    if (!learners.includes(n)) await assert.rejects(l.admin.run(unreachable(n, i)), rejectsWith('TIMEOUT'));
  }
  assert.deepEqual([...l.driver.status().membership.learners].sort(), ['x1', 'x2']);

  const before = observable(l);
  await assert.rejects(l.admin.run(unreachable('x3', 3)), rejectsWith('MEMBERSHIP_FULL'));
  assert.deepEqual(observable(l), before, 'the 3rd learner changed nothing');
  await assert.rejects(l.driver.changeMembership({ type: 'addLearner', node: 'x3' }), rejectsWith('MEMBERSHIP_FULL'), 'the core refuses it too');
  assert.deepEqual(observable(l), before);
  // A learner already there is not a new one: its add-node may be retried.
  await assert.rejects(l.admin.run(unreachable('x1', 0)), rejectsWith('TIMEOUT'));
  for (const n of ['x1', 'x2']) await l.admin.run({ op: 'removeNode', node: n });
  assert.deepEqual(l.driver.status().membership.learners, []);
});

test('a directory full of entries of nodes that are gone is pruned before an add-node records its address', async () => {
  const l = await leader();
  const members = Object.keys(l.state.peers()).length;
  for (let i = members; i < MAX_DIRECTORY_PEERS; i++) {
    assert.equal(await proposeDirectory(l.driver, { op: 'set', node: `gone${i}`, host: '10.8.0.1', port: 7000 + i }), null);
  }
  assert.equal(Object.keys(l.state.peers()).length, MAX_DIRECTORY_PEERS);
  assert.match((await proposeDirectory(l.driver, { op: 'set', node: 'one-more', host: '10.8.0.1', port: 7 }))!, /full/, 'the state machine holds the bound');
  await assert.rejects(l.admin.run(unreachable('y1', 1)), rejectsWith('TIMEOUT'));
  const peers = l.state.peers();
  assert.ok(peers['y1'], 'recorded');
  assert.deepEqual(Object.keys(peers).filter((n) => n.startsWith('gone')), [], 'stale entries dropped');
  await l.admin.run({ op: 'removeNode', node: 'y1' });
});

test('at the largest membership and a full directory, every member snapshots and restarts; the 8th voter is refused', async () => {
  for (const id of ['n5', 'n6', 'n7']) {
    await start(id, { voters: [], learners: [] });
    const l = await leader();
    await l.admin.run({ op: 'addNode', node: id, host: `10.0.0.${id.slice(1)}`, port: 7000 + Number(id.slice(1)), catchUpMs: 5000 });
  }
  let l = await leader();
  assert.equal(l.driver.status().membership.voters.length, MAX_VOTERS);
  const before = observable(l);
  await assert.rejects(l.admin.run(unreachable('n8', 8)), rejectsWith('MEMBERSHIP_FULL'));
  assert.deepEqual(observable(l), before, 'the 8th voter changed nothing');

  // Learners need a free voter slot for their promotion: the core alone takes them here.
  for (const n of ['x1', 'x2']) {
    assert.equal(await proposeDirectory(l.driver, { op: 'set', node: n, host: 'h'.repeat(253), port: 65535 }), null);
    await l.driver.changeMembership({ type: 'addLearner', node: n });
  }
  // Fill the directory with the longest ids and hosts there are.
  for (let i = Object.keys(l.state.peers()).length; i < MAX_DIRECTORY_PEERS; i++) {
    assert.equal(await proposeDirectory(l.driver, { op: 'set', node: `${i}`.padStart(32, 'z'), host: 'h'.repeat(253), port: 65535 }), null);
  }
  assert.equal(Object.keys(l.state.peers()).length, MAX_DIRECTORY_PEERS);
  assert.equal(l.driver.status().membership.learners.length, MAX_LEARNERS);
  // Enough entries for every member to snapshot this state.
  const full = l.driver.status().lastIndex;
  for (let i = 0; i < SNAPSHOT_ENTRIES; i++) await proposeDirectory(l.driver, { op: 'delete', node: 'absent' });
  const commit = l.driver.status().commit;
  for (const [id, m] of members) {
    await m.driver.waitApplied(commit);
    // A take runs beside the Raft loop, in slices, and ends after the apply that started it: on
    // a busy machine (a CI run) it was still under way when the apply was done.
    const deadline = Date.now() + 20_000;
    while (m.driver.status().snapshotIndex < full && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(m.driver.status().snapshotIndex >= full, `${id} snapshotted the full state`);
  }
  // A follower restarts from that snapshot: it decodes, and the node serves on.
  const follower = [...members.entries()].find(([, m]) => m.driver.softState().role === 'follower')!;
  await follower[1].driver.stop();
  members.delete(follower[0]);
  const restarted = await start(follower[0], { voters: [], learners: [] });
  assert.equal(Object.keys(restarted.state.peers()).length, MAX_DIRECTORY_PEERS, 'the directory came back from the snapshot');
  assert.deepEqual(observable(restarted).membership, observable(l).membership);
  l = await leader();
  assert.equal(await proposeDirectory(l.driver, { op: 'delete', node: 'absent' }), null);
  for (const m of members.values()) await m.driver.waitApplied(l.driver.status().commit);
});
