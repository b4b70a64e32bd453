// Opening and closing zenoh-ts sessions within bounded time. zenoh-ts's own open retries a dead
// router for minutes (10 attempts with doubling waits); we first check that the remote-api
// websocket accepts a connection, then open, and give up after `timeoutMs` either way. Also
// finds the WebSocket under an open session, which RouterConnection watches. Every session opened
// here answers queries for a queryable it has no handler for (queryable-handlers.ts).

import './websocket-polyfill.js';
import { WebSocket as NodeWebSocket } from 'ws';
import { Config, Session } from '@eclipse-zenoh/zenoh-ts';
import { answerStrayQueries } from './queryable-handlers.js';
import { errorText } from '../error-text.js';

export interface OpenOptions {
  /** Upper bound on the whole open (probe + session handshake). */
  timeoutMs: number;
  /** How long zenoh-ts waits for the router to answer one control request (declare, info...). */
  requestTimeoutMs: number;
}

/** `ws/host:port` (Zenoh locator form) or `ws://host:port` → the websocket URL. */
export function websocketUrl(routerUrl: string): string {
  const m = /^(wss?)\/(.+)$/.exec(routerUrl);
  return m ? `${m[1]}://${m[2]}` : routerUrl;
}

export class RouterUnreachableError extends Error {
  constructor(routerUrl: string, reason: string) {
    super(`Zenoh router ${routerUrl} unreachable: ${reason}`);
    this.name = 'RouterUnreachableError';
  }
}

function probe(url: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let socket: NodeWebSocket;
    try {
      socket = new NodeWebSocket(url);
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no websocket handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      socket.close();
      resolve();
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * The `ws` WebSocket an open session talks over, or null when zenoh-ts keeps it elsewhere than in
 * the version this was written for (1.10: `session.inner.link.ws`): the caller then watches the
 * session by control requests only.
 */
export function sessionSocket(session: Session): NodeWebSocket | null {
  const ws = (session as unknown as { inner?: { link?: { ws?: unknown } } }).inner?.link?.ws;
  return ws instanceof NodeWebSocket ? ws : null;
}

export async function openSession(routerUrl: string, options: OpenOptions): Promise<Session> {
  const deadline = Date.now() + options.timeoutMs;
  try {
    await probe(websocketUrl(routerUrl), options.timeoutMs);
  } catch (e) {
    throw new RouterUnreachableError(routerUrl, errorText(e));
  }
  const opening = Session.open(new Config(routerUrl, options.requestTimeoutMs));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RouterUnreachableError(routerUrl, 'session handshake timed out')),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    const session = await Promise.race([opening, timeout]);
    answerStrayQueries(session);
    return session;
  } catch (e) {
    // zenoh-ts keeps trying in the background; a session it opens after we gave up is closed at once.
    opening.then((late) => closeSession(late, 1000), () => {});
    if (e instanceof RouterUnreachableError) throw e;
    throw new RouterUnreachableError(routerUrl, errorText(e));
  } finally {
    clearTimeout(timer);
  }
}

/** Closes a session, waiting at most `timeoutMs`: closing over a dead link must not hang the caller. */
export async function closeSession(session: Session, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([session.close().catch(() => {}), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
