// Raft peer transport over TCP, after hashicorp raft's NetworkTransport over a StreamLayer: this
// file is the socket layer (the listener, and one PeerLink per peer that dials), over the
// length-prefixed frames of frames.ts and the pure handshake of handshake.ts.
//
// Two modes. Mutual TLS (`tls`, production): every connection is TLS 1.3, both ends present a
// certificate of the cluster CA naming their node id (peer-tls.ts), the listener refuses a
// dialer whose HELLO claims another id than its certificate, and everything after the handshake
// travels inside TLS, so nobody on the path can read, inject or alter a Raft message. Shared
// secret (`secret`, development only): plain TCP, an HMAC challenge-response proves membership,
// and frames after it are not authenticated.
//
// Each node dials one outbound connection per peer and only *sends* on it; connections it accepts
// only *deliver* messages, each of which must come from the authenticated peer of its connection
// and be addressed to this node (otherwise it is dropped, the connection closed and the attempt
// logged, rate-limited). Before authentication frames are capped at HANDSHAKE_MAX_FRAME bytes,
// after it at `maxFrameBytes`; a length over the cap closes the connection before the body is
// buffered. A listener refusing a dialer tells it why (REJECT), then closes after a short linger.
//
// Unauthenticated inbound connections (TLS handshake included) have a deadline and are capped per
// source address and in total; a newcomer evicts the oldest instead of being refused
// (pending-handshakes.ts), so idle sockets cannot lock peers out.
//
// `send` never blocks: messages wait in a per-peer queue bounded in bytes and are written as one
// gathered write of at most about a MiB per event-loop turn (peer-link.ts); when the queue is full
// the message is dropped (Raft retransmits).
//
// Both ends of every authenticated connection watch its liveness (link-liveness.ts): an idle side
// sends PING frames, and a side that hears nothing for `livenessTimeoutMs` closes the connection,
// so a black-holed link is noticed and redialled in well under a second instead of waiting for
// TCP's backed-off retransmissions.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { PeerAddress } from '../identifiers.js';
import { SILENT_LOGGER, type LoggerPort } from '../logger-port.js';
import { decodeMessage, encodeMessage, type CodecLimits } from './codec.js';
import { WireError } from '../wire/wire-error.js';
import { encodeFrame, FRAME, FrameDecoder, ProtocolError } from './frames.js';
import { HANDSHAKE_MAX_FRAME, ListenerHandshake, MAX_CLUSTER_ID_BYTES, MAX_NODE_ID_BYTES, NONCE_BYTES, rejectFrame } from './handshake.js';
import { type LinkLiveness, MIN_LIVENESS_TIMEOUT_MS, SYSTEM_CLOCK, type LivenessClock, watchSocket } from './link-liveness.js';
import { PeerLink } from './peer-link.js';
import { PendingHandshakes, type PendingEntry } from './pending-handshakes.js';
import { handshakeKey, peerNodeId, peerSecureContext, PEER_TLS_MIN_VERSION, type PeerTlsMaterial } from './peer-tls.js';
import { WarnLimiter } from './warn-limiter.js';
import type { Message, NodeId } from './types.js';
import { errorText } from '../error-text.js';

export interface TransportOptions {
  nodeId: NodeId;
  clusterId: string;
  /** Mutual TLS with certificates of the cluster CA (production). Exactly one of `tls` and `secret`. */
  tls?: PeerTlsMaterial;
  /** Development only: a secret shared by all members proves membership; frames are not protected. */
  secret?: string;
  listenHost: string;
  /** 0 picks a free port (see `port`). */
  listenPort: number;
  /** Peers to dial; an entry for this node itself is ignored. */
  peers: Record<NodeId, PeerAddress>;
  /** Largest frame accepted or sent (kind byte plus encoded message). */
  maxFrameBytes: number;
  /** Per-peer bound on bytes waiting to be written; beyond it messages are dropped. */
  maxQueueBytes: number;
  logger?: LoggerPort;
  /** Deadline for a connecting peer to authenticate to this listener (TLS included). Default 2000. */
  handshakeTimeoutMs?: number;
  /** Unauthenticated inbound connections one source address may hold (default 8) and all may (default 64). */
  maxPendingPerAddress?: number;
  maxPendingHandshakes?: number;
  /**
   * A connection that hears nothing for this long is closed (and redialled by its dialer); an idle
   * side pings every third of it. Default 1000.
   */
  livenessTimeoutMs?: number;
  /** The dialer's deadline to connect and authenticate (default: `livenessTimeoutMs`). */
  connectTimeoutMs?: number;
  /** First reconnect delay (default 50); doubles per failure up to `reconnectMaxMs` (default 250), with jitter. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Time source of the liveness checks (tests). */
  clock?: LivenessClock;
  /** Codec bounds for decoding received messages (the message size bound follows `maxFrameBytes`). */
  limits?: Partial<CodecLimits>;
}

