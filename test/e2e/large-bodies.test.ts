// Bodies of 8 MiB, the largest mailbox.maxBodyBytes allows (see MAX_BODY_BYTES_CEILING), on a real cluster whose
// mailbox.maxBodyBytes is 8 MiB: the routers' message limit follows the setting, so a native
// client (Python eclipse-zenoh over TCP) and a zenoh-ts client (through the gateway) both put one,
// it comes back byte for byte, a body one byte over is refused TOO_LARGE by a node, and a message
// beyond the routers' limit is dropped by the router. The bodies go through Raft (entries larger
// than raft.maxBytesPerMsg) and a snapshot, which a restarted follower loads and catches up past.

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import { promisify } from 'node:util';
import { ForgeMailboxClient, MailboxClientError } from '../../src/bridge/client.js';
import { repoRoot, venvPython } from '../../src/repo-root.js';
import { maxMessageBytes } from '../../src/router/router-config.js';
import { sleep, useCluster, type NodeStatus } from '../support/e2e.js';

const MiB = 1024 * 1024;
const MAX_BODY = 8 * MiB;
const run = promisify(execFile);

/** Outcome unknown or not done: what a client retries with the same id or request id. */
const RETRYABLE = new Set(['TIMEOUT', 'LEADERSHIP_LOST', 'NOT_LEADER', 'UNAVAILABLE', 'ROUTER_LOST']);

/** Retries `call` as a client should (same id or request id), for a minute at most. */
async function retried<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof MailboxClientError) || !RETRYABLE.has(e.code) || Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}

interface ProbeReply {
  ok: boolean;
  payload: string;
}

describe('8 MiB bodies end to end', { timeout: 300_000 }, () => {
  // Production Raft timing (the test default is twice as fast), and a snapshot once the entries
  // carry 16 MiB, so the large bodies are in one. Not every 4 entries, as it was: then the small
  // entries (expiry sweeps, elections' no-ops) kept every node taking 32 MiB images back to back,
  // which on a loaded machine cost elections until no leader held for 30 s.
  const e2e = useCluster({
    nodes: 3,
    mailbox: { maxBodyBytes: MAX_BODY },
    raft: { tickMs: 20, electionTicks: 15, snapshotEntries: 1_000_000, snapshotBytes: 16 * MiB },
  });
  const { step } = e2e;
  let tsClient: ForgeMailboxClient | undefined;
  after(() => tsClient?.close());

  async function probe(user: string, bytes: number): Promise<ProbeReply[]> {
    const python = venvPython;
    const script = join(repoRoot, 'test', 'support', 'python_acl_probe.py');
    const { stdout } = await run(python, [script, 'size', e2e.cluster.router.clientConfig, 'forge/mailbox', user, String(bytes)], {
      timeout: 120_000,
      env: { ...process.env, FORGE_TOKEN: e2e.cluster.adminToken },
      maxBuffer: 4 * MiB,
    });
    return (JSON.parse(stdout) as { replies: ProbeReply[] }).replies;
  }

  step('a native client puts an 8 MiB body; a message beyond the routers limit is dropped by the router', async () => {
    // A native put, retried with the same id (the probe's) while its outcome is unknown.
    let fits = await probe('native', MAX_BODY);
    // No reply at all: no leader was serving at that moment (an election on a loaded machine).
    for (const deadline = Date.now() + 60_000; (fits.length === 0 || !fits[0]!.ok) && Date.now() < deadline; ) {
      const code = fits.length === 0 ? 'UNAVAILABLE' : (JSON.parse(fits[0]!.payload) as { code?: string }).code;
      if (code === undefined || !RETRYABLE.has(code)) break;
      fits = await probe('native', MAX_BODY);
    }
    assert.equal(fits.length, 1, JSON.stringify(fits).slice(0, 500));
    assert.equal(fits[0]!.ok, true, `an 8 MiB body is accepted: ${fits[0]!.payload.slice(0, 300)}`);
    const consumed = await retried(() => e2e.client.consume('native', { requestId: 'native-1' }));
    assert.equal(consumed?.body.length, MAX_BODY);
    assert.ok(Buffer.from(consumed!.body).every((b) => b === 0x78), 'the body comes back as it was put');

    const dropped = await probe('native', maxMessageBytes(MAX_BODY) + 1);
    assert.ok(dropped.every((r) => !r.ok && r.payload === 'Timeout'), `dropped by the router: ${JSON.stringify(dropped).slice(0, 500)}`);
    assert.equal((await retried(() => e2e.client.len('native'))).count, 0);
  });

  step('a zenoh-ts client puts 8 MiB bodies through the gateway and consumes them byte for byte; one byte more is TOO_LARGE', async () => {
    const gateway = await e2e.cluster.router.startGateway();
    const client = await ForgeMailboxClient.open(gateway, { requestTimeoutMs: 30_000, token: e2e.cluster.adminToken });
    tsClient = client;
    const bodies = [randomBytes(MAX_BODY), randomBytes(MAX_BODY), randomBytes(MAX_BODY)];
    for (const [n, body] of bodies.entries()) await retried(() => client.put('big', body, { id: `big-${n}` }));
    const tooBig = randomBytes(MAX_BODY + 1);
    await assert.rejects(
      retried(() => client.put('big', tooBig, { id: 'too-big' })),
      (e: unknown) => e instanceof MailboxClientError && e.code === 'TOO_LARGE',
    );
    assert.equal((await retried(() => client.len('big'))).count, 3);
    const first = await retried(() => client.consume('big', { requestId: 'take-1' }));
    assert.equal(first?.id, 'big-0');
    assert.ok(Buffer.from(first!.body).equals(bodies[0]!), 'the first body comes back byte for byte');
  });

  step('a follower restarted on a snapshot holding the bodies catches up and serves them', async () => {
    const client = tsClient!;
    const statuses = (await retried(() => e2e.client.nodeStatuses())) as NodeStatus[];
    const follower = statuses.find((s) => s.role === 'follower')!;
    assert.ok(follower.snapshotIndex > 0, `${follower.node} took a snapshot: ${JSON.stringify(statuses)}`);
    await e2e.cluster.signal(follower.node, 'SIGKILL');
    e2e.cluster.startNode(follower.node);
    const commit = ((await retried(() => e2e.client.status())) as NodeStatus).commitIndex;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const back = ((await retried(() => e2e.client.nodeStatuses())) as NodeStatus[]).find((s) => s.node === follower.node);
      if (back !== undefined && back.appliedIndex >= commit) break;
      assert.ok(Date.now() < deadline, `${follower.node} did not catch up after its restart`);
      await sleep(200);
    }
    // The old leader goes: one of the two left, the restarted node or the other follower, leads
    // and serves the bodies from its own copy.
    const leader = statuses.find((s) => s.role === 'leader')!.node;
    await e2e.cluster.signal(leader, 'SIGKILL');
    await e2e.cluster.waitForLeader(client, 30_000, leader);
    const second = await retried(() => client.consume('big', { requestId: 'take-2' }));
    assert.equal(second?.id, 'big-1');
    assert.equal(second?.body.length, MAX_BODY);
  });
});
