// Liveness of one authenticated Raft peer connection, either side. TCP alone cannot tell a quiet
// peer from an unreachable one: when a partition black-holes packets, the connection stays
// established and what was sent waits for the kernel's retransmission timer, which backs off
// exponentially; after a 30 s partition the link came back only about 25 s after the network did.
// So each side sends a PING frame whenever it has sent nothing for a third of `timeoutMs`, takes
// any bytes received as proof that the peer is alive, and tears the connection down after
// `timeoutMs` of silence; the dialer then redials at once (peer-link.ts). Pings matter because
// traffic is one-way on each connection: the dialer only sends, the listener only delivers.
//
// The clock and timers are given, so the rules can be tested without waiting.

import type { Socket } from 'node:net';
import { PING_FRAME } from './frames.js';

export interface LivenessClock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  /** Runs `fn` once the I/O already waiting has been handled (Node: setImmediate, after the poll phase). */
  afterPendingIo(fn: () => void): void;
}

export const SYSTEM_CLOCK: LivenessClock = {
  now: () => performance.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
  afterPendingIo: (fn) => void setImmediate(fn),
};

export interface LivenessHooks {
  /** Sends a PING; false when it could not be written now (the socket is backed up), to retry at the next check. */
  ping(): boolean;
  /** Nothing was heard for `silentMs` (at least the timeout): the owner closes the connection. Called once. */
  dead(silentMs: number): void;
}

/** The smallest timeout accepted: below it, ordinary scheduling jitter would look like a dead peer. */
export const MIN_LIVENESS_TIMEOUT_MS = 30;

export class LinkLiveness {
  private lastHeard: number;
  private lastSent: number;
  private readonly timer: unknown;
  private readonly pingAfterMs: number;
  private stopped = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly hooks: LivenessHooks,
    private readonly clock: LivenessClock = SYSTEM_CLOCK,
  ) {
    if (!(timeoutMs >= MIN_LIVENESS_TIMEOUT_MS)) throw new RangeError(`liveness timeout must be at least ${MIN_LIVENESS_TIMEOUT_MS} ms`);
    this.pingAfterMs = timeoutMs / 3;
    this.lastHeard = this.lastSent = clock.now();
    // Checking six times per timeout detects silence within 7/6 of the timeout.
    this.timer = clock.setInterval(() => this.check(), timeoutMs / 6);
  }

  /** Bytes arrived from the peer. */
  heard(): void {
    this.lastHeard = this.clock.now();
  }

  /** Bytes were written to the peer (a ping is then unnecessary). */
  sent(): void {
    this.lastSent = this.clock.now();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearInterval(this.timer);
  }

  private check(): void {
    if (this.stopped) return;
    if (this.clock.now() - this.lastHeard >= this.timeoutMs) {
      // After a stall of this process the timer can fire with the peer's bytes already waiting in
      // the socket, unread: look again once they have been read, so that only the peer's silence counts.
      this.clock.afterPendingIo(() => {
        const silentMs = this.clock.now() - this.lastHeard;
        if (this.stopped || silentMs < this.timeoutMs) return;
        this.stop();
        this.hooks.dead(silentMs);
      });
      return;
    }
    if (this.clock.now() - this.lastSent >= this.pingAfterMs && this.hooks.ping()) this.lastSent = this.clock.now();
  }
}

/**
 * The liveness of `socket`, either side of a peer connection: pings go out as PING frames (not
 * while the socket is backed up: a peer that stopped reading is what the silence check is for),
 * and on silence `onSilent` is told before the socket is destroyed.
 */
export function watchSocket(socket: Socket, timeoutMs: number, onSilent: (silentMs: number) => void, clock: LivenessClock = SYSTEM_CLOCK): LinkLiveness {
  return new LinkLiveness(
    timeoutMs,
    {
      ping: () => {
        if (socket.writableNeedDrain) return false;
        socket.write(PING_FRAME);
        return true;
      },
      dead: (silentMs) => {
        onSilent(silentMs);
        socket.destroy();
      },
    },
    clock,
  );
}
