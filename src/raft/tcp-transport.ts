// Raft peer transport over plain TCP.
//
// Each node dials one outbound connection per peer and only *sends* on it; connections it accepts
// only *deliver* messages. A frame is a 4-byte big-endian length N followed by N bytes: one kind
// byte and the body. Before authentication frames are capped at HANDSHAKE_MAX_FRAME bytes, after
// it at `maxFrameBytes`; a length over the cap closes the connection before the body is buffered.
//
// Handshake (the dialer D connects to the listener L):
//   D → L  HELLO      version, cluster id, D's id, the id D expects L to have, nonce_D
//   L → D  CHALLENGE  L's id, nonce_L, HMAC(secret, transcript("listener"))
//   D → L  AUTH       HMAC(secret, transcript("dialer"))
//   L → D  WELCOME    (D may now send MESSAGE frames)
// or L → D REJECT with a reason code, then close. The transcript binds role, cluster, both ids and
// both fresh nonces, so a proof can neither be replayed on another connection nor reflected in
// the other direction. Both sides verify with timingSafeEqual. The whole exchange has a deadline.
// Frames after the handshake are not individually authenticated: an attacker able to hijack TCP
// connections on the cluster network is out of scope (run the cluster on a private network).
//
// `send` never blocks: messages wait in a per-peer queue bounded in bytes and are written in one
// batch per event-loop turn; when the queue is full the message is dropped (Raft retransmits).

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import { ByteReader, ByteWriter, CodecError, decodeMessage, encodeMessage } from './codec.js';
import type { CodecLimits } from './codec.js';
import type { Message, NodeId } from './types.js';

export interface PeerAddress {
  host: string;
  port: number;
}

export interface TransportLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface TransportOptions {
  nodeId: NodeId;
  clusterId: string;
  /** Shared by all members; proves membership in both directions of every connection. */
  secret: string;
  listenHost: string;
  /** 0 picks a free port (see `port`). */
  listenPort: number;
  /** Peers to dial; an entry for this node itself is ignored. */
  peers: Record<NodeId, PeerAddress>;
  /** Largest frame accepted or sent (kind byte plus encoded message). */
  maxFrameBytes: number;
  /** Per-peer bound on bytes waiting to be written; beyond it messages are dropped. */
  maxQueueBytes: number;
  logger?: TransportLogger;
  /** Default 5000. */
  handshakeTimeoutMs?: number;
  /** First reconnect delay (default 50); doubles per failure up to `reconnectMaxMs` (default 2000), with jitter. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Codec bounds for decoding received messages (the message size bound follows `maxFrameBytes`). */
  limits?: Partial<CodecLimits>;
}

export interface PeerStats {
  connected: boolean;
  queuedBytes: number;
  dropped: number;
  sent: number;
}

export class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportError';
  }
}

const PROTOCOL_VERSION = 1;
const HANDSHAKE_MAX_FRAME = 512;
const MAX_CLUSTER_ID_BYTES = 128;
const MAX_NODE_ID_BYTES = 64;
const NONCE_BYTES = 32;
const MAC_BYTES = 32;
const MAX_PENDING_HANDSHAKES = 64;
const REJECT_LINGER_MS = 1000;
// Lets the kernel notice peers that vanished without closing (power loss, partition).
const KEEPALIVE_MS = 10_000;

const FRAME = { hello: 1, challenge: 2, auth: 3, welcome: 4, reject: 5, message: 6 } as const;

const REJECT = { version: 1, cluster: 2, node: 3, auth: 4 } as const;
const REJECT_TEXT: Record<number, string> = {
  [REJECT.version]: 'unsupported protocol version',
  [REJECT.cluster]: 'different cluster id',
  [REJECT.node]: 'unexpected node id',
  [REJECT.auth]: 'authentication failed',
};

const silentLogger: TransportLogger = { info() {}, warn() {}, debug() {} };

/** Raised inside a connection's data handler; always ends that connection, never the process. */
class ProtocolError extends Error {
  constructor(
    message: string,
    readonly reject: number | null = null,
  ) {
    super(message);
  }
}

