// Keeps one zenoh-ts session to the router alive. zenoh-ts neither notices a dead router nor
// reconnects (its link ignores the WebSocket closing, and a request over a dead link just waits
// for its timeout), so the connection watches the session's WebSocket itself: its close (router
// killed, connection reset) ends the session at once, and a ping the router's WebSocket server
// does not answer within `silenceMs` (a link that went silent: black-holed, router frozen) ends
// it too. A slower control request (session info) backs both up. A lost session is dropped and
// reopened with short, capped exponential backoff, and `onSession` redeclares everything on the
// new one.

import type { Session } from '@eclipse-zenoh/zenoh-ts';
import type { LoggerPort } from '../logger-port.js';
import { closeSession, openSession, sessionSocket } from './open-session.js';

export interface ReconnectOptions {
  /** Time between two WebSocket pings on an open session. */
  pingIntervalMs: number;
  /** The link counts as lost after this long with neither a pong nor a message from the router. */
  silenceMs: number;
  /** Time between health checks (a control request) of an open session. */
  healthIntervalMs: number;
  /** How long the router may take to answer one control request before the link counts as lost. */
  requestTimeoutMs: number;
  /** Upper bound on one open attempt (probe + handshake). */
  openTimeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

// The node's event loop can lag a few hundred ms on a busy machine; silence is judged only after
// the loop has read what arrived meanwhile (see watchSocket), so `silenceMs` covers the router's
// own lag and the ping period, not ours.
export const DEFAULT_RECONNECT: ReconnectOptions = {
  pingIntervalMs: 250,
  silenceMs: 800,
  healthIntervalMs: 2000,
  requestTimeoutMs: 2000,
  openTimeoutMs: 3000,
  initialBackoffMs: 100,
  // A restarted router is found within this long of its start.
  maxBackoffMs: 500,
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

  /** Returns why the session ended: its WebSocket closed or went silent, a failed health check, or stop(). */
  private async watch(session: Session): Promise<string> {
    const ended: Array<() => void> = [];
    try {
      return await new Promise<string>((resolve) => {
        const end = (reason: string) => resolve(reason);
        this.watchSocket(session, end, ended);
        void this.healthChecks(session, end, ended);
      });
    } finally {
      for (const cleanup of ended) cleanup();
    }
  }

  /** Ends the session when its WebSocket closes, or answers no ping for `silenceMs`. */
  private watchSocket(session: Session, end: (reason: string) => void, ended: Array<() => void>): void {
    const ws = sessionSocket(session);
    if (ws === null) return; // not the `ws` WebSocket (another global): the health checks alone watch
    if (ws.readyState !== ws.OPEN) {
      end('router link closed');
      return;
    }
    let lastHeard = Date.now();
    const heard = () => {
      lastHeard = Date.now();
    };
    const closed = () => end('router link closed');
    ws.on('pong', heard);
    ws.on('message', heard);
    ws.on('close', closed);
    let judging: NodeJS.Immediate | null = null;
    const pinger = setInterval(() => {
      if (Date.now() - lastHeard > this.tuning.silenceMs) {
        // A lagging event loop runs its timers before reading the socket: judge after this
        // turn's I/O has been read, so our own lag never counts as the router's silence.
        judging ??= setImmediate(() => {
          judging = null;
          const silent = Date.now() - lastHeard;
          if (silent > this.tuning.silenceMs) end(`no answer to pings for ${silent} ms`);
        });
        return;
      }
      try {
        ws.ping();
      } catch {
        end('router link closed');
      }
    }, this.tuning.pingIntervalMs);
    ended.push(() => {
      clearInterval(pinger);
      if (judging !== null) clearImmediate(judging);
      ws.off('pong', heard);
      ws.off('message', heard);
      ws.off('close', closed);
    });
  }

  private async healthChecks(session: Session, end: (reason: string) => void, ended: Array<() => void>): Promise<void> {
    let over = false;
    ended.push(() => {
      over = true;
      this.wake?.();
    });
    while (!over && !this.stopped) {
      await this.sleep(this.tuning.healthIntervalMs);
      if (over || this.stopped) break;
      try {
        await session.info();
      } catch (e) {
        end(`health check failed: ${errorText(e)}`);
        return;
      }
    }
    end('stopped');
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
