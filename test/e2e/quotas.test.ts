// End-to-end cluster quotas and load shedding on real processes (node processes, LevelDB, TCP,
// the real router and link guard):
// - an operator sets a small total-messages quota through the admin key space (the CLI); every
//   replica applies it from the log; puts past it are refused with QUOTA_EXCEEDED while consumes,
//   leases and acks go on and drain; a token without `admin` cannot change it; a follower
//   restarted from a snapshot has the same quotas; a full consume result table (maxConsumeResults)
//   refuses new request ids until the operator raises it;
// - a node whose bridge has its bound of requests in flight answers BUSY at once.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import { ForgeMailboxClient, MailboxClientError } from '../../src/bridge/client.js';
import { freePort, sleep, useCluster } from '../support/e2e.js';

interface QuotaStatus {
  maxMessages: number;
  maxBytes: number;
  maxMailboxes: number;
  maxPutIds: number;
  maxConsumeResults: number;
  usage: { messages: number; bytes: number; mailboxes: number };
}

interface NodeStatus {
  node: string;
  role: string;
  appliedIndex: number;
  snapshotIndex: number;
  quotas: QuotaStatus;
}

const SNAPSHOT_ENTRIES = 16;

async function refusedWith(promise: Promise<unknown>, code: string): Promise<MailboxClientError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof MailboxClientError, String(e));
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('cluster quotas on real processes', { timeout: 240_000 }, () => {
  const e2e = useCluster({ nodes: 3, raft: { snapshotEntries: SNAPSHOT_ENTRIES } });
  const { step, cli } = e2e;

  async function nodeStatuses(): Promise<NodeStatus[]> {
    return (await e2e.client.nodeStatuses()) as NodeStatus[];
  }

  /** Polls every node's own status until all three satisfy `ok`. */
  async function everyNode(what: string, ok: (s: NodeStatus) => boolean, timeoutMs = 20_000): Promise<NodeStatus[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await nodeStatuses();
      if (statuses.length === 3 && statuses.every(ok)) return statuses;
      assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(statuses.map((s) => [s.node, s.appliedIndex, s.snapshotIndex, s.quotas]))}`);
      await sleep(200);
    }
  }

  step('the CLI shows the default quotas, then sets maxMessages through the log: every replica applies it', async () => {
    const shown = await cli('quotas');
    assert.equal(shown.code, 0, shown.stderr);
    const defaults = JSON.parse(shown.stdout) as QuotaStatus;
    assert.deepEqual(defaults.usage, { messages: 0, bytes: 0, mailboxes: 0 });
    assert.ok(defaults.maxMessages > 1000, JSON.stringify(defaults));

    const set = await cli('quotas', '--max-messages', '5', '--max-consume-results', '90000');
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { ...defaults, maxMessages: 5, maxConsumeResults: 90_000 });
    await everyNode('every node applied maxMessages 5', (s) => s.quotas.maxMessages === 5 && s.quotas.maxBytes === defaults.maxBytes);
  });

  step('puts past the quota are refused with QUOTA_EXCEEDED; consumes, leases and acks go on and drain', async () => {
    const c = e2e.client;
    for (let i = 0; i < 3; i++) await c.put('alice', `a${i}`);
    for (let i = 0; i < 2; i++) await c.put('bob', `b${i}`);
    const refused = await refusedWith(c.put('carol', 'one too many'), 'QUOTA_EXCEEDED');
    assert.match(refused.message, /maxMessages reached: 5 messages held, limit 5/);
    await refusedWith(c.put('alice', 'still too many', { id: 'retry-me' }), 'QUOTA_EXCEEDED');
    const viaCli = await cli('put', 'bob', 'from the CLI');
    assert.equal(viaCli.code, 1, viaCli.stderr);
    assert.match(viaCli.stderr, /QUOTA_EXCEEDED: cluster quota maxMessages reached/);
    assert.equal((await c.len('carol')).count, 0, 'the refused put changed nothing');

    // At the quota: a plain consume, a lease and its ack all work, and free room.
    assert.equal(new TextDecoder().decode((await c.consume('alice'))!.body), 'a0');
    const leased = await c.consume('bob', { leaseMs: 30_000 });
    assert.ok(leased?.receipt);
    await c.put('carol', 'fits now');
    await refusedWith(c.put('carol', 'full again'), 'QUOTA_EXCEEDED');
    await c.ack('bob', leased.receipt);
    await c.put('alice', 'retry-me', { id: 'retry-me' });
    const st = (await c.status()) as { quotas: QuotaStatus };
    assert.equal(st.quotas.usage.messages, 5);
    assert.equal(st.quotas.usage.mailboxes, 3);

    // Drain everything: every consume works at the quota.
    for (const user of ['alice', 'bob', 'carol']) while ((await c.consume(user)) !== null);
    assert.deepEqual(((await c.status()) as { quotas: QuotaStatus }).quotas.usage, { messages: 0, bytes: 0, mailboxes: 0 });
  });

  step('a token without the admin operation cannot change the quotas', async () => {
    const token = await e2e.cluster.issueToken('producer', ['*'], ['put', 'consume', 'status']);
    const producer = await ForgeMailboxClient.open(e2e.cluster.router.url, { requestTimeoutMs: 6000, token });
    try {
      await refusedWith(producer.setQuotas({ maxMessages: 1_000_000 }), 'FORBIDDEN');
    } finally {
      await producer.close();
    }
    const st = (await e2e.client.status()) as { quotas: QuotaStatus };
    assert.equal(st.quotas.maxMessages, 5);
  });

  step('maxMailboxes and maxBytes refuse with their own message; the quotas survive a follower restart from a snapshot', async () => {
    const c = e2e.client;
    await c.setQuotas({ maxMailboxes: 1, maxBytes: 10, maxPutIds: 3, maxConsumeResults: 2 });
    await c.put('dave', '12345');
    assert.match((await refusedWith(c.put('erin', 'x'), 'QUOTA_EXCEEDED')).message, /maxMailboxes reached: 1 mailboxes/);
    assert.match((await refusedWith(c.put('dave', '123456'), 'QUOTA_EXCEEDED')).message, /maxBytes reached: 5 bytes held, limit 10/);
    // Enough entries for every node to snapshot past the quota change.
    const changed = ((await c.status()) as NodeStatus).appliedIndex;
    for (let i = 0; i < 2 * SNAPSHOT_ENTRIES; i++) {
      await c.put('dave', `${i}`);
      await c.consume('dave');
    }
    await everyNode('every node snapshotted past the quota change', (s) => s.snapshotIndex > changed);
    const follower = (await nodeStatuses()).find((s) => s.role === 'follower')!;
    await e2e.cluster.signal(follower.node, 'SIGTERM');
    e2e.cluster.startNode(follower.node);
    const caughtUp = ((await c.status()) as NodeStatus).appliedIndex;
    const restarted = await everyNode('the restarted follower caught up', (s) => s.appliedIndex >= caughtUp, 30_000);
    const back = restarted.find((s) => s.node === follower.node)!;
    assert.ok(back.snapshotIndex > changed, 'restored from a snapshot that holds the quotas');
    assert.deepEqual(
      { maxMessages: back.quotas.maxMessages, maxBytes: back.quotas.maxBytes, maxMailboxes: back.quotas.maxMailboxes, maxPutIds: back.quotas.maxPutIds, maxConsumeResults: back.quotas.maxConsumeResults },
      { maxMessages: 5, maxBytes: 10, maxMailboxes: 1, maxPutIds: 3, maxConsumeResults: 2 },
    );
    // dave holds the last of the loop's puts, "31".
    assert.deepEqual(back.quotas.usage, { messages: 1, bytes: 2, mailboxes: 1 });
  });

  step('a full consume result table refuses new request ids, answers remembered ones, and takes new ones once raised', async () => {
    const c = e2e.client;
    // maxConsumeResults is 2 (the step above): two new rids are remembered (empty results too).
    assert.equal(await c.consume('fred', { requestId: 'r1' }), null);
    assert.equal(await c.consume('fred', { requestId: 'r2' }), null);
    assert.match((await refusedWith(c.consume('fred', { requestId: 'r3' }), 'QUOTA_EXCEEDED')).message, /cluster quota maxConsumeResults reached/);
    assert.equal(await c.consume('fred', { requestId: 'r1' }), null, 'a remembered request id is still answered');
    assert.equal(await c.consume('fred'), null, 'a consume without a request id is not counted');
    await c.setQuotas({ maxConsumeResults: 3 });
    assert.equal(await c.consume('fred', { requestId: 'r3' }), null);
  });
});

describe('BUSY past the in-flight bound on a real node', { timeout: 120_000 }, () => {
  // One request in flight at a time: an add-node waiting for a node that never answers holds it.
  const e2e = useCluster({ nodes: 1, zenoh: { maxInflightRequests: 1 } });
  const { step } = e2e;

  step('while an add-node holds the only slot, a put is answered BUSY at once and changes nothing', async () => {
    const c = e2e.client;
    const nowhere = await freePort();
    const held = e2e.client.addNode('ghost', '127.0.0.1', nowhere, { catchUpMs: 8000 }).then(
      () => 'ok',
      (err: unknown) => (err instanceof MailboxClientError ? err.code : String(err)),
    );
    // The add-node is in flight once its learner is in the membership.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const st = (await c.nodeStatuses()) as { members: { learners: string[] } }[];
      if (st[0]?.members.learners.includes('ghost')) break;
      assert.ok(Date.now() < deadline, 'the add-node did not start');
      await sleep(50);
    }
    const started = performance.now();
    await refusedWith(c.put('alice', 'shed'), 'BUSY');
    const ms = performance.now() - started;
    assert.ok(ms < 2000, `BUSY at once, not after a timeout: ${ms.toFixed(0)} ms`);
    process.stderr.write(`# BUSY answered in ${ms.toFixed(1)} ms\n`);
    assert.equal(await held, 'TIMEOUT', 'the add-node itself waited out its catch-up');
    // The slot is free again: the put goes through, and the refused one was never enqueued.
    await c.put('alice', 'served');
    assert.equal(new TextDecoder().decode((await c.consume('alice'))!.body), 'served');
    assert.equal(await c.consume('alice'), null);
    await c.removeNode('ghost');
  });
});