function frame(kind: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32BE(1 + body.length, 0);
  out[4] = kind;
  out.set(body, 5);
  return out;
}

/** Splits a byte stream into frame payloads, refusing any frame longer than `max` from its header. */
class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending = -1;

  constructor(public max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  next(): Buffer | null {
    if (this.pending < 0) {
      if (this.buffered < 4) return null;
      const length = this.take(4).readUInt32BE(0);
      if (length === 0) throw new ProtocolError('empty frame');
      if (length > this.max) throw new ProtocolError(`frame of ${length} bytes exceeds limit ${this.max}`);
      this.pending = length;
    }
    if (this.buffered < this.pending) return null;
    const payload = this.take(this.pending);
    this.pending = -1;
    return payload;
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const used = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, used);
      filled += used;
      if (used === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(used);
    }
    return out;
  }
}

function proof(
  secret: string,
  role: 'dialer' | 'listener',
  clusterId: string,
  dialer: NodeId,
  listener: NodeId,
  dialerNonce: Uint8Array,
  listenerNonce: Uint8Array,
): Buffer {
  const w = new ByteWriter();
  w.string('forge-raft-handshake-v1');
  w.string(role);
  w.string(clusterId);
  w.string(dialer);
  w.string(listener);
  w.bytes(dialerNonce);
  w.bytes(listenerNonce);
  return createHmac('sha256', secret).update(w.finish()).digest();
}

function proofMatches(expected: Buffer, given: Uint8Array): boolean {
  return given.length === expected.length && timingSafeEqual(expected, given);
}

/** Reads a handshake frame body with the codec's bounded reader, mapping its errors to protocol errors. */
function parse<T>(body: Buffer, read: (r: ByteReader) => T): T {
  try {
    const r = new ByteReader(body);
    const value = read(r);
    r.end();
    return value;
  } catch (err) {
    if (err instanceof CodecError) throw new ProtocolError(`malformed handshake frame: ${err.message}`);
    throw err;
  }
}

/** The sending side towards one peer: its queue, its connection and the reconnect schedule. */
class PeerLink {
  queue: Buffer[] = [];
  queuedBytes = 0;
  dropped = 0;
  sent = 0;
  ready = false;
  socket: net.Socket | null = null;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private awaitingDrain = false;
  private stopped = false;

  constructor(
    readonly id: NodeId,
    public address: PeerAddress,
    private readonly o: Required<Pick<TransportOptions, 'nodeId' | 'clusterId' | 'secret' | 'handshakeTimeoutMs' | 'reconnectBaseMs' | 'reconnectMaxMs'>>,
    private readonly log: TransportLogger,
  ) {}

  enqueue(f: Buffer, maxQueueBytes: number): void {
    if (this.queuedBytes + f.length > maxQueueBytes) {
      this.dropped++;
      return;
    }
    this.queue.push(f);
    this.queuedBytes += f.length;
    this.scheduleFlush();
  }

