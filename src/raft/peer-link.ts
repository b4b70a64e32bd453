// The sending side of the Raft TCP transport towards one peer: its bounded queue, the outbound
// connection it dials (running the dialer's handshake), and the reconnect schedule. Queued frames
// are written corked, as one gathered write, at most `FLUSH_BYTES` per event-loop turn: the queue
// can hold two frames of a maximum body each, and copying (and, under TLS, encrypting) tens of
// MiB in one turn held a leader's loop for 58 ms at 3M queued messages. The connection carries
// only MESSAGE frames and liveness PINGs outwards, and only PINGs back.
//
// A connection is given up, and redialled after a short backoff, when it closes, when connecting
// and authenticating take longer than the liveness timeout, or when it hears nothing for the
// liveness timeout (link-liveness.ts). The backoff stays short (`reconnectMaxMs`) so that a
// healed partition is rejoined within about a second whatever its length; only a peer that
// refuses us (wrong secret, cluster, id or certificate: a configuration error) is retried more slowly.
//
// Under mutual TLS the connection is TLS 1.3 and the listener's certificate must be of the cluster
// CA and name the peer dialled (peer-tls.ts) before HELLO is sent; the handshake's MAC key is then
// the session's exported keying material instead of the shared secret.

import { randomBytes, X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { PeerAddress } from '../identifiers.js';
import type { LoggerPort } from '../logger-port.js';
import { encodeFrame, FRAME, FrameDecoder, ProtocolError } from './frames.js';
import { DialerHandshake, HANDSHAKE_MAX_FRAME, NONCE_BYTES } from './handshake.js';
import { type LinkLiveness, type LivenessClock, SYSTEM_CLOCK, watchSocket } from './link-liveness.js';
import { certificateNodeId, handshakeKey, PEER_TLS_MIN_VERSION } from './peer-tls.js';
import type { NodeId } from './types.js';

/** Reconnect ceiling after the peer refused us: a misconfiguration, not worth redialling often. */
const REFUSED_RECONNECT_MAX_MS = 2000;

/** Bytes written per event-loop turn (at least one frame): about a millisecond of copying. */
export const FLUSH_BYTES = 1 << 20;

/** Put in a written frame's queue slot, so the frame can be collected before the queue is trimmed. */
const EMPTY = Buffer.alloc(0);

export interface PeerLinkOptions {
  clusterId: string;
  nodeId: NodeId;
  /** Mutual TLS: this node's context (its certificate, the cluster CA). Else `secret` (development only). */
  tls: tls.SecureContext | null;
  secret: string | null;
  /** Silence after which a connection is redialled. */
  livenessTimeoutMs: number;
  /** The deadline to connect and authenticate. */
  connectTimeoutMs: number;
  /** First reconnect delay; doubles per failure up to `reconnectMaxMs`, with jitter. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  clock?: LivenessClock;
}

export class PeerLink {
  /** Frames not yet written: `queue[queueHead..]`. */
  private queue: Buffer[] = [];
  private queueHead = 0;
  queuedBytes = 0;
  dropped = 0;
  sent = 0;
  ready = false;
  socket: net.Socket | null = null;
  /** Liveness teardowns since the link was created. */
  silentTeardowns = 0;
  private failures = 0;
  private refused = false;
  private liveness: LinkLiveness | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private awaitingDrain = false;
  private stopped = false;

  constructor(
    readonly id: NodeId,
    public address: PeerAddress,
    private readonly o: PeerLinkOptions,
    private readonly log: LoggerPort,
  ) {}

  /** Queues one encoded frame; drops it (counted) when the queue would exceed `maxQueueBytes`. */
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
    const secure = this.o.tls;
    const tcp = net.connect({ host: this.address.host, port: this.address.port });
    // Set on the TCP socket itself, before TLS wraps it: Nagle's algorithm against delayed ACKs
    // would add tens of milliseconds to rounds of Raft.
    tcp.setNoDelay(true);
    const socket =
      secure === null
        ? tcp
        : tls.connect({
            socket: tcp,
            secureContext: secure,
            minVersion: PEER_TLS_MIN_VERSION,
            rejectUnauthorized: true,
            // Peers are dialled by address; what must match is the node id the certificate names.
            checkServerIdentity: (_host, cert) => {
              const named = certificateNodeId(new X509Certificate(cert.raw));
              return named === this.id ? undefined : new Error(`certificate of ${named ?? 'no node'} where ${this.id} was expected`);
            },
          });
    this.socket = socket;
    const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    let handshake: DialerHandshake | null = null;
    // A black-holed SYN or HELLO is retransmitted by the kernel only after seconds: give up sooner.
    const deadline = setTimeout(() => this.fail(socket, 'connecting and authenticating timed out'), this.o.connectTimeoutMs);

    socket.on(secure === null ? 'connect' : 'secureConnect', () => {
      const key = secure === null ? this.o.secret! : handshakeKey(socket as tls.TLSSocket);
      handshake = new DialerHandshake({ clusterId: this.o.clusterId, nodeId: this.o.nodeId, secret: key }, this.id, randomBytes(NONCE_BYTES));
      const hello = handshake.hello();
      socket.write(encodeFrame(hello.kind, hello.body));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.liveness?.heard();
        decoder.push(chunk);
        for (let f = decoder.next(); f !== null && !socket.destroyed; f = decoder.next()) {
          if (handshake === null) throw new ProtocolError('data before the connection was set up');
          if (handshake.done) {
            if (f.kind !== FRAME.ping || f.body.length !== 0) throw new ProtocolError(`unexpected frame kind ${f.kind} from the listener`);
            continue;
          }
          const reply = handshake.receive(f.kind, f.body);
          if (reply !== null) socket.write(encodeFrame(reply.kind, reply.body));
          if (handshake.done) this.established(socket, deadline);
        }
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        if (handshake === null || !handshake.done) this.refused = true;
        this.fail(socket, err.message);
      }
    });
    socket.on('drain', () => {
      this.awaitingDrain = false;
      this.flush();
    });
    socket.on('error', (err: Error & { code?: string }) => {
      // A certificate refused (theirs by us, or ours by them) is a configuration error: say so.
      if (secure !== null && !this.ready && /CERT|TLS|SSL|certificate/.test(`${err.code ?? ''} ${err.message}`)) {
        this.refused = true;
        this.fail(socket, `TLS: ${err.message}`);
        return;
      }
      this.log.debug({ peer: this.id, err: err.message }, 'peer connection error');
    });
    socket.on('close', () => {
      clearTimeout(deadline);
      if (this.socket === socket) {
        this.liveness?.stop();
        this.liveness = null;
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
    this.queueHead = 0;
    this.queuedBytes = 0;
  }

  private established(socket: net.Socket, deadline: NodeJS.Timeout): void {
    clearTimeout(deadline);
    this.ready = true;
    this.failures = 0;
    this.refused = false;
    this.liveness = watchSocket(
      socket,
      this.o.livenessTimeoutMs,
      (silentMs) => {
        this.silentTeardowns++;
        this.log.warn({ peer: this.id, silentMs: Math.round(silentMs) }, 'peer connection silent: reconnecting');
      },
      this.o.clock ?? SYSTEM_CLOCK,
    );
    this.log.info({ peer: this.id }, 'connected to peer');
    this.scheduleFlush();
  }

  private fail(socket: net.Socket, reason: string): void {
    // While a peer stays unreachable every attempt fails the same way: say it once.
    const level = this.failures === 0 || this.refused ? 'warn' : 'debug';
    this.log[level]({ peer: this.id, address: `${this.address.host}:${this.address.port}`, reason }, 'closing connection to peer');
    socket.destroy();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const cap = this.refused ? Math.max(this.o.reconnectMaxMs, REFUSED_RECONNECT_MAX_MS) : this.o.reconnectMaxMs;
    const ceiling = Math.min(cap, this.o.reconnectBaseMs * 2 ** this.failures);
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

  /**
   * Writes queued frames, up to `FLUSH_BYTES` of them, as one corked (gathered) write, unless the
   * socket is still draining; what is left goes out in a later turn.
   */
  private flush(): void {
    if (!this.ready || this.awaitingDrain || this.queueHead === this.queue.length || this.socket === null) return;
    const socket = this.socket;
    let written = 0;
    let accepted = true;
    socket.cork();
    while (this.queueHead < this.queue.length && written < FLUSH_BYTES) {
      const frame = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = EMPTY;
      written += frame.length;
      this.queuedBytes -= frame.length;
      this.sent++;
      accepted = socket.write(frame);
    }
    socket.uncork();
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    this.liveness?.sent();
    if (!accepted) this.awaitingDrain = true;
    else if (this.queueHead < this.queue.length) this.scheduleFlush();
  }
}
