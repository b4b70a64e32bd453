// The transport's mutual TLS and its admission of unauthenticated connections, on real sockets
// with real certificates (made by src/peer-certs.ts, i.e. openssl).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage } from '../../src/raft/codec.js';
import { encodeFrame, FRAME } from '../../src/raft/frames.js';
import { readPeerTls, type PeerTlsFiles, type PeerTlsMaterial } from '../../src/raft/peer-tls.js';
import { TcpTransport, TransportError, type TransportOptions } from '../../src/raft/tcp-transport.js';
import type { LoggerPort } from '../../src/logger-port.js';
import type { Message } from '../../src/raft/types.js';
import { ensurePeerCerts } from '../../src/peer-certs.js';
import { claimIdentity, dialTls, type Dialled } from '../support/peer-intruder.js';

const CLUSTER = 'tls-cluster';
const MAX_FRAME = 64 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'forge-peer-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cluster = ensurePeerCerts(join(dir, 'cluster'), ['a', 'b', 'c']);
/** Another CA, with a certificate for the same node id: right name, wrong issuer. */
const foreign = ensurePeerCerts(join(dir, 'foreign'), ['a']);
const material = (files: Map<string, PeerTlsFiles>, id: string): PeerTlsMaterial => readPeerTls(files.get(id)!);

interface Node {
  t: TcpTransport;
  got: Message[];
  warnings: string[];
}

function capture(warnings: string[]): LoggerPort {
  return {
    info() {},
    debug() {},
    error() {},
    warn(obj: object, msg?: string) {
      warnings.push(`${msg}: ${(obj as { reason?: string }).reason ?? ''}`);
    },
  };
}

async function node(nodeId: string, tlsMaterial: PeerTlsMaterial = material(cluster, nodeId), overrides: Partial<TransportOptions> = {}): Promise<Node> {
  const got: Message[] = [];
  const warnings: string[] = [];
  const t = new TcpTransport({
    nodeId,
    clusterId: CLUSTER,
    tls: tlsMaterial,
    listenHost: '127.0.0.1',
    listenPort: 0,
    peers: {},
    maxFrameBytes: MAX_FRAME,
    maxQueueBytes: 4 * MAX_FRAME,
    reconnectBaseMs: 10,
    reconnectMaxMs: 100,
    logger: capture(warnings),
    ...overrides,
  });
  t.onMessage((m) => got.push(m));
  await t.start();
  return { t, got, warnings };
}

const at = (n: Node) => ({ host: '127.0.0.1', port: n.t.port });

async function waitFor(what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function heartbeat(from: string, to: string, round: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit: round, round };
}

const rawTls = (target: Node, m: PeerTlsMaterial) => dialTls(target.t.port, m);
const claim = (raw: Dialled, claimed: string, to: string) => claimIdentity(raw, CLUSTER, claimed, to);