  connect(): void {
    if (this.stopped || this.socket !== null) return;
    const socket = net.connect({ host: this.address.host, port: this.address.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    const nonce = randomBytes(NONCE_BYTES);
    let stage: 'challenge' | 'welcome' | 'ready' = 'challenge';
    const deadline = setTimeout(() => this.fail(socket, 'handshake timed out'), this.o.handshakeTimeoutMs);

    socket.on('connect', () => {
      const w = new ByteWriter();
      w.uint(PROTOCOL_VERSION);
      w.string(this.o.clusterId);
      w.string(this.o.nodeId);
      w.string(this.id);
      w.raw(nonce);
      socket.write(frame(FRAME.hello, w.finish()));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
        for (let f = decoder.next(); f !== null && !socket.destroyed; f = decoder.next()) {
          const kind = f[0];
          const body = f.subarray(1);
          if (stage === 'challenge' && kind === FRAME.challenge) {
            const c = parse(body, (r) => ({ id: r.string(MAX_NODE_ID_BYTES, 'node id'), nonce: r.raw(NONCE_BYTES), mac: r.raw(MAC_BYTES) }));
            if (c.id !== this.id) throw new ProtocolError(`expected node ${this.id} at ${this.address.host}:${this.address.port}, found ${c.id}`);
            const expected = proof(this.o.secret, 'listener', this.o.clusterId, this.o.nodeId, this.id, nonce, c.nonce);
            if (!proofMatches(expected, c.mac)) throw new ProtocolError('peer failed authentication (different secret?)');
            socket.write(frame(FRAME.auth, proof(this.o.secret, 'dialer', this.o.clusterId, this.o.nodeId, this.id, nonce, c.nonce)));
            stage = 'welcome';
          } else if (stage === 'welcome' && kind === FRAME.welcome && body.length === 0) {
            clearTimeout(deadline);
            stage = 'ready';
            this.ready = true;
            this.failures = 0;
            this.log.info({ peer: this.id }, 'connected to peer');
            this.scheduleFlush();
          } else if (stage !== 'ready' && kind === FRAME.reject) {
            const reason = body.length === 1 ? REJECT_TEXT[body[0]!] : undefined;
            throw new ProtocolError(`peer refused the connection: ${reason ?? 'unknown reason'}`);
          } else {
            throw new ProtocolError(`unexpected frame kind ${kind} during ${stage}`);
          }
        }
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        this.fail(socket, err.message);
      }
    });
    socket.on('drain', () => {
      this.awaitingDrain = false;
      this.flush();
    });
    socket.on('error', (err) => this.log.debug({ peer: this.id, err: err.message }, 'peer connection error'));
    socket.on('close', () => {
      clearTimeout(deadline);
      if (this.socket === socket) {
        this.socket = null;
        this.ready = false;
        this.awaitingDrain = false;
        this.scheduleReconnect();
      }
    });
  }

  /** Drops the connection now; the queue stays so messages go out after reconnecting. */
  reset(): void {
    this.failures = 0;
    this.socket?.destroy();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.queue = [];
    this.queuedBytes = 0;
  }

  private fail(socket: net.Socket, reason: string): void {
    this.log.warn({ peer: this.id, reason }, 'closing connection to peer');
    socket.destroy();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const ceiling = Math.min(this.o.reconnectMaxMs, this.o.reconnectBaseMs * 2 ** this.failures);
    this.failures = Math.min(this.failures + 1, 30);
    // Jitter in [ceiling/2, ceiling) keeps restarted nodes from redialling in lockstep.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.ready) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes everything queued as one buffer, unless the socket is still draining the previous batch. */
  private flush(): void {
    if (!this.ready || this.awaitingDrain || this.queue.length === 0 || this.socket === null) return;
    const batch = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue, this.queuedBytes);
    this.sent += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    if (!this.socket.write(batch)) this.awaitingDrain = true;
  }
}

export class TcpTransport {
  private readonly o: Required<Omit<TransportOptions, 'logger' | 'limits' | 'peers'>>;
  private readonly log: TransportLogger;
  private readonly limits: Partial<CodecLimits>;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<net.Socket>();
  /** The authenticated inbound connection of each peer; a newer one replaces it (the old may be half-open). */
  private readonly inboundByPeer = new Map<NodeId, net.Socket>();
  private readonly server: net.Server;
  private handler: (m: Message) => void = () => {};
  private pendingHandshakes = 0;
  private started = false;
  private closed = false;

