// The syntax of every identifier and address the layers exchange, in one place: user ids (mailbox
// names), client tokens (message ids, request ids, receipts), node ids and Raft peer addresses.
// A leaf module: the configuration, the mailbox, the bridge, the node and the CLI all check
// against these, so a value one layer accepts is never refused by the next.

/** A Raft member's address, as configured and as kept in the replicated peer directory. */
export interface PeerAddress {
  host: string;
  port: number;
}

/** Node ids everywhere (configuration, peer directory, admin requests, transport handshake). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** Peer hosts: host names, IPv4 and IPv6 literals; nothing that could split a selector or a URL. */
export const PEER_HOST_PATTERN = /^[A-Za-z0-9._:-]{1,253}$/;

export const MAX_USER_LENGTH = 128;
/** One Zenoh key chunk with no wildcard (`*`, `$*`), verbatim-chunk (`@`) or path meaning. */
const USER_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

export const MAX_TOKEN_LENGTH = 128;
/** Message ids, request ids and receipts on the key space: printable ASCII without separators or spaces. */
const TOKEN_PATTERN = /^[A-Za-z0-9._:@+=\/-]{1,128}$/;

/** Principals (a capability token's holder); they scope put-id and request-id dedupe, so no separators. */
export const PRINCIPAL_PATTERN = /^[A-Za-z0-9._@:-]{1,64}$/;

/** User ids: 1..128 of [A-Za-z0-9._-], and not `.` or `..`. */
export function isValidUser(user: unknown): user is string {
  return typeof user === 'string' && USER_PATTERN.test(user) && user !== '.' && user !== '..';
}

export function isValidNodeId(node: string): boolean {
  return NODE_ID_PATTERN.test(node);
}

export function isValidHost(host: string): boolean {
  return PEER_HOST_PATTERN.test(host);
}

export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** Ids, request ids and receipts as the key space accepts them (clients check before sending). */
export function isValidToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}
