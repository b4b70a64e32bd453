// Raft peer transport over plain TCP, after hashicorp raft's NetworkTransport over a StreamLayer:
// this file is the socket layer (the listener, and one PeerLink per peer that dials), over the
// length-prefixed frames of frames.ts and the pure handshake of handshake.ts.
//
// Each node dials one outbound connection per peer and only *sends* on it; connections it accepts
// only *deliver* messages. Before authentication frames are capped at HANDSHAKE_MAX_FRAME bytes,
// after it at `maxFrameBytes`; a length over the cap closes the connection before the body is
// buffered. The whole handshake has a deadline; a listener refusing a dialer tells it why
// (REJECT), then closes after a short linger.
//
// `send` never blocks: messages wait in a per-peer queue bounded in bytes and are written in one
// batch per event-loop turn; when the queue is full the message is dropped (Raft retransmits).
//
// Both ends of every authenticated connection watch its liveness (link-liveness.ts): an idle side
// sends PING frames, and a side that hears nothing for `livenessTimeoutMs` closes the connection,
// so a black-holed link is noticed and redialled in well under a second instead of waiting for
// TCP's backed-off retransmissions.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { PeerAddress } from '../identifiers.js';
import { SILENT_LOGGER, type LoggerPort } from '../logger-port.js';
import { decodeMessage, encodeMessage, type CodecLimits } from './codec.js';
import { WireError } from '../wire/wire-error.js';
import { encodeFrame, FRAME, FrameDecoder, ProtocolError } from './frames.js';
import { HANDSHAKE_MAX_FRAME, ListenerHandshake, MAX_CLUSTER_ID_BYTES, MAX_NODE_ID_BYTES, NONCE_BYTES, rejectFrame } from './handshake.js';
import { type LinkLiveness, MIN_LIVENESS_TIMEOUT_MS, SYSTEM_CLOCK, type LivenessClock, watchSocket } from './link-liveness.js';
import { PeerLink } from './peer-link.js';
import type { Message, NodeId } from './types.js';

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
  logger?: LoggerPort;
  /** Deadline for a connecting peer to authenticate to this listener. Default 5000. */
  handshakeTimeoutMs?: number;
  /**
   * A connection that hears nothing for this long is closed (and redialled by its dialer); an idle
   * side pings every third of it. Also the dialer's deadline to connect and authenticate. Default 1000.
   */
  livenessTimeoutMs?: number;
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

const MAX_PENDING_HANDSHAKES = 64;
const REJECT_LINGER_MS = 1000;

export class TcpTransport {
  private readonly o: Required<Omit<TransportOptions, 'logger' | 'limits' | 'peers'>>;
  private readonly log: LoggerPort;
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
    if (opts.livenessTimeoutMs !== undefined && !(opts.livenessTimeoutMs >= MIN_LIVENESS_TIMEOUT_MS)) {
      throw new TransportError(`livenessTimeoutMs must be at least ${MIN_LIVENESS_TIMEOUT_MS}`);
    }
    this.o = {
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      secret: opts.secret,
      listenHost: opts.listenHost,
      listenPort: opts.listenPort,
      maxFrameBytes: opts.maxFrameBytes,
      maxQueueBytes: opts.maxQueueBytes,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5000,
      livenessTimeoutMs: opts.livenessTimeoutMs ?? 1000,
      reconnectBaseMs: opts.reconnectBaseMs ?? 50,
      reconnectMaxMs: opts.reconnectMaxMs ?? 250,
      clock: opts.clock ?? SYSTEM_CLOCK,
    };
    this.log = opts.logger ?? SILENT_LOGGER;
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

  /** An inbound connection: the listener's handshake, then delivery of the peer's messages. */
  private accept(socket: net.Socket): void {
    if (this.closed || this.pendingHandshakes >= MAX_PENDING_HANDSHAKES) {
      socket.destroy();
      return;
    }
    this.pendingHandshakes++;
    this.inbound.add(socket);
    socket.setNoDelay(true);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    const handshake = new ListenerHandshake(this.o, randomBytes(NONCE_BYTES));
    let lingerTimer: NodeJS.Timeout | null = null;
    let liveness: LinkLiveness | null = null;

    const deadline = setTimeout(() => fail('handshake timed out', null), this.o.handshakeTimeoutMs);
    const endHandshake = () => {
      if (!handshake.done) this.pendingHandshakes--;
      clearTimeout(deadline);
    };
    const fail = (reason: string, reject: number | null) => {
      this.log.warn({ remote, peer: handshake.peer || undefined, reason }, 'closing inbound connection');
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
        this.pendingHandshakes--;
        clearTimeout(deadline);
        decoder.max = this.o.maxFrameBytes;
        this.inboundByPeer.get(handshake.peer)?.destroy();
        this.inboundByPeer.set(handshake.peer, socket);
      }
      socket.write(encodeFrame(reply.kind, reply.body));
      if (handshake.done) {
        this.log.info({ peer: handshake.peer, remote }, 'accepted peer connection');
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
      endHandshake();
      if (lingerTimer !== null) clearTimeout(lingerTimer);
      this.inbound.delete(socket);
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
      this.log.warn({ peer, type: m.type, err: err instanceof Error ? err.message : String(err) }, 'message handler threw');
    }
  }
}