  constructor(opts: TransportOptions) {
    if (opts.secret.length === 0) throw new TransportError('secret must not be empty');
    const idBytes = Buffer.byteLength(opts.nodeId);
    if (idBytes === 0 || idBytes > MAX_NODE_ID_BYTES) throw new TransportError(`node id must be 1..${MAX_NODE_ID_BYTES} UTF-8 bytes`);
    if (Buffer.byteLength(opts.clusterId) > MAX_CLUSTER_ID_BYTES) throw new TransportError(`cluster id longer than ${MAX_CLUSTER_ID_BYTES} bytes`);
    if (!(opts.maxFrameBytes > HANDSHAKE_MAX_FRAME)) throw new TransportError(`maxFrameBytes must exceed ${HANDSHAKE_MAX_FRAME}`);
    if (!(opts.maxQueueBytes >= opts.maxFrameBytes)) throw new TransportError('maxQueueBytes must be at least maxFrameBytes');
    this.o = {
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      secret: opts.secret,
      listenHost: opts.listenHost,
      listenPort: opts.listenPort,
      maxFrameBytes: opts.maxFrameBytes,
      maxQueueBytes: opts.maxQueueBytes,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5000,
      reconnectBaseMs: opts.reconnectBaseMs ?? 50,
      reconnectMaxMs: opts.reconnectMaxMs ?? 2000,
    };
    this.log = opts.logger ?? silentLogger;
    this.limits = { ...opts.limits, maxMessageBytes: Math.min(opts.limits?.maxMessageBytes ?? Infinity, opts.maxFrameBytes - 1) };
    this.server = net.createServer((socket) => this.accept(socket));
    this.setPeers(opts.peers);
  }

  /** Listens, then dials every peer. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.listenPort, this.o.listenHost, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (err) => this.log.warn({ err: err.message }, 'listener error'));
    this.started = true;
    for (const link of this.links.values()) link.connect();
  }

  /** The port actually listened on (useful with listenPort 0). */
  get port(): number {
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new TransportError('not listening');
    return addr.port;
  }

  onMessage(h: (m: Message) => void): void {
    this.handler = h;
  }

  /** Queues `m` for `m.to`; never blocks. Unknown peers, oversize messages and full queues drop it. */
  send(m: Message): void {
    if (this.closed) return;
    const link = this.links.get(m.to);
    if (link === undefined) {
      this.log.debug({ peer: m.to, type: m.type }, 'dropping message for unknown peer');
      return;
    }
    let body: Uint8Array;
    try {
      body = encodeMessage(m, this.limits);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      link.dropped++;
      this.log.warn({ peer: m.to, type: m.type, reason: err.message }, 'dropping unencodable message');
      return;
    }
    link.enqueue(frame(FRAME.message, body), this.o.maxQueueBytes);
  }

  /** Replaces the peer set: removed peers are disconnected and their queues dropped; moved peers are redialled. */
  setPeers(peers: Record<NodeId, PeerAddress>): void {
    for (const [id, a] of Object.entries(peers)) {
      if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535 || a.host.length === 0) {
        throw new TransportError(`peer ${id}: invalid address ${a.host}:${a.port}`);
      }
    }
    for (const [id, link] of this.links) {
      if (!Object.hasOwn(peers, id)) {
        link.stop();
        this.links.delete(id);
      }
    }
    for (const [id, address] of Object.entries(peers)) {
      if (id === this.o.nodeId) continue;
      const link = this.links.get(id);
      if (link === undefined) {
        const created = new PeerLink(id, { ...address }, this.o, this.log);
        this.links.set(id, created);
        if (this.started && !this.closed) created.connect();
      } else if (link.address.host !== address.host || link.address.port !== address.port) {
        link.address = { ...address };
        link.reset();
      }
    }
  }

