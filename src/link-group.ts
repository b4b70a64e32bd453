// Which WebSockets one process opened. A node keeps many WebSockets to its router through the
// link guard: the bridge's session and its 16 wait lanes. They live and freeze together (one event
// loop) and share one path, so one liveness check per process tells as much as one per socket.
// Checked per socket, 17 sockets per node pinged every 100 ms from both ends cost an idle
// three-node cluster about a quarter of a core (1,020 pings and pongs a second through the guard).
//
// Each process names itself with a random id, sent in a header of every WebSocket upgrade it makes
// (websocket-polyfill.ts); the guard watches the sockets that carry the same id as one. The guard
// listens only on a private address, for the nodes; a socket that carries no id, or a malformed
// one, is watched alone, as before.

import { randomUUID } from 'node:crypto';

/** The upgrade request header that carries the process's link group. */
export const LINK_GROUP_HEADER = 'x-forge-link-group';

/** This process's link group: random, so that no two processes share one by chance. */
export const PROCESS_LINK_GROUP = randomUUID();

const GROUP_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

/** The link group a request header names, or null when it names none or a malformed one. */
export function linkGroupOf(header: string | string[] | undefined): string | null {
  return typeof header === 'string' && GROUP_PATTERN.test(header) ? header : null;
}
