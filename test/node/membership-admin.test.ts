// The leader's membership administration over real Raft drivers (LevelDB on disk, messages
// delivered in-process) replicating the node's real state machine: add-node records the address,
// adds a learner, waits for it to catch up and promotes it; refusals change nothing.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SILENT_LOGGER } from '../../src/logger-port.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { ClusterStateMachine, type ClusterResult } from '../../src/node/cluster-state-machine.js';
import { AdminError, MembershipAdmin } from '../../src/node/membership-admin.js';
import { proposeDirectory } from '../../src/node/proposals.js';
import { RaftDriver } from '../../src/raft/driver.js';
import { LevelStorage } from '../../src/raft/level-storage.js';
import { RaftError, type Membership, type NodeId } from '../../src/raft/types.js';
import { InProcessNetwork, testDriverOptions } from '../support/in-process-raft.js';

interface Member {
  driver: RaftDriver<ClusterResult>;
  state: ClusterStateMachine;
  admin: MembershipAdmin;
}

const net = new InProcessNetwork();

const dir = mkdtempSync(join(tmpdir(), 'membership-admin-'));
const members = new Map<NodeId, Member>();
after(async () => {
  for (const m of members.values()) await m.driver.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(id: NodeId, initialMembership: Membership): Promise<Member> {
  const state = new ClusterStateMachine(new MailboxStateMachine());
  const storage = await LevelStorage.open(join(dir, id));
  const driver = new RaftDriver(testDriverOptions(id, { initialMembership, storage, transport: net.transport(id), stateMachine: state }));
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
