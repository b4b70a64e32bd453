// End-to-end membership limits on real processes: 300 add-node calls for nodes that do not exist
// (an operator's script in a loop) against a serving 3-node cluster. At most two become learners;
// every other call is refused with MEMBERSHIP_FULL (or, when it raced another add-node's
// membership change, CONF_CHANGE_IN_PROGRESS) and changes nothing; the cluster keeps serving,
// keeps taking snapshots (one every 32 entries) and a node restarts from them.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import { MailboxClientError } from '../../src/bridge/client.js';
import { freePort, sleep, useCluster, type NodeStatus } from '../support/e2e.js';

const CALLS = 300;
const BATCH = 30;
/** The catch-up wait of each call: the two that become learners spend it waiting for nodes that never answer. */
const WAIT_MS = 300;
const SNAPSHOT_ENTRIES = 32;

describe('300 add-node calls leave the cluster serving', { timeout: 300_000 }, () => {
  const e2e = useCluster({ nodes: 3, raft: { snapshotEntries: SNAPSHOT_ENTRIES } });
  const { step, cli } = e2e;
  let nowhere = 0;
  let floodEnd = 0;
  let sent = 0;

  async function nodeStatuses(): Promise<NodeStatus[]> {
    return (await e2e.client.nodeStatuses()) as NodeStatus[];
  }

  /** One put and the consume of it: the cluster serves. */
  async function roundTrip(user: string): Promise<void> {
    const body = `${user} #${sent++}`;
    await e2e.client.put(user, body);
    const got = await e2e.client.consume(user);
    assert.ok(got, `${user}: consumed nothing`);
    assert.equal(new TextDecoder().decode(got.body), body);
  }

  step(`${CALLS} add-node calls: two learners at most, the others refused with a typed error; puts and consumes work throughout`, async () => {
    nowhere = await freePort();
    const outcomes = new Map<string, number>();
    const started = Date.now();
    for (let first = 0; first < CALLS; first += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, CALLS - first) }, (_, k) =>
        e2e.client.addNode(`flood-${first + k}`, '127.0.0.1', nowhere, { catchUpMs: WAIT_MS }).then(
          () => 'ok',
          (err: unknown) => (err instanceof MailboxClientError ? err.code : String(err)),
        ),
      );
      const [codes] = await Promise.all([Promise.all(batch), roundTrip('flood-watcher')]);
      for (const c of codes) outcomes.set(c, (outcomes.get(c) ?? 0) + 1);
    }
    const elapsed = Date.now() - started;
    const summary = JSON.stringify(Object.fromEntries(outcomes));
    for (const code of outcomes.keys()) {
      assert.ok(['MEMBERSHIP_FULL', 'TIMEOUT', 'CONF_CHANGE_IN_PROGRESS'].includes(code), `unexpected outcome ${code}: ${summary}`);
    }
    // The two that became learners waited WAIT_MS and timed out; nothing else holds a slot.
    assert.equal(outcomes.get('TIMEOUT'), 2, summary);
    assert.ok((outcomes.get('MEMBERSHIP_FULL') ?? 0) >= CALLS - 20, `most calls refused at once: ${summary}`);
    process.stderr.write(`# ${CALLS} add-node calls in ${elapsed} ms: ${summary}\n`);

    const leader = (await e2e.client.status()) as NodeStatus;
    assert.equal(leader.members.voters.length, 3);
    assert.equal(leader.members.learners.length, 2);
    assert.deepEqual(Object.keys(leader.directory).sort(), [...leader.members.learners].sort(), 'only the learners have addresses: the refused calls left none');
    floodEnd = leader.commitIndex;
    await roundTrip('after-flood');
  });

  step('the CLI gets MEMBERSHIP_FULL with exit code 3', async () => {
    const refused = await cli('add-node', 'one-more', `127.0.0.1:${nowhere}`, '--wait', '200');
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /MEMBERSHIP_FULL/);
  });

  step('every node still takes snapshots after the flood', async () => {
    for (let i = 0; i < 2 * SNAPSHOT_ENTRIES; i++) await e2e.client.put('snapshots', `#${i}`);
    const deadline = Date.now() + 20_000;
    let statuses: NodeStatus[] = [];
    for (;;) {
      statuses = await nodeStatuses();
      if (statuses.length === 3 && statuses.every((s) => s.snapshotIndex > floodEnd)) break;
      assert.ok(Date.now() < deadline, `snapshots past index ${floodEnd}: ${JSON.stringify(statuses.map((s) => [s.node, s.snapshotIndex]))}`);
      await sleep(200);
    }
    for (const id of e2e.cluster.ids) {
      const logs = e2e.cluster.logs(id);
      assert.match(logs, /snapshot taken/, id);
      assert.doesNotMatch(logs, /halted/, id);
    }
  });

  step('a follower restarts from its snapshot, and the cluster serves on', async () => {
    const follower = (await nodeStatuses()).find((s) => s.role === 'follower')!;
    await e2e.cluster.signal(follower.node, 'SIGTERM');
    e2e.cluster.startNode(follower.node);
    await roundTrip('while-restarting');
    const commit = ((await e2e.client.status()) as NodeStatus).commitIndex;
    const deadline = Date.now() + 30_000;
    let back: NodeStatus | undefined;
    for (;;) {
      back = (await nodeStatuses()).find((s) => s.node === follower.node);
      if (back !== undefined && back.appliedIndex >= commit) break;
      assert.ok(Date.now() < deadline, `${follower.node} did not come back and catch up after its restart`);
      await sleep(200);
    }
    assert.ok(back.snapshotIndex > floodEnd, `${follower.node} restarted from a snapshot taken after the flood`);
    assert.deepEqual(back.members, ((await e2e.client.status()) as NodeStatus).members);
    await roundTrip('after-restart');
    assert.doesNotMatch(e2e.cluster.logs(follower.node), /halted/);
  });
});