  stats(): Record<NodeId, PeerStats> {
    const out: Record<NodeId, PeerStats> = {};
    for (const [id, l] of this.links) out[id] = { connected: l.ready, queuedBytes: l.queuedBytes, dropped: l.dropped, sent: l.sent };
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.stop();
    for (const socket of this.inbound) socket.destroy();
    if (this.started) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    if (this.closed || this.pendingHandshakes >= MAX_PENDING_HANDSHAKES) {
      socket.destroy();
      return;
    }
    this.pendingHandshakes++;
    this.inbound.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    const nonce = randomBytes(NONCE_BYTES);
    let stage: 'hello' | 'auth' | 'ready' = 'hello';
    let peer = '';
    let expectedProof: Buffer | null = null;
    let lingerTimer: NodeJS.Timeout | null = null;

    const endHandshake = () => {
      if (stage !== 'ready') this.pendingHandshakes--;
      clearTimeout(deadline);
    };
    const fail = (reason: string, reject: number | null) => {
      this.log.warn({ remote, peer: peer || undefined, reason }, 'closing inbound connection');
      if (reject === null) {
        socket.destroy();
        return;
      }
      socket.end(frame(FRAME.reject, Uint8Array.of(reject)));
      lingerTimer = setTimeout(() => socket.destroy(), REJECT_LINGER_MS);
    };
    const deadline = setTimeout(() => fail('handshake timed out', null), this.o.handshakeTimeoutMs);

    const handle = (f: Buffer) => {
      const kind = f[0];
      const body = f.subarray(1);
      if (stage === 'ready' && kind === FRAME.message) {
        let m: Message;
        try {
          m = decodeMessage(body, this.limits);
        } catch (err) {
          if (err instanceof CodecError) throw new ProtocolError(`undecodable message (${err.code}): ${err.message}`);
          throw err;
        }
        if (m.from !== peer || m.to !== this.o.nodeId) throw new ProtocolError(`message from ${m.from} to ${m.to} on the connection of ${peer}`);
        try {
          this.handler(m);
        } catch (err) {
          this.log.warn({ peer, type: m.type, err: err instanceof Error ? err.message : String(err) }, 'message handler threw');
        }
      } else if (stage === 'hello' && kind === FRAME.hello) {
        const h = parse(body, (r) => ({
          version: r.uint(),
          cluster: r.string(MAX_CLUSTER_ID_BYTES, 'cluster id'),
          from: r.string(MAX_NODE_ID_BYTES, 'node id'),
          to: r.string(MAX_NODE_ID_BYTES, 'node id'),
          nonce: r.raw(NONCE_BYTES),
        }));
        peer = h.from;
        if (h.version !== PROTOCOL_VERSION) throw new ProtocolError(`protocol version ${h.version}`, REJECT.version);
        if (h.cluster !== this.o.clusterId) throw new ProtocolError(`cluster id ${JSON.stringify(h.cluster)}`, REJECT.cluster);
        if (h.to !== this.o.nodeId || h.from === this.o.nodeId || h.from.length === 0) {
          throw new ProtocolError(`dialer ${h.from} expected node ${h.to}`, REJECT.node);
        }
        const w = new ByteWriter();
        w.string(this.o.nodeId);
        w.raw(nonce);
        w.raw(proof(this.o.secret, 'listener', this.o.clusterId, h.from, this.o.nodeId, h.nonce, nonce));
        socket.write(frame(FRAME.challenge, w.finish()));
        expectedProof = proof(this.o.secret, 'dialer', this.o.clusterId, h.from, this.o.nodeId, h.nonce, nonce);
        stage = 'auth';
      } else if (stage === 'auth' && kind === FRAME.auth) {
        if (expectedProof === null || !proofMatches(expectedProof, body)) throw new ProtocolError('dialer failed authentication', REJECT.auth);
        endHandshake();
        stage = 'ready';
        decoder.max = this.o.maxFrameBytes;
        this.inboundByPeer.get(peer)?.destroy();
        this.inboundByPeer.set(peer, socket);
        socket.write(frame(FRAME.welcome, new Uint8Array()));
        this.log.info({ peer, remote }, 'accepted peer connection');
      } else {
        throw new ProtocolError(`unexpected frame kind ${kind} during ${stage}`);
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (lingerTimer !== null) return;
      try {
        decoder.push(chunk);
        for (let f = decoder.next(); f !== null && !socket.destroyed; f = decoder.next()) handle(f);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        fail(err.message, err.reject);
      }
    });
    socket.on('error', (err) => this.log.debug({ remote, err: err.message }, 'inbound connection error'));
    socket.on('close', () => {
      if (stage !== 'ready') endHandshake();
      if (lingerTimer !== null) clearTimeout(lingerTimer);
      this.inbound.delete(socket);
      if (this.inboundByPeer.get(peer) === socket) this.inboundByPeer.delete(peer);
    });
  }
}
