// Keeps the key expression of a queryable that comes and goes (the leader's) declared on its
// session while the queryable is not, so that a query the router sends it during an undeclare
// ends at once instead of at its timeout.
//
// The router's remote-api plugin serves each of our sessions with a zenoh session of its own
// (1.10). Declaring a queryable there also declares the non-wild prefix of its key expression
// (`forge/mailbox` for `forge/mailbox/**`), counted per session, and the router names that
// declaration's id in the queries it sends the queryable. Undeclaring the last user of a prefix
// makes the session forget the id before the router hears of it, and a query the router routed
// meanwhile is dropped ("Received Query for unknown key_expr: Remote resource 11 not found") with
// no final: the router waits for one until the querier's timeout, so the GET hangs for all of it.
// With the prefix still declared, that query reaches the session, finds no queryable, and is
// ended at once (the client then sees an empty reply or the new leader's answer). Seen in the
// leader-handoff test (a status call right after the move took 5003 ms and ended in TIMEOUT):
// the ex-leader's session dropped the query the moment it undeclared its queryables.
//
// So a session that declares such a queryable also declares, for the session's life, a
// subscriber on the exact non-wild prefix: a second user of the prefix, which no undeclare of
// the queryable takes away. Nothing is published on these keys; a sample that comes is ignored.

import type { Session } from '@eclipse-zenoh/zenoh-ts';

/** The part of `keyExpr` before its first chunk holding a wildcard (zenoh's get_nonwild_prefix); null when that is the first chunk. */
export function nonWildPrefix(keyExpr: string): string | null {
  const star = keyExpr.indexOf('*');
  if (star === -1) return keyExpr;
  const slash = keyExpr.lastIndexOf('/', star);
  return slash === -1 ? null : keyExpr.slice(0, slash);
}

/**
 * Declares on `session`, for its life, what keeps each of `keyExprs`'s non-wild prefixes declared
 * (see the header). The declarations go out together, and may go beside a new session's first
 * declarations: only an undeclare needs them in place, and none comes before they are.
 */
export async function anchorKeyExprs(session: Session, keyExprs: readonly string[]): Promise<void> {
  const prefixes = new Set(keyExprs.map(nonWildPrefix).filter((p): p is string => p !== null));
  await Promise.all([...prefixes].map((prefix) => session.declareSubscriber(prefix, { handler: () => {} })));
}
