// End-to-end membership changes on a running cluster: real `forge-mailbox serve` processes behind
// the real Zenoh router, changed with the real CLI. A fourth node joins and catches up (through a
// snapshot: the log is compacted every 64 entries), the leader removes itself, and the peer
// directory carries the new node's address across restarts of the nodes that never had it in
// their configuration.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import type { PeerAddress } from '../../src/identifiers.js';
import { eventually, freePort, sleep, useCluster } from '../support/e2e.js';

interface NodeStatus {
  node: string;
  role: string;
  members: { voters: string[]; learners: string[] };
  directory: Record<string, PeerAddress>;
  followers?: Record<string, { lag: number }>;
  snapshotIndex: number;
  transport: Record<string, { connected: boolean }>;
}

const USERS = ['alice', 'bob', 'carol'];
const PER_USER = 20;

describe('adding and removing members of a running cluster', { timeout: 300_000 }, () => {
  const e2e = useCluster({ nodes: 3, raft: { snapshotEntries: 64 } });
  const { step, cli } = e2e;
  let n4Port = 0;
  let removed = '';
  let survivors: string[] = [];

  async function nodeStatus(id: string): Promise<NodeStatus | undefined> {
    const all = (await e2e.client.nodeStatuses()) as NodeStatus[];
    return all.find((s) => s.node === id);
  }

  step('messages are put on the three founding nodes', async () => {
    for (let i = 0; i < PER_USER; i++) {
      for (const user of USERS) await e2e.client.put(user, `${user} #${i}`, { id: `${user}-${i}` });
    }
  });

  step('a node started with "join": true waits without campaigning', async () => {
    n4Port = await e2e.cluster.addJoiningNode('n4');
    await sleep(1500);
    const st = await eventually('n4 status', () => nodeStatus('n4'));
    assert.equal(st.role, 'follower');
    assert.deepEqual(st.members, { voters: [], learners: [] });
    const leader = (await e2e.client.status()) as NodeStatus;
    assert.deepEqual(leader.members.voters.sort(), ['n1', 'n2', 'n3']);
  });

  step('add-node makes it a voter once caught up; it ends with lag 0 and the directory knows it', async () => {
    const added = await cli('add-node', 'n4', `127.0.0.1:${n4Port}`, '--wait', '60000');
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual(JSON.parse(added.stdout), { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });

    const members = await eventually('n4 at lag 0', async () => {
      const r = await cli('members');
      assert.equal(r.code, 0, r.stderr);
      const m = JSON.parse(r.stdout) as { members: NodeStatus['members']; followers: Record<string, { lag: number }> };
      return m.followers.n4?.lag === 0 ? m : undefined;
    });
    assert.deepEqual(members.members.voters.sort(), ['n1', 'n2', 'n3', 'n4']);

    const n4 = await eventually('n4 a voter in its own eyes', async () => {
      const st = await nodeStatus('n4');
      return st?.members.voters.includes('n4') ? st : undefined;
    });
    assert.deepEqual(n4.directory, { n4: { host: '127.0.0.1', port: n4Port } });
    assert.ok(n4.snapshotIndex > 0, 'n4 caught up from a snapshot (the log is compacted every 64 entries)');
  });

  step('admin errors: already a member and unknown node are bad input (exit 3), a bad address too', async () => {
    const again = await cli('add-node', 'n4', `127.0.0.1:${n4Port}`);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /ALREADY_MEMBER/);
    const unknown = await cli('remove-node', 'n9');
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /UNKNOWN_NODE/);
    const badAddress = await cli('add-node', 'n5', 'no-port-here');
    assert.equal(badAddress.code, 3);
  });

  step('an unreachable node times out as a learner (exit 4); remove-node drops it and its directory entry', async () => {
    const nowhere = await freePort();
    const stuck = await cli('add-node', 'n5', `127.0.0.1:${nowhere}`, '--wait', '1500');
    assert.equal(stuck.code, 4, stuck.stderr);
    assert.match(stuck.stderr, /TIMEOUT: .*n5 reached index 0 .* stays a learner/);
    let st = (await e2e.client.status()) as NodeStatus;
    assert.deepEqual(st.members, { voters: ['n1', 'n2', 'n3', 'n4'], learners: ['n5'] });
    assert.deepEqual(Object.keys(st.directory).sort(), ['n4', 'n5']);
    // A learner does not count for the majority: the cluster still commits.
    await e2e.client.put('dave', 'while n5 is a learner', { id: 'dave-1' });
    assert.equal((await e2e.client.consume('dave'))?.id, 'dave-1');

    const removedN5 = await cli('remove-node', 'n5');
    assert.equal(removedN5.code, 0, removedN5.stderr);
    assert.deepEqual(JSON.parse(removedN5.stdout), { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
    st = (await e2e.client.status()) as NodeStatus;
    assert.deepEqual(Object.keys(st.directory), ['n4']);
  });

  step('the leader removes itself; a new leader is elected among the others and every message is still there', async () => {
    const leader = (await e2e.client.status()) as NodeStatus;
    // No election happened since the founders elected one of themselves.
    assert.notEqual(leader.node, 'n4');
    removed = leader.node;
    survivors = ['n1', 'n2', 'n3', 'n4'].filter((id) => id !== removed);
    const r = await cli('remove-node', removed);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { voters: survivors, learners: [] });

    const next = await e2e.cluster.waitForLeader(e2e.client, 20_000, removed);
    assert.ok(survivors.includes(next), `new leader ${next} is one of ${survivors.join(', ')}`);
    const st = (await e2e.client.status()) as NodeStatus;
    assert.deepEqual(st.members.voters.sort(), survivors);
    for (const user of USERS) assert.equal((await e2e.client.len(user)).count, PER_USER, `${user} keeps every message`);
    // The removed node is no longer a member in its own eyes either, and never campaigns again.
    const gone = await eventually(`${removed} sees its removal`, async () => {
      const s = await nodeStatus(removed);
      return s && !s.members.voters.includes(removed) ? s : undefined;
    });
    assert.notEqual(gone.role, 'leader');
    await e2e.cluster.signal(removed, 'SIGTERM');
  });

  step('after restarts from disk, a founding node reaches n4 through the replicated directory alone', async () => {
    const founders = survivors.filter((id) => id !== 'n4');
    const [a, b] = founders as [string, string];
    // n4 and a restart from their disks (a's configuration does not list n4)...
    await e2e.cluster.signal('n4', 'SIGKILL');
    e2e.cluster.startNode('n4');
    await e2e.cluster.signal(a, 'SIGKILL');
    e2e.cluster.startNode(a);
    const st = await eventually(`${a} back, knowing n4`, async () => {
      const s = await nodeStatus(a);
      return s?.transport.n4?.connected ? s : undefined;
    });
    assert.deepEqual(st.directory, { n4: { host: '127.0.0.1', port: n4Port } });
    assert.ok(st.snapshotIndex > 0, `${a} restarted from a snapshot holding the directory`);
    // ...then b goes: a and n4 are the only quorum left, so they must talk to each other.
    await e2e.cluster.signal(b, 'SIGKILL');
    const leader = await e2e.cluster.waitForLeader(e2e.client, 30_000, b);
    assert.ok([a, 'n4'].includes(leader), `leader ${leader}`);
    await e2e.client.put('alice', 'after the restarts', { id: 'alice-late' });

    for (const user of USERS) {
      const ids: string[] = [];
      for (;;) {
        const m = await e2e.client.consume(user);
        if (m === null) break;
        ids.push(m.id);
      }
      const expected = Array.from({ length: PER_USER }, (_, i) => `${user}-${i}`);
      if (user === 'alice') expected.push('alice-late');
      assert.deepEqual(ids, expected, `${user}: every message once, in order`);
    }
  });
});
