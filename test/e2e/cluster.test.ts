// End-to-end: three real `forge-mailbox serve` processes (LevelDB on disk, Raft over TCP) behind
// the real Zenoh router; clients are Python eclipse-zenoh, zenoh-ts and the CLI.

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe } from 'node:test';
import { Config, ConsolidationMode, QueryTarget, Sample, Session } from '@eclipse-zenoh/zenoh-ts';
import { MailboxClientError, type ForgeMailboxClient } from '../../src/bridge/client.js';
import { repoRoot, runProgram, runPython, sleep, useCluster } from '../support/e2e.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('three-node cluster behind the real Zenoh router', { timeout: 300_000 }, () => {
  const e2e = useCluster({ nodes: 3 });
  const { step, cli } = e2e;

  step('1,000 puts from Python to 10 users are each consumed exactly once, in order, byte-exact', async () => {
    const stdout = await runPython('test/support/python_bulk_put.py', [e2e.cluster.router.clientConfig, 'forge/mailbox', '10', '100'], 180_000, { FORGE_TOKEN: e2e.cluster.adminToken });
    const acked = stdout.trim().split('\n').map((l) => JSON.parse(l) as { user: string; id: string; seq: number; body_hex: string });
    assert.equal(acked.length, 1000);

    for (let i = 0; i < 10; i++) {
      const user = `user-${i}`;
      const expected = acked.filter((a) => a.user === user);
      const got: Array<{ id: string; body: string }> = [];
      for (;;) {
        const m = await e2e.client.consume(user);
        if (m === null) break;
        got.push({ id: m.id, body: hex(m.body) });
      }
      assert.deepEqual(
        got,
        expected.map((a) => ({ id: a.id, body: a.body_hex })),
        `${user}: every message once, in put order, bytes intact`,
      );
    }
  });

  step('the README client examples (Python and TypeScript) work as documented', async () => {
    const py = await runPython('examples/python_client.py', [e2e.cluster.router.clientConfig, 'readme-py'], 60_000, { FORGE_TOKEN: e2e.cluster.adminToken });
    assert.match(py, /put acknowledged: \{"id":"gen-42"/);
    assert.match(py, /got @\d+ \{"message": "Your AI generation is ready"\}\ngot gen-42 \{"message": "second"\}\nmailbox empty/);
    assert.match(py, /\nbatch consumed: one two three\n/);
    const gateway = await e2e.cluster.router.startGateway();
    const ts = await runProgram(
      process.execPath,
      ['--experimental-wasm-modules', '--no-warnings', join(repoRoot, 'dist', 'examples', 'ts-client.js'), gateway, 'readme-ts'],
      60_000,
      { FORGE_TOKEN: e2e.cluster.adminToken },
    );
    assert.equal(ts.code, 0, ts.stderr);
    assert.match(ts.stdout, /put acknowledged: \{"id":"ts-1","seq":\d+,"duplicate":false\}\ngot ts-1 hello from TypeScript/);
    assert.match(ts.stdout, /\nstream ended\n/, "the messages() loop ends on its signal");
  });

  step('the CLI puts, peeks, measures and consumes; exit codes tell empty from error', async () => {
    const put = await cli('put', 'cli-user', 'Your AI generation is ready', '--id', 'gen-42');
    assert.equal(put.code, 0, put.stderr);
    assert.equal(JSON.parse(put.stdout).id, 'gen-42');
    const len = await cli('len', 'cli-user');
    assert.equal(JSON.parse(len.stdout).count, 1);
    const consumed = await cli('consume', 'cli-user');
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.match(consumed.stdout, /Your AI generation is ready/);
    const empty = await cli('consume', 'cli-user');
    assert.equal(empty.code, 2, 'empty mailbox exits 2');
    const bad = await cli('put', 'bad*user', 'x');
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /BAD_USER/);
  });

  step('bad inputs get typed errors and change nothing', async () => {
    await e2e.client.put('strict', 'keep me', { id: 'keep-1' });
    const attempts: Array<[string, () => Promise<unknown>, string]> = [
      ['oversize body', () => e2e.client.put('strict', new Uint8Array(1024 * 1024 + 1)), 'TOO_LARGE'],
      ['ack with an unknown receipt', () => e2e.client.ack('strict', 'no-such-receipt'), 'UNKNOWN_RECEIPT'],
      ['bad user id', () => e2e.client.put('..', 'x'), 'BAD_USER'],
    ];
    for (const [what, attempt, code] of attempts) {
      await assert.rejects(attempt, (e: unknown) => e instanceof MailboxClientError && e.code === code, what);
    }
    const stats = await e2e.client.len('strict');
    assert.equal(stats.count, 1, 'nothing was added or removed by the bad requests');
    assert.equal((await e2e.client.consume('strict'))?.id, 'keep-1');
  });

  step('a GET with target ALL and no consolidation consumes exactly one message', async () => {
    for (let i = 0; i < 5; i++) await e2e.client.put('fanout', `m${i}`, { id: `fan-${i}` });
    const session = await Session.open(new Config(e2e.cluster.router.url));
    try {
      const replies = await session.get('forge/mailbox/fanout', {
        attachment: JSON.stringify({ token: e2e.cluster.adminToken }),
        target: QueryTarget.ALL,
        consolidation: ConsolidationMode.NONE,
      });
      const messages: string[] = [];
      for await (const reply of replies!) {
        const r = reply.result();
        if (r instanceof Sample) messages.push(new TextDecoder().decode(r.payload().toBytes()));
      }
      assert.deepEqual(messages, ['m0'], 'one message, the head, in one ok reply');
    } finally {
      await session.close();
    }
    const stats = await e2e.client.len('fanout');
    assert.equal(stats.count, 4, 'exactly one of five messages left the mailbox');
  });

  step('on the real cluster, put ids are per principal and lease receipts cannot be guessed', async () => {
    const c = e2e.cluster;
    const alice = await c.client(6000, await c.issueToken('alice-app', ['owned'], ['put', 'consume', 'ack']));
    const bob = await c.client(6000, await c.issueToken('bob-app', ['owned'], ['put', 'ack']));
    try {
      const mine = await alice.put('owned', 'from alice', { id: 'same-id' });
      const theirs = await bob.put('owned', 'from bob', { id: 'same-id' });
      assert.equal(theirs.duplicate, false, "bob's id does not collide with alice's");
      assert.deepEqual(await alice.put('owned', 'retry', { id: 'same-id' }), { ...mine, duplicate: true });
      const leased = (await alice.consume('owned', { leaseMs: 30_000 }))!;
      assert.equal(leased.id, 'same-id');
      assert.match(leased.receipt!, new RegExp(`^${leased.seq}\\.1\\.[A-Za-z0-9_-]{16}$`));
      await assert.rejects(bob.ack('owned', `${leased.seq}.1`), (e: unknown) => e instanceof MailboxClientError && e.code === 'UNKNOWN_RECEIPT');
      await alice.ack('owned', leased.receipt!); // the guess settled nothing: alice's lease is still hers
      const next = (await alice.consume('owned'))!;
      assert.deepEqual([next.id, new TextDecoder().decode(next.body)], ['same-id', 'from bob']);
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  step('kill -9 of the leader during acknowledged puts and consumes: nothing acknowledged is lost or consumed twice; the node rejoins', async () => {
    const leader = await e2e.cluster.waitForLeader(e2e.client);
    const acked = new Set<string>();
    const consumed: string[] = [];
    const indeterminate = new Set<string>();
    let stop = false;
    let n = 0;
    const producer = (async () => {
      while (!stop) {
        const id = `crash-${n++}`;
        try {
          await e2e.client.put('crash', `body ${id}`, { id });
          acked.add(id);
        } catch {
          indeterminate.add(id);
          await sleep(50);
        }
      }
    })();
    const consumer = (async () => {
      let r = 0;
      while (!stop) {
        // Retries reuse the request id, so a lost reply can't cost a second message.
        const rid = `crash-consumer-${r++}`;
        for (;;) {
          try {
            const m = await e2e.client.consume('crash', { requestId: rid });
            if (m) consumed.push(m.id);
            else await sleep(20);
            break;
          } catch {
            if (stop) break;
            await sleep(50);
          }
        }
      }
    })();
    await sleep(1500);
    await e2e.cluster.signal(leader, 'SIGKILL');
    const next = await e2e.cluster.waitForLeader(e2e.client, 20_000, leader);
    assert.notEqual(next, leader);
    await sleep(1500);
    stop = true;
    await Promise.all([producer, consumer]);

    // Restart the killed node and let it catch up from its own disk plus the leader.
    e2e.cluster.startNode(leader);
    for (;;) {
      const m = await e2e.client.consume('crash');
      if (m === null) break;
      consumed.push(m.id);
    }
    const counts = new Map<string, number>();
    for (const id of consumed) counts.set(id, (counts.get(id) ?? 0) + 1);
    const duplicated = [...counts].filter(([, c]) => c > 1).map(([id]) => id);
    const lost = [...acked].filter((id) => !counts.has(id));
    const unexpected = [...counts.keys()].filter((id) => !acked.has(id) && !indeterminate.has(id));
    assert.deepEqual(duplicated, [], 'nothing consumed twice');
    assert.deepEqual(lost, [], 'no acknowledged put lost');
    assert.deepEqual(unexpected, [], 'nothing consumed that was never put');
    assert.ok(acked.size > 20, `the stream made progress (${acked.size} acknowledged puts)`);

    const deadline = Date.now() + 20_000;
    for (;;) {
      const st = (await e2e.client.status()) as { followers?: Record<string, { lag: number }> };
      const f = st.followers?.[leader];
      if (f && f.lag === 0) break;
      assert.ok(Date.now() < deadline, `restarted ${leader} did not catch up: ${JSON.stringify(st)}`);
      await sleep(200);
    }
  });

  step('the router is killed and restarted: nodes reconnect and serve without a restart', async () => {
    await e2e.cluster.router.kill();
    await sleep(500);
    await e2e.cluster.router.start();
    const deadline = Date.now() + 30_000;
    let fresh: ForgeMailboxClient | null = null;
    for (;;) {
      try {
        fresh ??= await e2e.cluster.client();
        await fresh.put('after-router', 'still here', { id: 'after-1' });
        break;
      } catch (err) {
        assert.ok(Date.now() < deadline, `no service 30 s after the router restart: ${String(err)}`);
        await sleep(250);
      }
    }
    assert.equal((await fresh!.consume('after-router'))?.id, 'after-1');
    await e2e.client.close();
    e2e.client = fresh!;
  });
});