export interface PeerStats {
  connected: boolean;
  queuedBytes: number;
  dropped: number;
  sent: number;
  /** Outbound connections closed because they heard nothing for the liveness timeout. */
  silentTeardowns: number;
}

export class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportError';
  }
}

const REJECT_LINGER_MS = 1000;

type Settings = Required<Omit<TransportOptions, 'logger' | 'limits' | 'peers' | 'tls' | 'secret'>> & {
  secret: string | null;
  tls: tls.SecureContext | null;
};

/** An inbound connection between its TCP accept and its authentication. */
interface Admission {
  /** Authenticated or closed: it stops counting as pending, its deadline is off. Idempotent. */
  release(): void;
}

export class TcpTransport {
  private readonly o: Settings;
  private readonly log: LoggerPort;
  /** Warnings remote parties can trigger at will: bounded. */
  private readonly refusals: WarnLimiter;
  private readonly limits: Partial<CodecLimits>;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<net.Socket>();
  /** The authenticated inbound connection of each peer; a newer one replaces it (the old may be half-open). */
  private readonly inboundByPeer = new Map<NodeId, net.Socket>();
  private readonly server: net.Server;
  /** Under TLS: runs the TLS handshake on the sockets `server` accepts. */
  private readonly tlsServer: tls.Server | null = null;
  /** Accepted sockets in their TLS handshake, by remote address and port. */
  private readonly inTlsHandshake = new Map<string, Admission>();
  private readonly pending: PendingHandshakes;
  private handler: (m: Message) => void = () => {};
  private started = false;
  private closed = false;

