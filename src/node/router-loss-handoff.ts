// A leader duty: only the leader serves clients, so a leader that lost its Zenoh router leaves
// the clients of the other routers with no service although Raft is healthy. After a grace
// period it hands leadership to another voter (whose router is hopefully up); the cool-down
// bounds the ping-pong when every router is down. The bridge notices a lost router at once when
// the link closes and within its ping silence (0.8 s) when the link goes quiet; the grace only
// lets a session that dropped for nothing (a reconnect takes 0.1–0.3 s) come back first.

import type { LoggerPort } from '../logger-port.js';

export interface RouterLossHandoffOptions {
  /** Whether the bridge has a session with its Zenoh router. */
  routerConnected: () => boolean;
  isLeader: () => boolean;
  /** Resolves true once another voter leads. */
  transferLeadership: (timeoutMs: number) => Promise<boolean>;
  log: LoggerPort;
  now?: () => number;
  /** How long the router may be gone before the leader hands over (default 500 ms). */
  graceMs?: number;
  /** Least time between two handoffs (default 15 s). */
  cooldownMs?: number;
  /** How often `start` checks (default 100 ms). */
  checkEveryMs?: number;
}

const TRANSFER_TIMEOUT_MS = 2000;

export class RouterLossHandoff {
  private timer: NodeJS.Timeout | null = null;
  private lostSince: number | null = null;
  private lastHandoff: number | null = null;
  private readonly now: () => number;
  private readonly graceMs: number;
  private readonly cooldownMs: number;

  constructor(private readonly o: RouterLossHandoffOptions) {
    this.now = o.now ?? Date.now;
    this.graceMs = o.graceMs ?? 500;
    this.cooldownMs = o.cooldownMs ?? 15_000;
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.o.checkEveryMs ?? 100);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the router and the role; hands over when the router has been gone long enough. */
  check(): void {
    if (this.o.routerConnected() || !this.o.isLeader()) {
      this.lostSince = null;
      return;
    }
    const now = this.now();
    this.lostSince ??= now;
    if (now - this.lostSince < this.graceMs || (this.lastHandoff !== null && now - this.lastHandoff < this.cooldownMs)) return;
    this.lastHandoff = now;
    this.o.log.warn({ downMs: now - this.lostSince }, 'leader has no Zenoh router: handing leadership over');
    void this.o.transferLeadership(TRANSFER_TIMEOUT_MS).then((moved) => {
      if (!moved) this.o.log.warn({}, 'leadership handoff after router loss did not complete');
    });
  }
}
