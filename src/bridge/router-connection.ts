// Keeps one zenoh-ts session to the router alive. zenoh-ts neither notices a dead router nor
// reconnects (its link ignores the WebSocket closing, and a request over a dead link just waits
// for its timeout), so the connection watches the session's WebSocket itself: its close (router
// killed, connection reset) ends the session at once, and a ping the router's WebSocket server
// does not answer within `silenceMs` (a link that went silent: black-holed, router frozen) ends
// it too; connections over one path may share that watch (router-link-watch.ts). A slower
// control request (session info) backs both up. A lost session's socket is
// terminated (a dead link would never complete a closing handshake), whoever listens with
// `onLost` hears of it at once (a request in flight on it will get no answer), and the session
// is reopened with short, capped exponential backoff; `onSession` redeclares everything on the
// new one. Its owner may also end a session it can no longer trust (`reopen`: a declaration on it
// failed), which is then handled as a lost one. `downSince` tells since when the router has not
// been heard, for whoever must act within a bound of the outage's start rather than of its
// detection.

import type { Session } from '@eclipse-zenoh/zenoh-ts';
import type { LoggerPort } from '../logger-port.js';
import { closeSession, openSession, sessionSocket } from './open-session.js';
import { RouterLinkWatch } from './router-link-watch.js';
import { errorText } from '../error-text.js';

export interface ReconnectOptions {
  /** A ping goes out when the router has not been heard for this long. */
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
// A ping every 100 ms of quiet costs the router a few bytes; 700 ms of silence is several missed
// pongs, so one late pong on a busy machine is not an outage.
export const DEFAULT_RECONNECT: ReconnectOptions = {
  pingIntervalMs: 100,
  silenceMs: 700,
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
  /**
   * Watches this connection's socket together with the others of the same process to the same
   * router (one path, one event loop: see router-link-watch.ts); its own tuning then applies,
   * not `reconnect`'s ping period and silence. A watch of its own otherwise.
   */
  linkWatch?: RouterLinkWatch;
}

export class RouterConnection {
  private readonly opts: RouterConnectionOptions;
  private readonly tuning: ReconnectOptions;
  private readonly linkWatch: RouterLinkWatch;
  private session: Session | null = null;
  private stopped = true;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private connectedWaiters: (() => void)[] = [];
  /** Told (once) when the current session is lost, or at stop(). */
  private lostListeners = new Set<(reason: string) => void>();
  /** When the router was last heard before the current outage (start() counts as one); null while a session is up. */
  private outageSince: number | null = null;
  /** Why the last attempt to open a session failed, for callers that give up waiting. */
  private lastFailure: string | null = null;
  /** Ends the watch of the current session (see reopen); null while none is watched. */
  private endWatch: ((reason: string) => void) | null = null;

  constructor(options: RouterConnectionOptions) {
    this.opts = options;
    this.tuning = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.linkWatch = options.linkWatch ?? new RouterLinkWatch(this.tuning);
  }

