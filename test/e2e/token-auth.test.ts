// End-to-end authorization on real nodes and the real router, with the Python eclipse-zenoh client
// as the attacker: it is logged in to the router (the router lets any client put and query), so
// what keeps it out of other people's mailboxes is the capability token each node checks.

import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { generateSigningKey } from '../../src/auth/key-files.js';
import { issueToken } from '../../src/auth/tokens.js';
import { runPython, useCluster, useTempDir } from '../support/e2e.js';

interface Outcome {
  ok: boolean;
  status?: string;
  code?: string;
  payload: string;
}

interface Request {
  name: string;
  selector: string;
  token?: string;
  payload?: string;
  put?: boolean;
}

describe('capability tokens on the real cluster, a Python client as the attacker', { timeout: 300_000 }, () => {
  const e2e = useCluster({ nodes: 3 });
  const tmp = useTempDir('forge-token-e2e-', 'token probe requests');
  const { step } = e2e;

  async function probe(requests: Request[]): Promise<Record<string, Outcome>> {
    const file = join(tmp.path, `requests-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(requests));
    return JSON.parse(await runPython('test/support/python_token_probe.py', [e2e.cluster.router.clientConfig, file], 120_000)) as Record<string, Outcome>;
  }

  step("nobody without the right token reads, wipes, acks or administers another's mailbox; nothing changes", async () => {
    const c = e2e.cluster;
    const producer = await c.issueToken('notifier', ['*'], ['put']);
    const alice = await c.issueToken('alice-app', ['alice'], ['consume', 'peek', 'ack']);
    const expired = await c.issueToken('alice-app', ['alice'], ['consume'], 60, () => Date.now() - 3_600_000);
    const stranger = await generateSigningKey();
    const forged = await issueToken({ signingKey: { ...stranger.signingKey, kid: JSON.parse(Buffer.from(alice.split('.')[0]!, 'base64url').toString()).kid }, audience: 'e2e', principal: 'mallory', users: ['*'], ops: ['consume', 'purge', 'admin'], ttlSeconds: 600 });

    // Set up: bob has two messages, one of them leased by bob's own app (its receipt is bob's).
    const bobApp = await c.client(6000, await c.issueToken('bob-app', ['bob'], ['consume', 'peek', 'ack']));
    try {
      await e2e.client.put('bob', 'bob 1', { id: 'b1' });
      await e2e.client.put('bob', 'bob 2', { id: 'b2' });
      const leased = await bobApp.consume('bob', { leaseMs: 60_000 });
      assert.ok(leased?.receipt);

      const r = await probe([
        { name: 'anonymous consume', selector: 'forge/mailbox/bob' },
        { name: 'anonymous put', selector: 'forge/mailbox/bob/put?id=x1', payload: 'spam' },
        { name: 'alice consumes bob', selector: 'forge/mailbox/bob', token: alice },
        { name: 'alice peeks bob', selector: 'forge/mailbox/bob/peek', token: alice },
        { name: 'alice acks bob', selector: `forge/mailbox/bob/ack?receipt=${leased.receipt}`, token: alice },
        { name: 'alice purges bob', selector: 'forge/mailbox/bob/purge', token: alice },
        { name: 'alice purges alice', selector: 'forge/mailbox/alice/purge', token: alice },
        { name: 'alice removes a node', selector: 'forge/mailbox/@cluster/admin/remove-node?node=n2', token: alice },
        { name: 'alice reads status', selector: 'forge/mailbox/@cluster/status', token: alice },
        { name: 'producer puts to alice', selector: 'forge/mailbox/alice/put?id=p1', payload: 'for alice', token: producer },
        { name: 'producer plain put to alice', selector: 'forge/mailbox/alice', payload: 'plain for alice', token: producer, put: true },
        { name: 'producer consumes alice', selector: 'forge/mailbox/alice', token: producer },
        { name: 'alice consumes alice', selector: 'forge/mailbox/alice', token: alice },
        { name: 'expired token', selector: 'forge/mailbox/alice', token: expired },
        { name: 'forged token', selector: 'forge/mailbox/bob/purge', token: forged },
        { name: 'garbage token', selector: 'forge/mailbox/bob', token: 'not-a-token' },
        { name: 'anonymous plain put to bob', selector: 'forge/mailbox/bob', payload: 'anonymous plain', put: true },
      ]);
      const code = (name: string) => r[name]!.code ?? `ok:${r[name]!.status}`;
      assert.equal(code('anonymous consume'), 'UNAUTHORIZED');
      assert.equal(code('anonymous put'), 'UNAUTHORIZED');
      for (const n of ['alice consumes bob', 'alice peeks bob', 'alice acks bob', 'alice purges bob', 'alice purges alice', 'alice removes a node', 'alice reads status', 'producer consumes alice']) {
        assert.equal(code(n), 'FORBIDDEN', `${n}: ${JSON.stringify(r[n])}`);
      }
      assert.equal(code('producer puts to alice'), 'ok:put');
      assert.equal(code('alice consumes alice'), 'ok:message');
      assert.equal(r['alice consumes alice']!.payload, 'for alice');
      assert.match(r['expired token']!.payload, /expired/);
      assert.equal(code('expired token'), 'UNAUTHORIZED');
      assert.match(r['forged token']!.payload, /signature/);
      assert.equal(code('forged token'), 'UNAUTHORIZED');
      assert.equal(code('garbage token'), 'UNAUTHORIZED');

      // Nothing of bob's changed: one message queued, one in flight, and bob's app still holds its lease.
      const bobStats = await e2e.client.len('bob');
      assert.deepEqual({ count: bobStats.count, inFlight: bobStats.inFlight }, { count: 1, inFlight: 1 }, JSON.stringify(bobStats));
      await bobApp.ack('bob', leased.receipt);
      // alice's plain put from the producer arrived; the anonymous one to bob did not.
      assert.equal((await e2e.client.consume('alice'))?.id.startsWith('@'), true, 'the producer plain put reached alice');
      assert.equal((await e2e.client.len('bob')).count, 1, 'the anonymous plain put was dropped');
      assert.deepEqual((await e2e.client.status() as { members: { voters: string[] } }).members.voters.sort(), ['n1', 'n2', 'n3'], 'membership unchanged');
    } finally {
      await bobApp.close();
    }
  });
});
