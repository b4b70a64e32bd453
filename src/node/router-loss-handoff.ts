// A leader duty: only the leader serves clients, so a leader that lost its Zenoh router leaves
// the clients of the other routers with no service although Raft is healthy. Once the router has
// been silent for the grace period, counted from when it was last heard (not from when the loss
// was noticed, which for a silent link is the bridge's ping silence later), the leader hands
// leadership to another voter, whose router is hopefully up. It hands over once per outage: when
// every router is down, leadership then visits each node at most once instead of ping-ponging.
// The grace lets a link that dropped for nothing (a reconnect takes 0.1–0.3 s) come back first.
// It also runs from when this node became leader: a node elected soon after its own start (its
// first session still opening) or during an outage gets the grace to connect, rather than being
// made to hand over the moment it leads, which only adds leader changes.

import type { LoggerPort } from '../logger-port.js';

export interface RouterLossHandoffOptions {
  /** Since when (ms, on `now`'s clock) the router has not been heard, or null while it is up. */
  routerDownSince: () => number | null;
  isLeader: () => boolean;
  /** Resolves true once another voter leads. */
  transferLeadership: (timeoutMs: number) => Promise<boolean>;
  log: LoggerPort;
  now?: () => number;
  /** How long the router may be silent before the leader hands over (default 500 ms). */
  graceMs?: number;
  /** How often `start` checks (default 25 ms). */
  checkEveryMs?: number;
}

const TRANSFER_TIMEOUT_MS = 2000;

export class RouterLossHandoff {
  private timer: NodeJS.Timeout | null = null;
  /** The outage (its downSince) this node already handed over for. */
  private handedOverFor: number | null = null;
  /** When a check first saw this node lead (null while it does not). */
  private leaderSince: number | null = null;
  private readonly now: () => number;
  private readonly graceMs: number;

  constructor(private readonly o: RouterLossHandoffOptions) {
    this.now = o.now ?? Date.now;
    this.graceMs = o.graceMs ?? 500;
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.o.checkEveryMs ?? 25);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the router and the role; hands over when the router has been silent long enough. */
  check(): void {
    if (!this.o.isLeader()) {
      this.leaderSince = null;
      return;
    }
    const now = this.now();
    this.leaderSince ??= now;
    const since = this.o.routerDownSince();
    if (since === null || since === this.handedOverFor) return;
    const downMs = now - since;
    if (downMs < this.graceMs || now - this.leaderSince < this.graceMs) return;
    this.handedOverFor = since;
    this.o.log.warn({ downMs }, 'leader has no Zenoh router: handing leadership over');
    void this.o.transferLeadership(TRANSFER_TIMEOUT_MS).then((moved) => {
      if (moved) return;
      this.o.log.warn({}, 'leadership handoff after router loss did not complete');
      // Still this outage and still leading: the next check tries again.
      if (this.handedOverFor === since) this.handedOverFor = null;
    });
  }
}
