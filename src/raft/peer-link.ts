// The sending side of the Raft TCP transport towards one peer: its bounded queue, the outbound
// connection it dials (running the dialer's handshake), and the reconnect schedule. Messages are
// written in one batch per event-loop turn; the connection only sends.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { PeerAddress } from '../identifiers.js';
import type { LoggerPort } from '../logger-port.js';
import { encodeFrame, FrameDecoder, ProtocolError } from './frames.js';
import { DialerHandshake, HANDSHAKE_MAX_FRAME, NONCE_BYTES, type HandshakeIdentity } from './handshake.js';
import type { NodeId } from './types.js';

// Lets the kernel notice peers that vanished without closing (power loss, partition).
export const KEEPALIVE_MS = 10_000;

export interface PeerLinkOptions extends HandshakeIdentity {
  handshakeTimeoutMs: number;
  /** First reconnect delay; doubles per failure up to `reconnectMaxMs`, with jitter. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

export class PeerLink {
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
    const socket = net.connect({ host: this.address.host, port: this.address.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
    const handshake = new DialerHandshake(this.o, this.id, randomBytes(NONCE_BYTES));
    const deadline = setTimeout(() => this.fail(socket, 'handshake timed out'), this.o.handshakeTimeoutMs);

    socket.on('connect', () => {
      const hello = handshake.hello();
      socket.write(encodeFrame(hello.kind, hello.body));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
        for (let f = decoder.next(); f !== null && !socket.destroyed; f = decoder.next()) {
          const reply = handshake.receive(f.kind, f.body);
          if (reply !== null) socket.write(encodeFrame(reply.kind, reply.body));
          if (handshake.done) {
            clearTimeout(deadline);
            this.ready = true;
            this.failures = 0;
            this.log.info({ peer: this.id }, 'connected to peer');
            this.scheduleFlush();
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
    this.log.warn({ peer: this.id, address: `${this.address.host}:${this.address.port}`, reason }, 'closing connection to peer');
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
