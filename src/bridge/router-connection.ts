// Keeps one zenoh-ts session to the router alive. zenoh-ts neither notices a dead router nor
// reconnects, so a periodic control request (session info) serves as the health check; on its
// failure, or when opening/declaring fails, the session is dropped and reopened with bounded
// exponential backoff, and `onSession` redeclares everything on the new one.

import type { Session } from '@eclipse-zenoh/zenoh-ts';
import type { LoggerPort } from '../logger-port.js';
import { closeSession, openSession } from './open-session.js';

export interface ReconnectOptions {
  /** Time between health checks of an open session. */
  healthIntervalMs: number;
  /** How long the router may take to answer one control request before the link counts as lost. */
  requestTimeoutMs: number;
  /** Upper bound on one open attempt (probe + handshake). */
  openTimeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = {
  healthIntervalMs: 1000,
  requestTimeoutMs: 2000,
  openTimeoutMs: 5000,
  initialBackoffMs: 100,
  maxBackoffMs: 5000,
};

export interface RouterConnectionOptions {
  routerUrl: string;
  logger: LoggerPort;
  /** Declares everything on a fresh session; a rejection counts as a failed connection attempt. */
  onSession: (session: Session) => Promise<void>;
  /** The session is gone (router lost or stop): whatever was declared on it is gone too. */
  onSessionLost: () => void;
  reconnect?: Partial<ReconnectOptions>;
}

export class RouterConnection {
  private readonly opts: RouterConnectionOptions;
  private readonly tuning: ReconnectOptions;
  private session: Session | null = null;
  private stopped = true;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private connectedWaiters: (() => void)[] = [];

  constructor(options: RouterConnectionOptions) {
    this.opts = options;
    this.tuning = { ...DEFAULT_RECONNECT, ...options.reconnect };
  }

  /** Starts connecting in the background; never throws for an unreachable router. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  current(): Session | null {
    return this.session;
  }

  /** Resolves once a session is open and `onSession` has completed on it. */
  connected(): Promise<void> {
    if (this.session !== null) return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    await this.loop;
    this.loop = null;
  }

  private async run(): Promise<void> {
    let backoff = this.tuning.initialBackoffMs;
    let attempt = 0;
    let downSince = Date.now();
    while (!this.stopped) {
      attempt += 1;
      const session = await this.tryOpen(attempt);
      if (session === null) {
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.tuning.maxBackoffMs);
        continue;
      }
      this.session = session;
      this.opts.logger.info({ router: this.opts.routerUrl, attempts: attempt, downMs: Date.now() - downSince }, 'connected to Zenoh router');
      for (const resolve of this.connectedWaiters.splice(0)) resolve();
      backoff = this.tuning.initialBackoffMs;
      attempt = 0;

      const reason = await this.watch(session);
      this.session = null;
      this.opts.onSessionLost();
      await closeSession(session, 1000);
      if (this.stopped) break;
      downSince = Date.now();
      this.opts.logger.warn({ router: this.opts.routerUrl, reason }, 'lost Zenoh router; reconnecting');
    }
  }

  private async tryOpen(attempt: number): Promise<Session | null> {
    let session: Session;
    try {
      session = await openSession(this.opts.routerUrl, {
        timeoutMs: this.tuning.openTimeoutMs,
        requestTimeoutMs: this.tuning.requestTimeoutMs,
      });
    } catch (e) {
      // The first failure is worth a warning; the retries that follow are expected while the router is down.
      const log = attempt === 1 ? this.opts.logger.warn : this.opts.logger.debug;
      log.call(this.opts.logger, { router: this.opts.routerUrl, attempt, err: errorText(e) }, 'cannot open Zenoh session');
      return null;
    }
    if (this.stopped) {
      await closeSession(session, 1000);
      return null;
    }
    try {
      await this.opts.onSession(session);
      return session;
    } catch (e) {
      this.opts.logger.warn({ router: this.opts.routerUrl, attempt, err: errorText(e) }, 'declaring on the new Zenoh session failed');
      this.opts.onSessionLost();
      await closeSession(session, 1000);
      return null;
    }
  }

  /** Returns why the session ended: a failed health check, or stop(). */
  private async watch(session: Session): Promise<string> {
    while (!this.stopped) {
      await this.sleep(this.tuning.healthIntervalMs);
      if (this.stopped) break;
      try {
        await session.info();
      } catch (e) {
        return `health check failed: ${errorText(e)}`;
      }
    }
    return 'stopped';
  }

  /** A sleep that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
