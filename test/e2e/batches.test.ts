// Batches (issue #12 item 3) on real processes, a real router and LevelDB on disk: `consume?max=N`
// answers up to N messages in order, one reply each, in one log entry; a batch put is all or none
// (one oversize body refuses the batch and nothing is enqueued); a rid replays the whole batch; a
// leased batch gives each message its own receipt; a woken long poll takes up to max.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import { MailboxClientError } from '../../src/bridge/client.js';
import { MailboxClient } from '../../src/bridge/mailbox-client.js';
import { metricValue, sleep, useCluster } from '../support/e2e.js';

describe('batches', { timeout: 300_000 }, () => {
  const e2e = useCluster({ nodes: 3, metrics: true, mailbox: { maxBodyBytes: 4096 } });
  const { step } = e2e;

  async function leaderPage(): Promise<string> {
    const leader = ((await e2e.client.status()) as { node: string }).node;
    return (await fetch(e2e.cluster.metricsUrl(leader))).text();
  }
  const consumeEntries = (page: string) => metricValue(page, 'forge_proposals_total', { op: 'consume', outcome: 'ok' }) ?? 0;

  step('a batch put enqueues in order in one entry; consume max=N returns them in order, one entry per batch', async () => {
    const bodies = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const puts = await e2e.client.putBatch('batch', bodies.map((body, i) => ({ body, id: `b-${i}` })));
    assert.deepEqual(puts.map((p) => p.id), bodies.map((_, i) => `b-${i}`));
    assert.ok(puts.every((p, i) => !p.duplicate && (i === 0 || p.seq === puts[i - 1]!.seq + 1)), 'consecutive seqs');
    const before = consumeEntries(await leaderPage());
    const first = await e2e.client.consumeBatch('batch', 16);
    const second = await e2e.client.consumeBatch('batch', 16);
    const third = await e2e.client.consumeBatch('batch', 16);
    assert.deepEqual([first.length, second.length, third.length], [16, 16, 8]);
    const got = [...first, ...second, ...third].map((m) => new TextDecoder().decode(m.body));
    assert.deepEqual(got, bodies);
    assert.deepEqual(await e2e.client.consumeBatch('batch', 16), []);
    assert.equal(consumeEntries(await leaderPage()) - before, 3, 'three batch consumes, three entries (the empty one none)');
  });

  step('a retried batch put reports duplicates and adds nothing', async () => {
    const again = await e2e.client.putBatch('dupes', [{ body: 'x', id: 'd1' }, { body: 'y', id: 'd2' }]);
    const retry = await e2e.client.putBatch('dupes', [{ body: 'x', id: 'd1' }, { body: 'y', id: 'd2' }]);
    assert.deepEqual(retry.map((p) => [p.id, p.seq, p.duplicate]), again.map((p) => [p.id, p.seq, true]));
    assert.equal((await e2e.client.len('dupes')).count, 2);
  });

  step('one oversize body refuses the whole batch: nothing is enqueued', async () => {
    const big = new Uint8Array(4097);
    await assert.rejects(e2e.client.putBatch('all-or-none', [{ body: 'ok' }, { body: big }, { body: 'ok too' }]), (e: unknown) => e instanceof MailboxClientError && e.code === 'TOO_LARGE');
    assert.equal((await e2e.client.len('all-or-none')).count, 0);
  });

  step('a rid replays the whole batch; a leased batch has a receipt per message', async () => {
    await e2e.client.putBatch('rid', [1, 2, 3, 4].map((i) => ({ body: `r${i}` })));
    const first = await e2e.client.consumeBatch('rid', 3, { requestId: 'batch-rid-1' });
    const replay = await e2e.client.consumeBatch('rid', 3, { requestId: 'batch-rid-1' });
    assert.deepEqual(replay.map((m) => m.seq), first.map((m) => m.seq));
    const leased = await e2e.client.consumeBatch('rid', 3, { leaseMs: 30_000 });
    assert.equal(leased.length, 1);
    assert.ok(leased[0]!.receipt);
    await e2e.client.ack('rid', leased[0]!.receipt!);
    await e2e.client.putBatch('lease', [1, 2, 3].map((i) => ({ body: `l${i}` })));
    const three = await e2e.client.consumeBatch('lease', 3, { leaseMs: 30_000 });
    assert.equal(new Set(three.map((m) => m.receipt)).size, 3);
    for (const m of three) await e2e.client.ack('lease', m.receipt!);
    assert.equal((await e2e.client.len('lease')).inFlight, 0);
  });

  step('a woken long poll with max takes what the batch put brought', async () => {
    const waiting = e2e.client.consumeBatch('woken', 16, { waitMs: 20_000 });
    await sleep(1000);
    await e2e.client.putBatch('woken', [1, 2, 3, 4, 5].map((i) => ({ body: `w${i}` })));
    const got = await waiting;
    assert.deepEqual(got.map((m) => new TextDecoder().decode(m.body)), ['w1', 'w2', 'w3', 'w4', 'w5']);
  });

  step('the public client: putBatch with generated ids, receiveBatch leased, consumeBatch with a rid', async () => {
    const client = await MailboxClient.open(e2e.cluster.router.url, { token: e2e.cluster.adminToken, requestTimeoutMs: 20_000 });
    try {
      const puts = await client.putBatch('public', [{ body: 'p1' }, { body: 'p2' }, { body: 'p3', id: 'mine' }]);
      assert.equal(puts.length, 3);
      assert.match(puts[0]!.id, /^[0-9a-f-]{36}$/);
      assert.equal(puts[2]!.id, 'mine');
      const leased = await client.receiveBatch('public', 2, { leaseMs: 30_000 });
      assert.deepEqual(leased.map((m) => new TextDecoder().decode(m.body)), ['p1', 'p2']);
      for (const m of leased) await client.ack('public', m.receipt);
      assert.deepEqual((await client.consumeBatch('public', 10)).map((m) => m.id), ['mine']);
      assert.deepEqual(await client.consumeBatch('public', 10), []);
    } finally {
      await client.close();
    }
  });
});
