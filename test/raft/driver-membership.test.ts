// The driver over real LevelDB storage: the membership of a new cluster is written into the log,
// so it survives a restart of every node and reaches a node that joins later.

import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RaftDriver, bootstrapEntries } from '../../src/raft/driver.js';
import { LevelStorage } from '../../src/raft/level-storage.js';
import { decodeConfChange } from '../../src/raft/membership.js';
import type { Membership, NodeId } from '../../src/raft/types.js';
import { CounterMachine } from '../../src/sim/counter-machine.js';
import { InProcessNetwork, testDriverOptions, waitFor } from '../support/in-process-raft.js';

const dir = mkdtempSync(join(tmpdir(), 'driver-membership-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const net = new InProcessNetwork();
const drivers = new Map<NodeId, RaftDriver<number>>();

async function startNode(id: NodeId, initialMembership: Membership): Promise<RaftDriver<number>> {
  const storage = await LevelStorage.open(join(dir, id));
  const driver = new RaftDriver(testDriverOptions(id, { initialMembership, storage, transport: net.transport(id), stateMachine: new CounterMachine() }));
  await driver.start();
  drivers.set(id, driver);
  return driver;
}

async function stopNode(id: NodeId): Promise<void> {
  net.handlers.delete(id);
  await drivers.get(id)!.stop();
  drivers.delete(id);
}


const leader = () => waitFor('a leader', () => [...drivers.values()].find((d) => d.softState().role === 'leader'));
const founders: Membership = { voters: ['n3', 'n1', 'n2'], learners: [] };

test('bootstrap entries build the membership in a fixed order, from the member ids alone', () => {
  const changes = bootstrapEntries(founders).map((e) => [e.index, e.term, decodeConfChange(e.data)]);
  assert.deepEqual(changes, [
    [1, 1, { type: 'addLearner', node: 'n1' }],
    [2, 1, { type: 'promote', node: 'n1' }],
    [3, 1, { type: 'addLearner', node: 'n2' }],
    [4, 1, { type: 'promote', node: 'n2' }],
    [5, 1, { type: 'addLearner', node: 'n3' }],
    [6, 1, { type: 'promote', node: 'n3' }],
  ]);
  assert.deepEqual(bootstrapEntries(founders), bootstrapEntries({ voters: ['n1', 'n2', 'n3'], learners: [] }));
});

test('a cluster whose every node restarted (no snapshot) still knows its voters and elects a leader', async () => {
  for (const id of ['n1', 'n2', 'n3']) await startNode(id, founders);
  await (await leader()).propose(new Uint8Array([1]));
  for (const id of ['n1', 'n2', 'n3']) await stopNode(id);
  // Restarted with no membership from the configuration: only the disk can tell who votes.
  for (const id of ['n1', 'n2', 'n3']) await startNode(id, { voters: [], learners: [] });
  const l = await leader();
  assert.deepEqual([...l.status().membership.voters].sort(), ['n1', 'n2', 'n3']);
  await l.propose(new Uint8Array([2]));
});

test('a joining node never campaigns, then learns the whole membership from the log and keeps it across a restart', async () => {
  const joiner = await startNode('n4', { voters: [], learners: [] });
  await new Promise((r) => setTimeout(r, 200)); // several election timeouts
  assert.equal(joiner.softState().role, 'follower');
  assert.equal(joiner.softState().term, 0);

  const l = await leader();
  await l.changeMembership({ type: 'addLearner', node: 'n4' });
  await waitFor('n4 caught up', () => (l.status().progress['n4']?.match ?? 0) >= l.status().commit || undefined);
  await l.changeMembership({ type: 'promote', node: 'n4' });
  const expected = ['n1', 'n2', 'n3', 'n4'];
  await waitFor('n4 sees itself a voter', () => (joiner.status().membership.voters.length === 4 ? true : undefined));
  assert.deepEqual([...joiner.status().membership.voters].sort(), expected);

  await stopNode('n4');
  const again = await startNode('n4', { voters: [], learners: [] });
  assert.deepEqual([...again.status().membership.voters].sort(), expected);
  for (const id of [...drivers.keys()]) await stopNode(id);
});