  constructor(opts: TransportOptions) {
    if ((opts.secret === undefined) === (opts.tls === undefined)) throw new TransportError('exactly one of tls and secret is required');
    if (opts.secret !== undefined && opts.secret.length === 0) throw new TransportError('secret must not be empty');
    const idBytes = Buffer.byteLength(opts.nodeId);
    if (idBytes === 0 || idBytes > MAX_NODE_ID_BYTES) throw new TransportError(`node id must be 1..${MAX_NODE_ID_BYTES} UTF-8 bytes`);
    if (Buffer.byteLength(opts.clusterId) > MAX_CLUSTER_ID_BYTES) throw new TransportError(`cluster id longer than ${MAX_CLUSTER_ID_BYTES} bytes`);
    if (!(opts.maxFrameBytes > HANDSHAKE_MAX_FRAME)) throw new TransportError(`maxFrameBytes must exceed ${HANDSHAKE_MAX_FRAME}`);
    if (!(opts.maxQueueBytes >= opts.maxFrameBytes)) throw new TransportError('maxQueueBytes must be at least maxFrameBytes');
    if (opts.livenessTimeoutMs !== undefined && !(opts.livenessTimeoutMs >= MIN_LIVENESS_TIMEOUT_MS)) {
      throw new TransportError(`livenessTimeoutMs must be at least ${MIN_LIVENESS_TIMEOUT_MS}`);
    }
    if (opts.connectTimeoutMs !== undefined && !(opts.connectTimeoutMs >= MIN_LIVENESS_TIMEOUT_MS)) {
      throw new TransportError(`connectTimeoutMs must be at least ${MIN_LIVENESS_TIMEOUT_MS}`);
    }
    let secureContext: tls.SecureContext | null = null;
    if (opts.tls !== undefined) {
      try {
        secureContext = peerSecureContext(opts.tls, opts.nodeId);
      } catch (err) {
        throw new TransportError(`peer TLS: ${(err as Error).message}`);
      }
    }
    this.o = {
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      secret: opts.secret ?? null,
      tls: secureContext,
      listenHost: opts.listenHost,
      listenPort: opts.listenPort,
      maxFrameBytes: opts.maxFrameBytes,
      maxQueueBytes: opts.maxQueueBytes,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 2000,
      maxPendingPerAddress: opts.maxPendingPerAddress ?? 8,
      maxPendingHandshakes: opts.maxPendingHandshakes ?? 64,
      livenessTimeoutMs: opts.livenessTimeoutMs ?? 1000,
      connectTimeoutMs: opts.connectTimeoutMs ?? opts.livenessTimeoutMs ?? 1000,
      reconnectBaseMs: opts.reconnectBaseMs ?? 50,
      reconnectMaxMs: opts.reconnectMaxMs ?? 250,
      clock: opts.clock ?? SYSTEM_CLOCK,
    };
    this.log = opts.logger ?? SILENT_LOGGER;
    this.refusals = new WarnLimiter(this.log);
    this.limits = { ...opts.limits, maxMessageBytes: Math.min(opts.limits?.maxMessageBytes ?? Infinity, opts.maxFrameBytes - 1) };
    this.pending = new PendingHandshakes({ perAddress: this.o.maxPendingPerAddress, total: this.o.maxPendingHandshakes });
    this.server = net.createServer((socket) => this.accept(socket));
    if (secureContext !== null) {
      // rejectUnauthorized is false so that the refusal and its reason are ours to log: every
      // connection is checked in tlsAccepted before a byte of it is read.
      // (tls.Server builds its context from these options; it ignores a given secureContext.)
      const { ca, cert, key } = opts.tls!;
      this.tlsServer = tls.createServer({ ca, cert, key, requestCert: true, rejectUnauthorized: false, minVersion: PEER_TLS_MIN_VERSION });
      this.tlsServer.on('secureConnection', (socket) => this.tlsAccepted(socket));
      this.tlsServer.on('tlsClientError', (err, socket) => this.refuse(`${socket.remoteAddress}:${socket.remotePort}`, `TLS handshake failed: ${err.message}`));
    }
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
      if (!(err instanceof WireError)) throw err;
      link.dropped++;
      this.log.warn({ peer: m.to, type: m.type, reason: err.message }, 'dropping unencodable message');
      return;
    }
    link.enqueue(encodeFrame(FRAME.message, body), this.o.maxQueueBytes);
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
    for (const [id, l] of this.links) {
      out[id] = { connected: l.ready, queuedBytes: l.queuedBytes, dropped: l.dropped, sent: l.sent, silentTeardowns: l.silentTeardowns };
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.stop();
    for (const socket of this.inbound) socket.destroy();
    if (this.started) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** How many unauthenticated connections were pushed out by newer ones (pending-handshakes.ts). */
  get evictedHandshakes(): number {
    return this.pending.evicted;
  }

  /** A TCP connection: admitted as pending with a deadline, then TLS (when on) and the listener's handshake. */
  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const entry: PendingEntry = {
      address: socket.remoteAddress ?? '',
      evict: () => {
        this.refuse(remote, 'evicted by a newer unauthenticated connection');
        socket.destroy();
      },
    };
    const deadline = setTimeout(() => {
      this.refuse(remote, 'handshake timed out');
      socket.destroy();
    }, this.o.handshakeTimeoutMs);
    const admission: Admission = {
      release: () => {
        clearTimeout(deadline);
        this.pending.release(entry);
      },
    };
    this.pending.admit(entry);
    this.inbound.add(socket);
    socket.on('close', () => {
      admission.release();
      this.inTlsHandshake.delete(remote);
      this.inbound.delete(socket);
    });
    if (this.tlsServer === null) {
      this.handshake(socket, remote, this.o.secret!, null, admission);
      return;
    }
    this.inTlsHandshake.set(remote, admission);
    this.tlsServer.emit('connection', socket);
  }

