import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import net from 'node:net';
import { encodeMessage } from '../../src/raft/codec.js';
import { ByteReader } from '../../src/wire/reader.js';
import { ByteWriter } from '../../src/wire/writer.js';
import { encodeFrame } from '../../src/raft/frames.js';
import { FLUSH_BYTES } from '../../src/raft/peer-link.js';
import { TcpTransport, TransportError } from '../../src/raft/tcp-transport.js';
import type { TransportOptions } from '../../src/raft/tcp-transport.js';
import type { PeerAddress } from '../../src/identifiers.js';
import type { LoggerPort } from '../../src/logger-port.js';
import type { Message } from '../../src/raft/types.js';
import { FaultProxy } from '../../src/verify/fault-proxy.js';

const SECRET = 'correct horse battery staple';
const CLUSTER = 'test-cluster';
const MAX_FRAME = 64 * 1024;

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
      warnings.push(`${msg}: ${(obj as { reason?: string; peer?: string }).reason ?? (obj as { peer?: string }).peer ?? ''}`);
    },
  };
}

async function node(nodeId: string, overrides: Partial<TransportOptions> = {}): Promise<Node> {
  const got: Message[] = [];
  const warnings: string[] = [];
  const t = new TcpTransport({
    nodeId,
    clusterId: CLUSTER,
    secret: SECRET,
    listenHost: '127.0.0.1',
    listenPort: 0,
    peers: {},
    maxFrameBytes: MAX_FRAME,
    maxQueueBytes: 4 * MAX_FRAME,
    reconnectBaseMs: 10,
    reconnectMaxMs: 100,
    handshakeTimeoutMs: 1000,
    logger: capture(warnings),
    ...overrides,
  });
  t.onMessage((m) => got.push(m));
  await t.start();
  return { t, got, warnings };
}

