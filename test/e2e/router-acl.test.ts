// The router keeps clients in their lane: real router binary (generated json5 config with usrpwd
// and access control), real node processes, and Python eclipse-zenoh as the attacker.
// A control run against a router with authentication off shows the same probe does catch an
// impostor, so the "nothing received" results below are not a probe that cannot fail.

import { strict as assert } from 'node:assert';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import '../../src/bridge/websocket-polyfill.js';
import { Config, Duration, Sample, Session, type Query } from '@eclipse-zenoh/zenoh-ts';
import { ForgeMailboxClient, type ForgeMailboxClient as Client } from '../../src/bridge/client.js';
import { ZenohBridge } from '../../src/bridge/zenoh-bridge.js';
import { repoRoot, venvPython } from '../../src/repo-root.js';
import { maxMessageBytes } from '../../src/router/router-config.js';
import { freePort, ZenohRouter } from '../../src/router/zenoh-router.js';
import { TestCluster } from '../support/e2e.js';
import { InMemoryMailboxService } from '../support/in-memory-mailbox-service.js';

const run = promisify(execFile);
const python = venvPython;
const probeScript = join(repoRoot, 'test', 'support', 'python_acl_probe.py');
const PREFIX = 'forge/mailbox';

interface ProbeReply {
  ok: boolean;
  payload: string;
  attachment?: { status: string; id?: string } | null;
}
interface ClientRun {
  put: ProbeReply[];
  len: number | null;
  consumed: ProbeReply[][];
  status: ProbeReply[];
  liveliness_seen: number;
}
interface ImpostorRun extends ClientRun {
  attacker: { queries: string[]; samples: string[] };
}

/** The capability token the probe's requests carry (the cluster's operator token, once it runs). */
let probeToken = '';

async function probe<T>(...args: string[]): Promise<T> {
  const { stdout } = await run(python, [probeScript, ...args], { timeout: 60_000, env: { ...process.env, FORGE_TOKEN: probeToken } });
  return JSON.parse(stdout) as T;
}

/** Every answer the normal client got came from the real service. */
function assertServedByTheService(r: ClientRun, expectStatusOf: (payload: Record<string, unknown>) => boolean): void {
  assert.equal(r.put.length, 1, 'one reply to the acknowledged put');
  const ack = JSON.parse(r.put[0]!.payload) as { id: string; seq: number };
  assert.equal(ack.id, 'acl-1');
  assert.ok(ack.seq >= 1, `a real sequence number, got ${ack.seq}`);
  assert.equal(r.len, 2, 'the acknowledged and the plain put were both enqueued');
  assert.deepEqual(
    r.consumed.map((c) => c.map((x) => [x.attachment?.id, x.payload])),
    [[['acl-1', '{"message":"for the real service"}']], [['acl-2', 'plain put']]],
  );
  assert.equal(r.status.length, 1);
  assert.ok(expectStatusOf(JSON.parse(r.status[0]!.payload) as Record<string, unknown>), `status from the service: ${r.status[0]!.payload}`);
}