  /** Starts connecting in the background; never throws for an unreachable router. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.outageSince = Date.now();
    this.loop = this.run();
  }

  current(): Session | null {
    return this.session;
  }

  /**
   * Calls `listener` with the reason once `session` is no longer this connection's session (on the
   * next microtask when it already is not): a request in flight on it then has no way to get its
   * answer. Returns the unsubscribe, for a request that got its answer.
   */
  onLost(session: Session, listener: (reason: string) => void): () => void {
    if (session !== this.session) {
      queueMicrotask(() => listener('router link lost'));
      return () => {};
    }
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /**
   * Ends `session`, if it is still this connection's, as a lost one (with `reason`): a new one is
   * opened and `onSession` declares everything on it afresh. For a session whose declarations can
   * no longer be known: a declare that timed out on our side may still land in the router, as a
   * declaration zenoh-ts keeps no handler and no id for, so no request on that session can undo it.
   */
  reopen(session: Session, reason: string): void {
    if (session === this.session) this.endWatch?.(reason);
  }

  /** Since when (Date.now() ms) the router has not been heard, or null while a session is up. */
  downSince(): number | null {
    return this.session === null ? this.outageSince : null;
  }

  /** Why the last attempt to open a session failed (null before any failure). */
  lastOpenFailure(): string | null {
    return this.lastFailure;
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
    this.tellLost('stopped');
  }

  private tellLost(reason: string): void {
    const listeners = [...this.lostListeners];
    this.lostListeners.clear();
    for (const listener of listeners) listener(reason);
  }

  private async run(): Promise<void> {
    let backoff = this.tuning.initialBackoffMs;
    let attempt = 0;
    while (!this.stopped) {
      attempt += 1;
      const session = await this.tryOpen(attempt);
      if (session === null) {
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.tuning.maxBackoffMs);
        continue;
      }
      const downMs = Date.now() - (this.outageSince ?? Date.now());
      this.session = session;
      this.outageSince = null;
      this.opts.logger.info({ router: this.opts.routerUrl, attempts: attempt, downMs }, 'connected to Zenoh router');
      for (const resolve of this.connectedWaiters.splice(0)) resolve();
      backoff = this.tuning.initialBackoffMs;
      attempt = 0;

      const end = await this.watch(session);
      this.outageSince = end.lastHeard;
      this.session = null;
      this.tellLost(end.reason);
      this.opts.onSessionLost();
      if (this.stopped) {
        await closeSession(session, 1000);
        break;
      }
      // No closing handshake over a link that may be dead: the socket goes now, then the session
      // drops what it still holds.
      sessionSocket(session)?.terminate();
      void closeSession(session, 1000);
      this.opts.logger.warn({ router: this.opts.routerUrl, reason: end.reason, silentMs: Date.now() - end.lastHeard }, 'lost Zenoh router; reconnecting');
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
      this.lastFailure = errorText(e);
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
      this.lastFailure = `declaring on the new session failed: ${errorText(e)}`;
      this.opts.logger.warn({ router: this.opts.routerUrl, attempt, err: errorText(e) }, 'declaring on the new Zenoh session failed');
      this.opts.onSessionLost();
      sessionSocket(session)?.terminate();
      void closeSession(session, 1000);
      return null;
    }
  }

  /** Why the session ended (its WebSocket closed or went silent, a failed health check, reopen() or stop()) and when the router was last heard. */
  private async watch(session: Session): Promise<{ reason: string; lastHeard: number }> {
    const ended: Array<() => void> = [];
    /** When the link closed, if it did. */
    const closedAt = { at: null as number | null };
    try {
      const reason = await new Promise<string>((resolve) => {
        const end = (why: string) => resolve(why);
        this.endWatch = end;
        ended.push(() => (this.endWatch = null));
        this.watchSocket(session, closedAt, end, ended);
        void this.healthChecks(session, end, ended);
      });
      // A closed link is dated by its close: the last thing heard on it (a pong is at most a ping
      // period older anyway). Without a socket to watch, the loss is dated by its detection.
      const lastHeard = closedAt.at ?? (sessionSocket(session) === null ? Date.now() : this.linkWatch.lastHeard());
      return { reason, lastHeard };
    } finally {
      for (const cleanup of ended) cleanup();
    }
  }

  /** Ends the session when its WebSocket closes (dated in `closedAt`), or when its link watch hears nothing for `silenceMs`. */
  private watchSocket(session: Session, closedAt: { at: number | null }, end: (reason: string) => void, ended: Array<() => void>): void {
    const ws = sessionSocket(session);
    if (ws === null) return; // not the `ws` WebSocket (another global): the health checks alone watch
    if (ws.readyState !== ws.OPEN) {
      end('router link closed');
      return;
    }
    const closed = () => {
      closedAt.at = Date.now();
      end('router link closed');
    };
    ws.on('close', closed);
    const unwatch = this.linkWatch.watch(ws, (silentMs) => end(`no answer to pings for ${silentMs} ms`));
    ended.push(() => {
      unwatch();
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
