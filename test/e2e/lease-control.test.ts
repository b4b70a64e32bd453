// End-to-end on real node processes behind the real router (issue #12 items 4 and 5): delayed
// delivery and nack with a delay across a leader kill -9, a touched lease outliving its first
// deadline, and redrive putting dead letters back in seq order. Through the public MailboxClient.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { MailboxClient } from 'forge-mailbox/client';
import { sleep, withCluster } from '../support/e2e.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

test('delayed delivery and nack?delay hold across a leader change', { timeout: 120_000 }, async () => {
  await withCluster({ nodes: 3 }, async (cluster, admin) => {
    const leader = await cluster.waitForLeader(admin);
    const client = await MailboxClient.open(cluster.router.url, { token: cluster.adminToken, requestTimeoutMs: 30_000, attemptTimeoutMs: 6000 });
    try {
      const DELAY = 8000;
      const started = Date.now();
      await client.put('dl', 'delayed', { delayMs: DELAY });
      await client.put('dl', 'nacked');
      const m = await client.receive('dl', { leaseMs: 30_000 });
      assert.ok(m !== null);
      assert.equal(text(m.body), 'nacked');
      await client.nack('dl', m.receipt, { delayMs: DELAY });
      const nackedAt = Date.now();
      assert.equal((await client.len('dl')).delayed, 2);

      await cluster.signal(leader, 'SIGKILL');
      await cluster.waitForLeader(admin, 20_000, leader);
      // Still invisible on the new leader. Only an answer that came back before the earliest the
      // message may show (its put's entry is stamped after `started`) proves anything: on a busy
      // machine a consume sent in time can be retried past the delay and then rightly get it.
      const taken: string[] = [];
      const early = await client.consume('dl');
      if (early !== null) {
        assert.ok(Date.now() >= started + DELAY, `a delayed message was delivered ${started + DELAY - Date.now()} ms before its time`);
        taken.push(`${text(early.body)}:${early.deliveries}`);
      }
      const peeked = await client.peek('dl');
      if (taken.length === 0 && Date.now() < started + DELAY) assert.equal(peeked, null, 'a delayed message is not shown before its time');
      await sleep(Math.max(0, nackedAt + DELAY + 200 - Date.now()));
      while (taken.length < 2) {
        const m = await client.consume('dl');
        assert.ok(m !== null, `visible after the delay; taken so far ${JSON.stringify(taken)}`);
        taken.push(`${text(m.body)}:${m.deliveries}`);
      }
      assert.deepEqual(taken, ['delayed:1', 'nacked:2'], 'visible after the delay, in seq order');
      assert.equal(await client.consume('dl'), null);
    } finally {
      await client.close();
    }
  });
});

test('a touched lease outlives its first deadline', { timeout: 120_000 }, async () => {
  await withCluster({ nodes: 3 }, async (cluster, admin) => {
    await cluster.waitForLeader(admin);
    const client = await MailboxClient.open(cluster.router.url, { token: cluster.adminToken, requestTimeoutMs: 20_000 });
    try {
      await client.put('tl', 'work');
      const m = await client.receive('tl', { leaseMs: 2000 });
      assert.ok(m !== null);
      await sleep(1000);
      await client.touch('tl', m.receipt, 6000);
      await sleep(Math.max(0, m.leaseExpiresAt + 1500 - Date.now()));
      assert.equal(await client.consume('tl'), null, 'not handed out again after the first deadline');
      assert.equal((await client.len('tl')).inFlight, 1);
      await client.ack('tl', m.receipt);
      assert.deepEqual([(await client.len('tl')).count, (await client.len('tl')).inFlight], [0, 0]);
    } finally {
      await client.close();
    }
  });
});

test('redrive restores order', { timeout: 120_000 }, async () => {
  await withCluster({ nodes: 3, mailbox: { maxDeliveries: 1 } }, async (cluster, admin) => {
    await cluster.waitForLeader(admin);
    const client = await MailboxClient.open(cluster.router.url, { token: cluster.adminToken, requestTimeoutMs: 20_000 });
    try {
      for (const body of ['m1', 'm2', 'm3', 'm4']) await client.put('rd', body);
      const leased = new Map<string, string>();
      for (let i = 0; i < 4; i++) {
        const m = await client.receive('rd', { leaseMs: 30_000 });
        assert.ok(m !== null);
        leased.set(text(m.body), m.receipt);
      }
      // Dead-lettered out of order: the dead-letter mailbox keeps seq order, and so does redrive.
      for (const body of ['m3', 'm1', 'm4', 'm2']) await client.nack('rd', leased.get(body)!, { delayMs: 0 });
      assert.equal((await client.len('rd')).deadLetterCount, 4);
      await client.put('rd', 'm5');
      assert.equal(await client.redrive('rd', { max: 2 }), 2);
      assert.equal(await client.redrive('rd'), 2);
      assert.equal((await client.len('rd')).deadLetterCount, 0);
      const order: string[] = [];
      for (;;) {
        const m = await client.consume('rd');
        if (m === null) break;
        order.push(`${text(m.body)}:${m.deliveries}`);
      }
      assert.deepEqual(order, ['m1:1', 'm2:1', 'm3:1', 'm4:1', 'm5:1']);
    } finally {
      await client.close();
    }
  });
});
