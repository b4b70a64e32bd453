// End-to-end: the public TypeScript client (`forge-mailbox/client`, imported by its package name as
// users do) against real node processes behind the real Zenoh router: a leased round trip with a
// token file, a leader kill -9 under a stream of puts that every put survives exactly once, one
// under streams of consumes (sent together as `@consumes` queries) that takes each message once,
// and the messages() consumer loop.

import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MailboxClient, type StreamedMessage } from 'forge-mailbox/client';
import { writeSecretFile } from '../../src/secret-files.js';
import { sleep, withCluster } from '../support/e2e.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

test('MailboxClient put, receive and ack round trip, with the token read from a private file', { timeout: 120_000 }, async () => {
  await withCluster({ nodes: 3 }, async (cluster, admin) => {
    await cluster.waitForLeader(admin);
    const dir = mkdtempSync(join(tmpdir(), 'forge-mc-'));
    try {
      const open = join(dir, 'open.token');
      writeFileSync(open, cluster.adminToken);
      chmodSync(open, 0o644);
      await assert.rejects(MailboxClient.open(cluster.router.url, { tokenFile: open }), /readable by others/);

      const tokenFile = join(dir, 'client.token');
      writeSecretFile(tokenFile, `${cluster.adminToken}\n`);
      const client = await MailboxClient.open(cluster.router.url, { tokenFile, requestTimeoutMs: 20_000 });
      try {
        const put = await client.put('mc-user', 'hello');
        assert.match(put.id, /^[0-9a-f-]{36}$/, 'a generated id');
        assert.equal(put.duplicate, false);
        assert.equal((await client.put('mc-user', 'hello', { id: put.id })).duplicate, true, 'the same id again adds nothing');

        const m = await client.receive('mc-user', { leaseMs: 10_000 });
        assert.ok(m !== null);
        assert.equal(m.id, put.id);
        assert.equal(text(m.body), 'hello');
        assert.ok(m.leaseExpiresAt > Date.now());
        assert.equal((await client.len('mc-user')).inFlight, 1);
        await client.ack('mc-user', m.receipt);
        const stats = await client.len('mc-user');
        assert.deepEqual([stats.count, stats.inFlight], [0, 0]);
        assert.equal(await client.receive('mc-user'), null);
        assert.equal(await client.consume('mc-user'), null);
        await assert.rejects(client.ack('mc-user', m.receipt), (e: unknown) => (e as { code?: string }).code === 'UNKNOWN_RECEIPT');
      } finally {
        await client.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('a leader kill -9 under a stream of puts: every put resolves and each message is there exactly once', { timeout: 180_000 }, async (t) => {
  await withCluster({ nodes: 3 }, async (cluster, admin) => {
    const leader = await cluster.waitForLeader(admin);
    const client = await MailboxClient.open(cluster.router.url, { token: cluster.adminToken, requestTimeoutMs: 30_000, attemptTimeoutMs: 6000 });
    try {
      const sent: string[] = [];
      const failures: string[] = [];
      let duplicates = 0;
      let slowest = 0;
      let running = true;
      const loops = [0, 1, 2, 3].map(async (loop) => {
        for (let n = 0; running; n++) {
          const id = `k${loop}-${n}`;
          const started = Date.now();
          try {
            const r = await client.put('kill-stream', id, { id });
            sent.push(id);
            if (r.duplicate) duplicates++;
            slowest = Math.max(slowest, Date.now() - started);
          } catch (e) {
            failures.push(`${id}: ${String(e)}`);
          }
        }
      });
      await sleep(1500);
      await cluster.signal(leader, 'SIGKILL');
      await sleep(4000);
      running = false;
      await Promise.all(loops);

      assert.deepEqual(failures, [], 'every put resolved');
      const seen = new Map<string, number>();
      for (;;) {
        const m = await client.consume('kill-stream');
        if (m === null) break;
        assert.equal(text(m.body), m.id);
        seen.set(m.id, (seen.get(m.id) ?? 0) + 1);
      }
      const summary = `${sent.length} puts across a leader kill -9: ${duplicates} answered duplicate (a retry of a committed put), slowest ${slowest} ms`;
      t.diagnostic(summary);
      process.stderr.write(`mailbox-client e2e: ${summary}\n`);
      assert.ok(sent.length > 20, summary);
      assert.deepEqual([...seen.keys()].sort(), [...sent].sort(), 'every acknowledged put is in the mailbox');
      assert.deepEqual([...seen.entries()].filter(([, n]) => n !== 1), [], 'each exactly once');
    } finally {
      await client.close();
    }
  });
});

test('a leader kill -9 under streams of consumes sent together: no message is lost or taken twice', { timeout: 180_000 }, async (t) => {
  await withCluster({ nodes: 3 }, async (cluster, admin) => {
    const leader = await cluster.waitForLeader(admin);
    // Consumes made in one turn go out as one `@consumes` query; each carries its own generated
    // request id, so a retry across the kill gets the very message its first attempt took.
    const client = await MailboxClient.open(cluster.router.url, { token: cluster.adminToken, requestTimeoutMs: 30_000, attemptTimeoutMs: 6000 });
    try {
      const users = ['kc-a', 'kc-b', 'kc-c', 'kc-d'];
      const ids: string[] = [];
      for (const user of users) {
        for (let b = 0; b < 4; b++) {
          const batch = Array.from({ length: 250 }, (_, n) => ({ body: `${user}-${b}-${n}`, id: `${user}-${b}-${n}` }));
          await client.putBatch(user, batch);
          ids.push(...batch.map((m) => m.id));
        }
      }
      const taken: string[] = [];
      const failures: string[] = [];
      let running = true;
      const loops = users.flatMap((user) =>
        [0, 1].map(async () => {
          while (running) {
            try {
              const m = await client.consume(user);
              if (m === null) return;
              assert.equal(text(m.body), m.id);
              taken.push(m.id);
            } catch (e) {
              failures.push(`${user}: ${String(e)}`);
            }
            // Paced, so that the stream is still running when the leader dies.
            await sleep(5);
          }
        }),
      );
      await sleep(300);
      await cluster.signal(leader, 'SIGKILL');
      await sleep(4000);
      running = false;
      await Promise.all(loops);
      const before = taken.length;
      for (const user of users) for (let m = await client.consume(user); m !== null; m = await client.consume(user)) taken.push(m.id);
      const summary = `${before} consumes across a leader kill -9, ${taken.length - before} drained after`;
      t.diagnostic(summary);
      assert.deepEqual(failures, [], 'every consume resolved');
      assert.ok(before > 20, summary);
      assert.deepEqual([...taken].sort(), [...ids].sort(), 'every message taken exactly once');
    } finally {
      await client.close();
    }
  });
});

test('messages() receives messages put later, acks them, and ends on abort', { timeout: 120_000 }, async () => {
  await withCluster({ nodes: 3 }, async (cluster, admin) => {
    await cluster.waitForLeader(admin);
    const client = await MailboxClient.open(cluster.router.url, { token: cluster.adminToken, requestTimeoutMs: 20_000 });
    try {
      const abort = new AbortController();
      const got: StreamedMessage[] = [];
      const consumer = (async () => {
        for await (const m of client.messages('stream-user', { waitMs: 2000, leaseMs: 10_000, signal: abort.signal })) {
          got.push(m);
          await m.ack();
          if (got.length === 3) abort.abort();
        }
      })();
      await sleep(1000);
      for (const id of ['s1', 's2', 's3']) await client.put('stream-user', `body ${id}`, { id });
      const endedBy = Date.now() + 30_000;
      await Promise.race([consumer, (async () => {
        while (Date.now() < endedBy) await sleep(100);
        throw new Error('messages() did not end');
      })()]);
      assert.deepEqual(got.map((m) => [m.id, m.text()]), [['s1', 'body s1'], ['s2', 'body s2'], ['s3', 'body s3']]);
      const stats = await client.len('stream-user');
      assert.deepEqual([stats.count, stats.inFlight], [0, 0], 'all acked');

      // close() ends a loop parked in its long poll.
      const parked = (async () => {
        for await (const _ of client.messages('idle-user', { waitMs: 20_000 })) assert.fail('no message was put');
      })();
      await sleep(500);
      const closing = Date.now();
      await client.close();
      await parked;
      assert.ok(Date.now() - closing < 5000);
    } finally {
      await client.close();
    }
  });
});