function at(n: Node): PeerAddress {
  return { host: '127.0.0.1', port: n.t.port };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
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

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

// ---- a hand-written dialer speaking the documented handshake (frames.test.ts pins the framing), to play an intruder

function transcriptMac(secret: string, role: string, dialer: string, listener: string, nd: Uint8Array, nl: Uint8Array): Buffer {
  const w = new ByteWriter();
  for (const s of ['forge-raft-handshake-v1', role, CLUSTER, dialer, listener]) w.varString(s);
  w.varBytes(nd);
  w.varBytes(nl);
  return createHmac('sha256', secret).update(w.finish()).digest();
}

interface Raw {
  socket: net.Socket;
  frames: Buffer[];
  closed: Promise<void>;
}

async function rawConnect(target: Node): Promise<Raw> {
  const socket = net.connect(target.t.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const frames: Buffer[] = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      frames.push(buf.subarray(4, 4 + buf.readUInt32BE(0)));
      buf = buf.subarray(4 + buf.readUInt32BE(0));
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return { socket, frames, closed };
}

/** Performs the handshake as `from`, proving with `secret`; returns once the listener answered AUTH (or refused). */
async function rawHandshake(raw: Raw, from: string, to: string, secret: string): Promise<void> {
  const nd = randomBytes(32);
  const w = new ByteWriter();
  w.uint(3); // protocol version (handshake.ts)
  w.varString(CLUSTER);
  w.varString(from);
  w.varString(to);
  w.raw(nd);
  raw.socket.write(encodeFrame(1, w.finish()));
  await waitFor('challenge', () => raw.frames.length >= 1);
  const challenge = raw.frames[0]!;
  assert.equal(challenge[0], 2);
  const r = new ByteReader(challenge.subarray(1));
  assert.equal(r.varString('id', 64), to);
  const nl = r.raw(32);
  raw.socket.write(encodeFrame(3, transcriptMac(secret, 'dialer', from, to, nd, nl)));
  await waitFor('handshake answer', () => raw.frames.length >= 2);
}

test('messages flow both ways, in order, with batching', { timeout: 10_000 }, async () => {
  const a = await node('a');
  const b = await node('b');
  try {
    a.t.setPeers({ a: at(a), b: at(b) });
    b.t.setPeers({ a: at(a) });
    const append: Message = {
      type: 'append',
      from: 'a',
      to: 'b',
      term: 2,
      prevLogIndex: 4,
      prevLogTerm: 1,
      commit: 3,
      entries: [{ term: 2, index: 5, type: 0, time: 1234, data: new Uint8Array([1, 2, 3]) }],
    };
    a.t.send(append);
    for (let i = 1; i <= 500; i++) a.t.send(heartbeat('a', 'b', i));
    b.t.send({ type: 'voteResp', from: 'b', to: 'a', term: 2, preVote: false, granted: true });
    await waitFor('b to receive 501 messages', () => b.got.length === 501);
    await waitFor('a to receive the reply', () => a.got.length === 1);
    assert.deepEqual(b.got[0], append);
    assert.deepEqual(
      b.got.slice(1).map((m) => (m.type === 'heartbeat' ? m.round : -1)),
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
    assert.equal(a.got[0]!.type, 'voteResp');
    assert.deepEqual(a.t.stats().b, { connected: true, queuedBytes: 0, dropped: 0, sent: 501, silentTeardowns: 0 });
    assert.deepEqual(Object.keys(a.t.stats()), ['b']);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a deep queue is written a bounded slice per turn, in order and complete', { timeout: 20_000 }, async () => {
  const frame = 256 * 1024;
  const count = 24;
  const a = await node('a', { maxFrameBytes: 2 * frame, maxQueueBytes: 2 * count * frame });
  const b = await node('b', { maxFrameBytes: 2 * frame, maxQueueBytes: 2 * count * frame });
  try {
    a.t.setPeers({ a: at(a), b: at(b) });
    a.t.send(heartbeat('a', 'b', 0));
    await waitFor('the link to be up', () => b.got.length === 1);
    const append = (i: number): Message => ({
      type: 'append',
      from: 'a',
      to: 'b',
      term: 2,
      prevLogIndex: i,
      prevLogTerm: 2,
      commit: 0,
      entries: [{ term: 2, index: i + 1, type: 0, time: 0, data: new Uint8Array(frame).fill(i) }],
    });
    for (let i = 0; i < count; i++) a.t.send(append(i));
    const queued = a.t.stats().b!.queuedBytes;
    assert.ok(queued > count * frame);
    // One turn writes about FLUSH_BYTES; the rest waits for later turns (or the socket's drain).
    await new Promise((r) => setImmediate(r));
    const left = a.t.stats().b!.queuedBytes;
    assert.ok(left > 0 && left <= queued - FLUSH_BYTES, `after one turn ${left} of ${queued} bytes are still queued`);
    await waitFor('b to receive every append', () => b.got.length === 1 + count, 10_000);
    assert.deepEqual(
      b.got.slice(1).map((m) => (m.type === 'append' ? [m.prevLogIndex, m.entries[0]!.data.length, m.entries[0]!.data[frame - 1]] : [])),
      Array.from({ length: count }, (_, i) => [i, frame, i]),
    );
    assert.equal(a.t.stats().b!.queuedBytes, 0);
    assert.equal(a.t.stats().b!.dropped, 0);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a node with another secret is refused in both directions', { timeout: 10_000 }, async () => {
  const a = await node('a', { secret: 'not the cluster secret' });
  const b = await node('b');
  try {
    a.t.setPeers({ b: at(b) });
    b.t.setPeers({ a: at(a) });
    a.t.send(heartbeat('a', 'b', 1));
    b.t.send(heartbeat('b', 'a', 1));
    await waitFor('both sides to reject', () =>
      a.warnings.some((w) => w.includes('peer failed authentication')) && b.warnings.some((w) => w.includes('peer failed authentication')),
    );
    await sleep(100);
    assert.equal(a.got.length + b.got.length, 0);
    assert.equal(a.t.stats().b!.connected, false);
    assert.equal(b.t.stats().a!.connected, false);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('an intruder proving with the wrong secret is rejected and cannot inject messages', { timeout: 10_000 }, async () => {
  const b = await node('b');
  try {
    const raw = await rawConnect(b);
    await rawHandshake(raw, 'a', 'b', 'guessed secret');
    assert.deepEqual([...raw.frames[1]!], [5, 4]); // REJECT: authentication failed
    raw.socket.write(encodeFrame(6, encodeMessage(heartbeat('a', 'b', 1))));
    await raw.closed;
    assert.equal(b.got.length, 0);

    // The same intruder with the right secret gets in, which shows the refusal was about the proof.
    const ok = await rawConnect(b);
    await rawHandshake(ok, 'a', 'b', SECRET);
    assert.deepEqual([...ok.frames[1]!], [4]); // WELCOME
    ok.socket.write(encodeFrame(6, encodeMessage(heartbeat('a', 'b', 7))));
    await waitFor('delivery', () => b.got.length === 1);
    // An authenticated peer still cannot speak for another node.
    ok.socket.write(encodeFrame(6, encodeMessage(heartbeat('c', 'b', 8))));
    await ok.closed;
    assert.equal(b.got.length, 1);
  } finally {
    await b.t.close();
  }
});

test('a node of another cluster is refused', { timeout: 10_000 }, async () => {
  const a = await node('a', { clusterId: 'other-cluster' });
  const b = await node('b');
  try {
    a.t.setPeers({ b: at(b) });
    a.t.send(heartbeat('a', 'b', 1));
    await waitFor('refusal', () => a.warnings.some((w) => w.includes('different cluster id')));
    assert.ok(b.warnings.some((w) => w.includes('cluster id')));
    assert.equal(b.got.length, 0);
    assert.equal(a.t.stats().b!.connected, false);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('oversize frames and garbage close the connection, and the node keeps serving', { timeout: 10_000 }, async () => {
  const b = await node('b');
  try {
    // Before authentication, even a modest frame is too big.
    const early = await rawConnect(b);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(10_000, 0);
    early.socket.write(header);
    await early.closed;

    const garbage = await rawConnect(b);
    garbage.socket.write(randomBytes(300));
    await garbage.closed;

    // After authentication: a frame one byte over the limit.
    const big = await rawConnect(b);
    await rawHandshake(big, 'a', 'b', SECRET);
    header.writeUInt32BE(MAX_FRAME + 1, 0);
    big.socket.write(header);
    await big.closed;

    // After authentication: a well-framed message body that is garbage.
    const bad = await rawConnect(b);
    await rawHandshake(bad, 'a', 'b', SECRET);
    bad.socket.write(encodeFrame(6, Buffer.from([99, 1, 2, 3])));
    await bad.closed;

    assert.ok(b.warnings.some((w) => w.includes(`frame of ${MAX_FRAME + 1} bytes exceeds limit ${MAX_FRAME}`)));
    assert.ok(b.warnings.some((w) => w.includes('undecodable message (UNKNOWN_TAG)')));
    assert.equal(b.got.length, 0);

    const a = await node('a');
    try {
      a.t.setPeers({ b: at(b) });
      a.t.send(heartbeat('a', 'b', 1));
      await waitFor('delivery after the abuse', () => b.got.length === 1);
    } finally {
      await a.t.close();
    }
  } finally {
    await b.t.close();
  }
});

test('a message too big for a frame is dropped and counted at the sender', { timeout: 10_000 }, async () => {
  const a = await node('a');
  const b = await node('b');
  try {
    a.t.setPeers({ b: at(b) });
    const chunk: Message = {
      type: 'snapshot',
      from: 'a',
      to: 'b',
      term: 1,
      meta: { index: 9, term: 1, membership: { voters: ['a', 'b'], learners: [] }, time: 0, digest: new Uint8Array(32) },
      offset: 0,
      total: MAX_FRAME,
      data: new Uint8Array(MAX_FRAME),
      done: true,
    };
    a.t.send(chunk);
    a.t.send(heartbeat('a', 'b', 1));
    await waitFor('the heartbeat', () => b.got.length === 1);
    assert.equal(b.got[0]!.type, 'heartbeat');
    assert.equal(a.t.stats().b!.dropped, 1);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a peer that restarts is reconnected', { timeout: 10_000 }, async () => {
  const a = await node('a');
  let b = await node('b');
  try {
    const port = b.t.port;
    a.t.setPeers({ b: { host: '127.0.0.1', port } });
    a.t.send(heartbeat('a', 'b', 1));
    await waitFor('first delivery', () => b.got.length === 1);
    await b.t.close();
    await waitFor('a to notice', () => a.t.stats().b!.connected === false);
    b = await node('b', { listenPort: port });
    await waitFor('reconnection', () => a.t.stats().b!.connected);
    a.t.send(heartbeat('a', 'b', 2));
    await waitFor('delivery to the restarted peer', () => b.got.length === 1);
    assert.equal(b.got[0]!.type === 'heartbeat' && b.got[0].round, 2);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('while a peer is down its queue stays within bounds, drops are counted, and the rest is delivered later', { timeout: 10_000 }, async () => {
  const port = await freePort();
  const maxQueueBytes = 2 * MAX_FRAME;
  const a = await node('a', { maxQueueBytes });
  let c: Node | null = null;
  try {
    a.t.setPeers({ c: { host: '127.0.0.1', port } });
    const payload = new Uint8Array(1000);
    const total = 500;
    for (let i = 1; i <= total; i++) {
      a.t.send({ type: 'append', from: 'a', to: 'c', term: 1, prevLogIndex: i, prevLogTerm: 1, commit: 0, entries: [{ term: 1, index: i + 1, type: 0, time: 0, data: payload }] });
      assert.ok(a.t.stats().c!.queuedBytes <= maxQueueBytes);
    }
    const { dropped, queuedBytes, connected } = a.t.stats().c!;
    assert.equal(connected, false);
    assert.ok(dropped > 0 && dropped < total, `dropped ${dropped}`);
    assert.ok(queuedBytes > maxQueueBytes - 1100);
    c = await node('c', { listenPort: port });
    await waitFor('the queued messages', () => c!.got.length === total - dropped);
    assert.equal(a.t.stats().c!.queuedBytes, 0);
    // The oldest messages were kept: the queue refuses new ones once full.
    assert.equal(c.got[0]!.type === 'append' && c.got[0].prevLogIndex, 1);
  } finally {
    await a.t.close();
    await c?.t.close();
  }
});

test('an inbound connection that never completes the handshake is closed at the deadline', { timeout: 10_000 }, async () => {
  const b = await node('b', { handshakeTimeoutMs: 100 });
  try {
    const raw = await rawConnect(b);
    const started = Date.now();
    await raw.closed;
    assert.ok(Date.now() - started >= 90);
    assert.ok(b.warnings.some((w) => w.includes('handshake timed out')));
  } finally {
    await b.t.close();
  }
});

test('a new authenticated connection from a peer replaces its previous one', { timeout: 10_000 }, async () => {
  const b = await node('b');
  try {
    const first = await rawConnect(b);
    await rawHandshake(first, 'a', 'b', SECRET);
    const second = await rawConnect(b);
    await rawHandshake(second, 'a', 'b', SECRET);
    await first.closed;
    second.socket.write(encodeFrame(6, encodeMessage(heartbeat('a', 'b', 3))));
    await waitFor('delivery on the new connection', () => b.got.length === 1);
    second.socket.destroy();
  } finally {
    await b.t.close();
  }
});

// ---- liveness: links that hear nothing are torn down and redialled (src/raft/link-liveness.ts)

const LIVENESS_MS = 200;

test('a quiet link stays up: pings prove both ends alive', { timeout: 10_000 }, async () => {
  const a = await node('a', { livenessTimeoutMs: LIVENESS_MS });
  const b = await node('b', { livenessTimeoutMs: LIVENESS_MS });
  try {
    a.t.setPeers({ b: at(b) });
    a.t.send(heartbeat('a', 'b', 1));
    await waitFor('delivery', () => b.got.length === 1);
    // Nothing but pings for five timeouts: the dialer hears only the listener's pings, the listener only the dialer's.
    await sleep(5 * LIVENESS_MS);
    assert.deepEqual(a.t.stats().b, { connected: true, queuedBytes: 0, dropped: 0, sent: 1, silentTeardowns: 0 });
    assert.deepEqual([...a.warnings, ...b.warnings], []);
    a.t.send(heartbeat('a', 'b', 2));
    await waitFor('delivery on the same connection', () => b.got.length === 2);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('an authenticated peer that falls silent is disconnected after the liveness timeout', { timeout: 10_000 }, async () => {
  const b = await node('b', { livenessTimeoutMs: LIVENESS_MS });
  try {
    const raw = await rawConnect(b);
    await rawHandshake(raw, 'a', 'b', SECRET);
    const welcomedAt = Date.now(); // up to 10 ms after b heard the AUTH: rawHandshake polls
    await waitFor('b to ping the silent dialer', () => raw.frames.some((f) => f.length === 1 && f[0] === 7));
    await raw.closed;
    const silence = Date.now() - welcomedAt;
    assert.ok(silence >= LIVENESS_MS - 15 && silence < 3 * LIVENESS_MS, `closed after ${silence} ms`);
    assert.ok(b.warnings.includes('inbound peer connection silent: closing: a'), b.warnings.join('\n'));

    // A dialer that pings (and sends nothing else) is kept.
    const pinger = await rawConnect(b);
    await rawHandshake(pinger, 'a', 'b', SECRET);
    let open = true;
    void pinger.closed.then(() => (open = false));
    for (let i = 0; i < 10; i++) {
      pinger.socket.write(encodeFrame(7, new Uint8Array()));
      await sleep(LIVENESS_MS / 2);
    }
    assert.ok(open, 'a pinging peer was disconnected');
    // A PING with a body is a protocol error.
    pinger.socket.write(encodeFrame(7, Uint8Array.of(1)));
    await pinger.closed;
  } finally {
    await b.t.close();
  }
});

test('a black-holed link is torn down on both ends and redialled within the bound once packets flow again', { timeout: 20_000 }, async () => {
  const a = await node('a', { livenessTimeoutMs: LIVENESS_MS });
  const b = await node('b', { livenessTimeoutMs: LIVENESS_MS });
  // Everything a sends to b crosses this proxy; `drop` freezes it without closing anything, and
  // keeps frozen what was open during the drop, like a partition and TCP's backed-off retransmission.
  const proxy = await FaultProxy.start(b.t.port);
  try {
    a.t.setPeers({ b: { host: '127.0.0.1', port: proxy.port } });
    a.t.send(heartbeat('a', 'b', 1));
    await waitFor('delivery', () => b.got.length === 1);

    proxy.setMode('drop');
    const cutAt = Date.now();
    a.t.send(heartbeat('a', 'b', 2));
    await waitFor('a to give up its connection', () => a.t.stats().b!.silentTeardowns === 1);
    const detected = Date.now() - cutAt;
    await waitFor('b to give up its end', () => b.warnings.includes('inbound peer connection silent: closing: a'));
    // a last heard b's ping at most a third of the timeout before the cut, and checks six times
    // per timeout: silence is noticed between 2/3 and 7/6 of the timeout after the cut (plus scheduling).
    assert.ok(detected >= (2 * LIVENESS_MS) / 3 - 5 && detected < 2 * LIVENESS_MS, `silence noticed after ${detected} ms`);

    // A long partition: a keeps redialling, each attempt held by the proxy until its deadline.
    await sleep(5 * LIVENESS_MS);
    assert.equal(a.t.stats().b!.connected, false);
    assert.ok(proxy.connections <= 3, `${proxy.connections} connections through the proxy`);
    a.t.send(heartbeat('a', 'b', 3));

    proxy.setMode('pass');
    const healedAt = Date.now();
    await waitFor('the messages sent during the partition', () => b.got.length === 2, 5000);
    const rejoin = Date.now() - healedAt;
    // At worst an attempt held by the drop runs out its deadline (one timeout), then the backoff (≤ 100 ms here).
    assert.ok(rejoin < LIVENESS_MS + 100 + 400, `rejoined ${rejoin} ms after the heal`);
    // Heartbeat 2 went into the frozen connection and is lost with it (Raft retransmits); 3 waited in the queue.
    assert.equal(b.got[1]!.type === 'heartbeat' && b.got[1].round, 3);
    assert.equal(a.t.stats().b!.silentTeardowns, 1, 'only the connection open at the cut fell silent');
  } finally {
    await a.t.close();
    await b.t.close();
    await proxy.close();
  }
});

test('with a connect deadline shorter than the silence timeout, a partition cuts on silence and the heal is seen on the short deadline', { timeout: 20_000 }, async () => {
  const silenceMs = 3 * LIVENESS_MS;
  const connectMs = LIVENESS_MS / 2;
  const a = await node('a', { livenessTimeoutMs: silenceMs, connectTimeoutMs: connectMs });
  const b = await node('b', { livenessTimeoutMs: silenceMs, connectTimeoutMs: connectMs });
  const proxy = await FaultProxy.start(b.t.port);
  try {
    a.t.setPeers({ b: { host: '127.0.0.1', port: proxy.port } });
    a.t.send(heartbeat('a', 'b', 1));
    await waitFor('delivery', () => b.got.length === 1);

    proxy.setMode('drop');
    const cutAt = Date.now();
    await waitFor('a to give up its connection', () => a.t.stats().b!.silentTeardowns === 1, 5000);
    const detected = Date.now() - cutAt;
    assert.ok(detected >= (2 * silenceMs) / 3 - 5, `an established link was cut after ${detected} ms of silence, before its ${silenceMs} ms`);

    await sleep(3 * silenceMs);
    a.t.send(heartbeat('a', 'b', 2));
    proxy.setMode('pass');
    const healedAt = Date.now();
    await waitFor('the message sent during the partition', () => b.got.length === 2, 5000);
    const rejoin = Date.now() - healedAt;
    // A redial held by the drop gives up at the connect deadline, not at the silence timeout.
    assert.ok(rejoin < connectMs + 100 + 300, `rejoined ${rejoin} ms after the heal (connect deadline ${connectMs} ms, silence ${silenceMs} ms)`);
  } finally {
    await a.t.close();
    await b.t.close();
    await proxy.close();
  }
});

test('invalid options and peer addresses are refused up front', () => {
  const base: TransportOptions = {
    nodeId: 'a',
    clusterId: CLUSTER,
    secret: SECRET,
    listenHost: '127.0.0.1',
    listenPort: 0,
    peers: {},
    maxFrameBytes: MAX_FRAME,
    maxQueueBytes: MAX_FRAME,
  };
  assert.throws(() => new TcpTransport({ ...base, secret: '' }), TransportError);
  assert.throws(() => new TcpTransport({ ...base, nodeId: 'x'.repeat(65) }), TransportError);
  assert.throws(() => new TcpTransport({ ...base, maxQueueBytes: MAX_FRAME - 1 }), TransportError);
  assert.throws(() => new TcpTransport({ ...base, livenessTimeoutMs: 5 }), TransportError);
  assert.throws(() => new TcpTransport({ ...base, connectTimeoutMs: 5 }), TransportError);
  assert.throws(() => new TcpTransport({ ...base, peers: { b: { host: '127.0.0.1', port: 70000 } } }), TransportError);
});