describe('control: without authentication the probe catches an impostor', { timeout: 120_000 }, () => {
  test('an open router lets a client answer queries and read puts', async () => {
    const router = await ZenohRouter.start({ auth: false });
    const bridge = new ZenohBridge({
      routerUrl: router.url,
      nodeId: 'n1',
      service: new InMemoryMailboxService('n1', { leader: true }),
      verifier: null,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    try {
      bridge.start();
      await bridge.connected();
      await bridge.settled();
      const r = await probe<ImpostorRun>('impostor', router.clientConfig, PREFIX, 'control');
      assert.ok(r.attacker.queries.length > 0, 'the impostor answered queries');
      assert.ok(r.attacker.samples.length > 0, 'the impostor read puts');
      assert.ok(r.liveliness_seen > 0, 'the impostor declared a liveliness token');
    } finally {
      await bridge.stop();
      await router.stop();
    }
  });
});

describe('the router keeps clients in their lane (real router, three real nodes)', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let client: Client;

  before(async () => {
    cluster = await TestCluster.start({ nodes: 3, logLevel: 'info' });
    client = await cluster.client();
    await cluster.waitForLeader(client);
    probeToken = cluster.adminToken;
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  test('an anonymous client and a wrong password are refused; the client user is let in', async () => {
    const config = cluster.router.clientConfig;
    const anonymous = await probe<{ opened: boolean; error?: string }>('connect', config, '', '-');
    assert.equal(anonymous.opened, false, 'anonymous tcp client refused');
    const wrong = await probe<{ opened: boolean }>('connect', config, '', 'client', 'not-the-password');
    assert.equal(wrong.opened, false, 'wrong password refused');
    const unknown = await probe<{ opened: boolean }>('connect', config, '', 'mallory', 'whatever');
    assert.equal(unknown.opened, false, 'unknown user refused');
    const ok = await probe<{ opened: boolean }>('connect', config);
    assert.equal(ok.opened, true, 'the client user opens a session');
  });

  test("a client's queryables, subscribers and liveliness tokens receive nothing; the service still answers", async () => {
    const r = await probe<ImpostorRun>('impostor', cluster.router.clientConfig, PREFIX, 'alice');
    assert.deepEqual(r.attacker, { queries: [], samples: [] }, 'the impostor received no query and no put');
    assert.equal(r.liveliness_seen, 0, 'the impostor could not declare a liveliness token');
    assertServedByTheService(r, (s) => typeof s.leader === 'string' && typeof s.term === 'number');
  });

  test('the router drops a message beyond the bound; the largest body the cluster accepts goes through', async () => {
    const fits = await probe<{ replies: ProbeReply[] }>('size', cluster.router.clientConfig, PREFIX, 'big', String(1024 * 1024));
    assert.equal(fits.replies.length, 1);
    assert.equal(fits.replies[0]!.ok, true, `a 1 MiB body is accepted: ${fits.replies[0]!.payload}`);
    const tooBig = await probe<{ replies: ProbeReply[] }>('size', cluster.router.clientConfig, PREFIX, 'big', String(maxMessageBytes() + 1));
    assert.ok(
      tooBig.replies.every((x) => !x.ok && x.payload === 'Timeout'),
      `dropped by the router, never answered by a node: ${JSON.stringify(tooBig.replies)}`,
    );
    assert.equal((await client.len('big')).count, 1);
  });

  test('zenoh-ts clients use the gateway; one declaring queryables there gets no native traffic', async () => {
    const gateway = await cluster.router.startGateway();
    const tsClient = await ForgeMailboxClient.open(gateway, { requestTimeoutMs: 6000, token: cluster.adminToken });
    const attacker = await Session.open(new Config(gateway));
    const seen: string[] = [];
    try {
      const put = await tsClient.put('via-gateway', 'hello through the gateway', { id: 'gw-1' });
      assert.equal(put.id, 'gw-1');
      assert.equal((await tsClient.consume('via-gateway'))?.id, 'gw-1');
      // Puts made together go as one `@puts` query, a key of its own in the routers' rules.
      const together = await Promise.all([tsClient.put('via-gateway', 'one', { id: 'gw-2' }), tsClient.put('via-gateway-2', 'two', { id: 'gw-3' })]);
      assert.deepEqual(together.map((p) => p.id), ['gw-2', 'gw-3']);
      // Consumes made together go as one `@consumes` query, also named in the rules.
      const taken = await Promise.all([tsClient.consume('via-gateway-2'), tsClient.consume('via-gateway')]);
      assert.deepEqual(taken.map((m) => m?.id), ['gw-3', 'gw-2']);

      await attacker.declareQueryable(`${PREFIX}/**`, {
        handler: (q: Query) => {
          seen.push(`query ${q.keyExpr().toString()}`);
          q.reply(q.keyExpr(), '{"id":"fake","seq":0,"duplicate":false}', { attachment: '{"status":"put"}' });
        },
        complete: true,
      });
      await attacker.declareSubscriber(`${PREFIX}/*`, { handler: (s: Sample) => void seen.push(`sample ${s.keyexpr().toString()}`) });
      await new Promise((r) => setTimeout(r, 1000));
      const r = await probe<ClientRun>('client', cluster.router.clientConfig, PREFIX, 'bob');
      assertServedByTheService(r, (s) => typeof s.leader === 'string');
      assert.deepEqual(seen, [], "the gateway's link carries no query or put towards its clients");
    } finally {
      await attacker.close();
      await tsClient.close();
    }
  });

  test("the router's admin space (its config, passwords included) is closed, even to a session on the nodes' WebSocket", async () => {
    const session = await Session.open(new Config(cluster.router.url));
    const password = readFileSync(cluster.router.clientConfig, 'utf8').match(/"password": "([^"]+)"/)![1]!;
    try {
      const keys: string[] = [];
      for await (const reply of (await session.get('@/**', { timeout: Duration.milliseconds.of(2000) }))!) {
        const r = reply.result();
        assert.ok(r instanceof Sample, 'no error replies');
        keys.push(r.keyexpr().toString());
        assert.ok(!new TextDecoder().decode(r.payload().toBytes()).includes(password));
      }
      // What still answers is the remote-api plugin (its version and WebSocket settings) and the
      // session's list of transports; the runtime's `@/<zid>/peer/**` (status, config) does not.
      assert.ok(keys.some((k) => k.endsWith('/remote-plugin/version')), keys.join(', '));
      assert.ok(!keys.some((k) => /^@\/[0-9a-f]+\/(peer|router|client)(\/|$)/.test(k)), keys.join(', '));
    } finally {
      await session.close();
    }
  });
});

describe('npm start (local-cluster) is secure by default', { timeout: 120_000 }, () => {
  test('private files, loopback-only listeners, no secret in argv or logs, and the client config works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-local-'));
    const ports = { raft: await freePort(), ws: await freePort(), nodesWs: await freePort(), routerWs: await freePort(), zenoh: await freePort() };
    const cli = spawn(
      join(repoRoot, 'bin', 'forge-mailbox'),
      ['local-cluster', '--dir', dir, '--nodes', '1', '--raft-port', String(ports.raft), '--ws-port', String(ports.ws), '--nodes-ws-port', String(ports.nodesWs), '--router-ws-port', String(ports.routerWs), '--zenoh-port', String(ports.zenoh)],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'info' } },
    );
    let output = '';
    cli.stdout.on('data', (c: Buffer) => (output += c.toString()));
    cli.stderr.on('data', (c: Buffer) => (output += c.toString()));
    try {
      const deadline = Date.now() + 60_000;
      while (!output.includes('nodes starting')) {
        assert.ok(Date.now() < deadline, `local-cluster did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const zenohDir = join(dir, 'zenoh');
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(zenohDir).mode & 0o777, 0o700);
      for (const f of readdirSync(zenohDir)) assert.equal(statSync(join(zenohDir, f)).mode & 0o777, 0o600, f);
      const passwords = readFileSync(join(zenohDir, 'zenoh-users.txt'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.slice(l.indexOf(':') + 1));
      assert.equal(passwords.length, 2, 'client and gateway users');
      // The token signing key and the operator token are private; the nodes verify with the JWKS.
      const authDir = join(dir, 'auth');
      assert.equal(statSync(authDir).mode & 0o777, 0o700);
      for (const f of ['signing-key.jwk', 'admin.token']) assert.equal(statSync(join(authDir, f)).mode & 0o777, 0o600, f);
      const adminToken = readFileSync(join(authDir, 'admin.token'), 'utf8').trim();
      // The Raft peer links are mutual TLS: a private CA and node key, no shared secret.
      const peerTlsDir = join(dir, 'peer-tls');
      assert.equal(statSync(peerTlsDir).mode & 0o777, 0o700);
      for (const f of ['ca.key', 'n1.key']) assert.equal(statSync(join(peerTlsDir, f)).mode & 0o777, 0o600, f);
      const n1 = JSON.parse(readFileSync(join(dir, 'n1.json'), 'utf8')) as { secret?: string; peerTls?: { certFile: string } };
      assert.equal(n1.secret, undefined);
      assert.equal(n1.peerTls?.certFile, join(peerTlsDir, 'n1.crt'));

      // Every listener on loopback only; the nodes' WebSocket (the link guard) and the router's behind it too.
      for (const port of [ports.ws, ports.nodesWs, ports.routerWs, ports.zenoh]) {
        assert.deepEqual(listenAddresses(port), ['127.0.0.1'], `port ${port}`);
      }
      // The client config works, through the gateway too.
      const opened = await probe<{ opened: boolean }>('connect', join(zenohDir, 'client.json5'));
      assert.equal(opened.opened, true);
      // Through the gateway, once the one-node cluster has elected itself.
      for (;;) {
        const put = await run(join(repoRoot, 'bin', 'forge-mailbox'), ['put', 'local-user', 'hi', '--router', `ws://127.0.0.1:${ports.ws}`, '--token-file', join(authDir, 'admin.token')]).catch(
          (e: Error & { code: number; stderr: string }) => e,
        );
        if (!(put instanceof Error)) {
          assert.ok(JSON.parse(put.stdout).seq >= 1);
          break;
        }
        assert.equal(put.code, 4, put.stderr);
        assert.ok(Date.now() < deadline, `no leader: ${put.stderr}`);
        await new Promise((r) => setTimeout(r, 200));
      }

      const argv = readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
          } catch {
            return '';
          }
        })
        .filter((a) => a.includes(dir));
      assert.ok(argv.some((a) => a.includes('zenoh-bridge-remote-api')), 'the router runs from the data dir');
      assert.ok(!argv.some((a) => a.includes(adminToken)), 'no token in any command line');
      assert.ok(!output.includes(adminToken.split('.')[2]!), 'no token in the logs');
      for (const password of passwords) {
        assert.ok(!argv.some((a) => a.includes(password)), 'no password in any command line');
        assert.ok(!output.includes(password), 'no password in the logs (even with RUST_LOG=info)');
      }
      const peerKey = readFileSync(join(dir, 'peer-tls', 'n1.key'), 'utf8').split('\n')[1]!;
      assert.ok(!argv.some((a) => a.includes(peerKey)) && !output.includes(peerKey), 'no peer key in any command line or log');
      assert.ok(!output.includes('development-only shared secret'), 'the peer links are not in the development mode');
    } finally {
      const exited = new Promise((r) => cli.once('exit', r));
      cli.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The local addresses listening on TCP `port` (Linux /proc/net). */
function listenAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== '0A') continue; // LISTEN
      const [addrHex, portHex] = cols[1]!.split(':') as [string, string];
      if (parseInt(portHex, 16) !== port) continue;
      found.push(addrHex.length === 8 ? ipv4(addrHex) : `ipv6:${addrHex}`);
    }
  }
  return found;
}

function ipv4(hex: string): string {
  // /proc/net/tcp prints the address as a little-endian 32-bit number.
  return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
}