  /** A TLS connection whose handshake finished: its certificate must be the CA's and name a node. */
  private tlsAccepted(socket: tls.TLSSocket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const admission = this.inTlsHandshake.get(remote);
    this.inTlsHandshake.delete(remote);
    if (admission === undefined || this.closed) {
      socket.destroy();
      return;
    }
    if (!socket.authorized) {
      this.refuse(remote, `certificate refused: ${String(socket.authorizationError)}`);
      socket.destroy();
      return;
    }
    const peer = peerNodeId(socket);
    if (peer === null) {
      this.refuse(remote, 'certificate names no node');
      socket.destroy();
      return;
    }
    this.handshake(socket, remote, handshakeKey(socket), peer, admission);
  }

  /** A warning about a remote party, bounded in rate. */
  private refuse(remote: string, reason: string, peer?: string): void {
    this.refusals.warn({ remote, peer, reason }, 'closing inbound connection');
  }

  /** The listener's handshake on `socket` (plain or TLS), then delivery of the peer's messages. */
  private handshake(socket: net.Socket, remote: string, key: string | Uint8Array, certifiedPeer: NodeId | null, admission: Admission): void {
    const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    const handshake = new ListenerHandshake({ ...this.o, secret: key }, randomBytes(NONCE_BYTES), certifiedPeer);
    let lingerTimer: NodeJS.Timeout | null = null;
    let liveness: LinkLiveness | null = null;

    const fail = (reason: string, reject: number | null) => {
      this.refuse(remote, reason, handshake.peer || undefined);
      if (reject === null) {
        socket.destroy();
        return;
      }
      const refusal = rejectFrame(reject);
      socket.end(encodeFrame(refusal.kind, refusal.body));
      lingerTimer = setTimeout(() => socket.destroy(), REJECT_LINGER_MS);
    };
    const handle = (kind: number, body: Uint8Array) => {
      if (handshake.done) {
        if (kind === FRAME.ping && body.length === 0) return;
        if (kind !== FRAME.message) throw new ProtocolError(`unexpected frame kind ${kind} during ready`);
        this.deliver(handshake.peer, body);
        return;
      }
      const reply = handshake.receive(kind, body);
      if (handshake.done) {
        admission.release();
        decoder.max = this.o.maxFrameBytes;
        this.inboundByPeer.get(handshake.peer)?.destroy();
        this.inboundByPeer.set(handshake.peer, socket);
      }
      socket.write(encodeFrame(reply.kind, reply.body));
      if (handshake.done) {
        this.log.info({ peer: handshake.peer, remote, tls: certifiedPeer !== null }, 'accepted peer connection');
        liveness = this.watch(socket, handshake.peer);
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (lingerTimer !== null) return;
      liveness?.heard();
      try {
        decoder.push(chunk);
        for (let f = decoder.next(); f !== null && !socket.destroyed; f = decoder.next()) handle(f.kind, f.body);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        fail(err.message, err.reject);
      }
    });
    socket.on('error', (err) => this.log.debug({ remote, err: err.message }, 'inbound connection error'));
    socket.on('close', () => {
      liveness?.stop();
      if (lingerTimer !== null) clearTimeout(lingerTimer);
      if (this.inboundByPeer.get(handshake.peer) === socket) this.inboundByPeer.delete(handshake.peer);
    });
  }

  /** Liveness of an authenticated inbound connection: pings from this side, closing it on silence (its dialer redials). */
  private watch(socket: net.Socket, peer: NodeId): LinkLiveness {
    return watchSocket(
      socket,
      this.o.livenessTimeoutMs,
      (silentMs) => this.log.warn({ peer, silentMs: Math.round(silentMs) }, 'inbound peer connection silent: closing'),
      this.o.clock,
    );
  }

  /** A MESSAGE frame from the authenticated `peer`: decoded, checked to come from it and be for us, handed on. */
  private deliver(peer: NodeId, body: Uint8Array): void {
    let m: Message;
    try {
      m = decodeMessage(body, this.limits);
    } catch (err) {
      if (err instanceof WireError) throw new ProtocolError(`undecodable message (${err.code}): ${err.message}`);
      throw err;
    }
    if (m.from !== peer || m.to !== this.o.nodeId) throw new ProtocolError(`message from ${m.from} to ${m.to} on the connection of ${peer}`);
    try {
      this.handler(m);
    } catch (err) {
      this.log.warn({ peer, type: m.type, err: errorText(err) }, 'message handler threw');
    }
  }
}