test('peers with certificates of the cluster CA connect over TLS 1.3 and messages flow both ways', { timeout: 20_000 }, async () => {
  const a = await node('a');
  const b = await node('b');
  try {
    a.t.setPeers({ b: at(b) });
    b.t.setPeers({ a: at(a) });
    for (let i = 1; i <= 50; i++) a.t.send(heartbeat('a', 'b', i));
    b.t.send(heartbeat('b', 'a', 1));
    await waitFor('delivery', () => b.got.length === 50 && a.got.length === 1);
    assert.deepEqual(b.got.map((m) => (m as { round: number }).round), Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(a.t.stats().b!.connected, true);
    assert.deepEqual([...a.warnings, ...b.warnings], []);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a node whose certificate is of another CA is refused in both directions and delivers nothing', { timeout: 20_000 }, async () => {
  const intruder = await node('a', material(foreign, 'a'));
  const b = await node('b');
  try {
    intruder.t.setPeers({ b: at(b) });
    b.t.setPeers({ a: at(intruder) });
    intruder.t.send(heartbeat('a', 'b', 1));
    b.t.send(heartbeat('b', 'a', 1));
    // b, dialling, refuses the intruder's certificate; the intruder, dialling, refuses b's (not of its CA).
    await waitFor('refusal at b as dialer', () => b.warnings.some((w) => w.includes('closing connection to peer: TLS')));
    await waitFor('refusal at the intruder as dialer', () => intruder.warnings.some((w) => w.includes('closing connection to peer: TLS')));
    // An intruder that trusts the cluster CA but presents a foreign certificate: b, listening, refuses it.
    const raw = await rawTls(b, { ...material(foreign, 'a'), ca: material(cluster, 'b').ca });
    raw.socket.write(encodeFrame(FRAME.hello, new Uint8Array(8)));
    await raw.closed;
    assert.equal(raw.frames.length, 0);
    assert.ok(b.warnings.some((w) => w.includes('certificate refused')), b.warnings.join('\n'));
    // And one that presents no certificate at all.
    const bare = tls.connect({ host: '127.0.0.1', port: b.t.port, ca: material(cluster, 'b').ca, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
    bare.on('error', () => {});
    bare.write(encodeFrame(FRAME.hello, new Uint8Array(8)));
    await new Promise((r) => bare.once('close', r));
    await sleep(300);
    assert.equal(b.warnings.filter((w) => w.includes('certificate refused')).length, 2, b.warnings.join('\n'));
    assert.equal(b.got.length, 0);
    assert.equal(intruder.got.length, 0);
    assert.equal(b.t.stats().a!.connected, false);
    assert.equal(intruder.t.stats().b!.connected, false);
  } finally {
    await intruder.t.close();
    await b.t.close();
  }
});

test('a dialer claiming another node id than its certificate names is refused; the same certificate with its own id gets in', { timeout: 20_000 }, async () => {
  const b = await node('b');
  try {
    const liar = await rawTls(b, material(cluster, 'c'));
    const answer = await claim(liar, 'a', 'b');
    assert.deepEqual([answer.kind, ...answer.body], [FRAME.reject, 5]); // node id differs from its certificate
    liar.socket.write(encodeFrame(FRAME.message, encodeMessage(heartbeat('a', 'b', 1))));
    await liar.closed;
    assert.ok(b.warnings.some((w) => w.includes('dialer claims node a with the certificate of c')));

    const honest = await rawTls(b, material(cluster, 'c'));
    assert.equal((await claim(honest, 'c', 'b')).kind, FRAME.welcome);
    honest.socket.write(encodeFrame(FRAME.message, encodeMessage(heartbeat('c', 'b', 2))));
    await waitFor('delivery', () => b.got.length === 1);
    assert.equal(b.got[0]!.from, 'c');
    honest.socket.destroy();
  } finally {
    await b.t.close();
  }
});

test('a dialer refuses a listener whose certificate names another node than the one it dials', { timeout: 20_000 }, async () => {
  const a = await node('a');
  const b = await node('b');
  try {
    a.t.setPeers({ c: at(b) }); // a believes c listens where b does
    a.t.send(heartbeat('a', 'c', 1));
    await waitFor('refusal', () => a.warnings.some((w) => w.includes('certificate of b where c was expected')));
    assert.equal(a.t.stats().c!.connected, false);
    assert.equal(b.got.length, 0);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a frame whose from is not the authenticated peer is dropped and its connection closed; the peer redials and goes on', { timeout: 20_000 }, async () => {
  const b = await node('b');
  try {
    const raw = await rawTls(b, material(cluster, 'a'));
    assert.equal((await claim(raw, 'a', 'b')).kind, FRAME.welcome);
    raw.socket.write(encodeFrame(FRAME.message, encodeMessage(heartbeat('a', 'b', 1))));
    await waitFor('the genuine message', () => b.got.length === 1);
    raw.socket.write(encodeFrame(FRAME.message, encodeMessage({ type: 'voteResp', from: 'c', to: 'b', term: 2 ** 40, preVote: false, granted: true })));
    raw.socket.write(encodeFrame(FRAME.message, encodeMessage(heartbeat('a', 'b', 2))));
    await raw.closed;
    assert.equal(b.got.length, 1, 'nothing after the forged frame is delivered');
    assert.ok(b.warnings.some((w) => w.includes('message from c to b on the connection of a')));

    const a = await node('a');
    try {
      a.t.setPeers({ b: at(b) });
      a.t.send(heartbeat('a', 'b', 3));
      await waitFor('delivery on a fresh connection', () => b.got.length === 2);
    } finally {
      await a.t.close();
    }
  } finally {
    await b.t.close();
  }
});

test('garbage after the handshake, inside TLS or as plain bytes on the TLS port, closes that link and changes nothing', { timeout: 20_000 }, async () => {
  const a = await node('a');
  const b = await node('b');
  try {
    a.t.setPeers({ b: at(b) });
    a.t.send(heartbeat('a', 'b', 1));
    await waitFor('first delivery', () => b.got.length === 1);

    const raw = await rawTls(b, material(cluster, 'c'));
    assert.equal((await claim(raw, 'c', 'b')).kind, FRAME.welcome);
    raw.socket.write(randomBytes(2000));
    await raw.closed;

    const plain = net.connect(b.t.port, '127.0.0.1');
    plain.on('error', () => {});
    plain.write(Buffer.concat([encodeFrame(FRAME.message, encodeMessage(heartbeat('a', 'b', 99))), randomBytes(500)]));
    await new Promise((r) => plain.once('close', r));

    a.t.send(heartbeat('a', 'b', 2));
    await waitFor('delivery after the abuse', () => b.got.length === 2);
    assert.deepEqual(b.got.map((m) => `${m.from}:${(m as { round: number }).round}`), ['a:1', 'a:2']);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a node refuses to start with a certificate that names another node, and with both or neither of tls and secret', () => {
  const base = { nodeId: 'a', clusterId: CLUSTER, listenHost: '127.0.0.1', listenPort: 0, peers: {}, maxFrameBytes: MAX_FRAME, maxQueueBytes: 4 * MAX_FRAME };
  assert.throws(() => new TcpTransport({ ...base, tls: material(cluster, 'b') }), (e: unknown) => e instanceof TransportError && /names node b, not this node \(a\)/.test(e.message));
  assert.throws(() => new TcpTransport({ ...base }), TransportError);
  assert.throws(() => new TcpTransport({ ...base, tls: material(cluster, 'a'), secret: 'a development secret' }), TransportError);
});

/** `count` sockets that connect and then say nothing, from `localAddress`. */
async function idleSockets(port: number, count: number, localAddress: string): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  await Promise.all(
    Array.from({ length: count }, () => new Promise<void>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress });
      s.on('error', () => {});
      s.once('connect', () => resolve());
      s.once('close', () => resolve());
      sockets.push(s);
    })),
  );
  return sockets;
}

for (const [where, localAddress] of [['another address', '127.0.0.2'], ['the peer\'s own address', '127.0.0.1']] as const) {
  test(`500 idle sockets from ${where} do not keep a peer out: the oldest pending ones are evicted`, { timeout: 30_000 }, async () => {
    // A long deadline, so that only eviction can make room within this test.
    const b = await node('b', undefined, { handshakeTimeoutMs: 60_000 });
    const a = await node('a');
    let idle: net.Socket[] = [];
    try {
      idle = await idleSockets(b.t.port, 500, localAddress);
      await waitFor('admissions', () => b.t.evictedHandshakes >= 500 - 64);
      a.t.setPeers({ b: at(b) });
      a.t.send(heartbeat('a', 'b', 1));
      await waitFor('delivery despite the idle sockets', () => b.got.length === 1, 15_000);
      assert.ok(b.warnings.length <= 10, `refusals are rate-limited (${b.warnings.length} lines)`);
    } finally {
      for (const s of idle) s.destroy();
      await a.t.close();
      await b.t.close();
    }
  });
}

test('certificate files: keys are 0600 in a 0700 directory, and a key others can read is refused', () => {
  const files = cluster.get('a')!;
  assert.equal(statSync(join(dir, 'cluster')).mode & 0o777, 0o700);
  assert.equal(statSync(files.keyFile).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'cluster', 'ca.key')).mode & 0o777, 0o600);
  assert.match(readFileSync(files.certFile, 'utf8'), /BEGIN CERTIFICATE/);
  chmodSync(files.keyFile, 0o644);
  try {
    assert.throws(() => readPeerTls(files), /readable by others/);
  } finally {
    chmodSync(files.keyFile, 0o600);
  }
});
