// What we do around the gaps of zenoh-ts's per-session map of queryable handlers (1.10:
// `session.inner.queryables`, queryable id → handler). A query the router sends for an id the map
// does not hold is dropped by zenoh-ts ("Received query for inexistant queryable") with no reply
// and no final, so the client's GET waits for its whole timeout. Both ends of a queryable's life
// open such a window:
//
// - Declaring: zenoh-ts puts the handler in the map only once the router acknowledged the
//   declaration, but the router routes queries to the queryable as soon as it processed it, and
//   the remote-api plugin forwards them from a task of their own: a query can arrive first. In CI
//   (a new leader declaring its queryables while clients retried) the first requests to the new
//   leader hung their full 6 s.
// - Undeclaring: zenoh-ts forgets the handler first and tells the router afterwards, and the
//   router can still send a query it had in hand after acknowledging the undeclare.
//
// So every session the bridge opens answers a query for an id it has no handler for at once, with
// NOT_LEADER (nothing was run: the client retries), and an undeclared queryable keeps answering
// for LATE_QUERY_GRACE_MS after the undeclare (NOT_LEADER too, from an ex-leader). Both reach into
// zenoh-ts's internals and fall back to its own behaviour if they are laid out otherwise. (A query
// dropped below zenoh-ts, by the router's session for us as a queryable goes, is key-expr-anchors.ts's.)

import type { Query, Queryable, Session } from '@eclipse-zenoh/zenoh-ts';
import { encodeError } from './reply-format.js';

/** How long an undeclared queryable still answers queries the router sent it (see undeclareAnswering). */
export const LATE_QUERY_GRACE_MS = 2000;

/** What the map holds for an id: zenoh-ts calls `callback` for each query, `drop` when the queryable goes. */
interface Handler {
  callback(query: Query): void;
  drop(): void;
}

/** The refusal a query for no handler gets. */
export const STRAY_QUERY_MESSAGE = 'this node had no handler for the query (its queryable was being declared or undeclared): nothing was done, retry';

async function refuse(query: Query): Promise<void> {
  try {
    await query.replyErr(encodeError({ code: 'NOT_LEADER', message: STRAY_QUERY_MESSAGE }));
    await query.finalize();
  } catch {
    // The router is gone: the client's session is, too.
  }
}

const strayHandler: Handler = { callback: (query) => void refuse(query), drop: () => {} };

/**
 * Makes `session` answer a query for a queryable id it has no handler for, instead of dropping it.
 * Returns false (and changes nothing) if zenoh-ts keeps its handlers elsewhere.
 */
export function answerStrayQueries(session: Session): boolean {
  const handlers = (session as unknown as { inner?: { queryables?: unknown } }).inner?.queryables;
  if (!(handlers instanceof Map)) return false;
  const map = handlers as Map<unknown, Handler>;
  const get = map.get.bind(map);
  // zenoh-ts looks a handler up by get() to dispatch a query (and to drop one at undeclare, where
  // the id is always there); has() still tells whether an id holds one.
  map.get = (id: unknown) => get(id) ?? strayHandler;
  return true;
}

/**
 * Undeclares a queryable while still answering, for LATE_QUERY_GRACE_MS, the queries the router
 * sends it. Falls back to the plain undeclare if zenoh-ts keeps its handlers elsewhere.
 */
export async function undeclareAnswering(queryable: Queryable): Promise<void> {
  const internals = queryable as unknown as { id?: unknown; session?: { queryables?: unknown } };
  const handlers = internals.session?.queryables;
  const id = internals.id;
  const handler = handlers instanceof Map && handlers.has(id) ? (handlers.get(id) as unknown) : undefined;
  const undeclared = queryable.undeclare(); // forgets the handler synchronously, then asks the router
  if (!(handlers instanceof Map) || handler === undefined) return undeclared;
  handlers.set(id, handler);
  try {
    await undeclared;
  } finally {
    // Queryable ids are never reused by a session, so a later declaration is not affected.
    setTimeout(() => handlers.delete(id), LATE_QUERY_GRACE_MS).unref();
  }
}
