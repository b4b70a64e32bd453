// The Zenoh key space of Forge Mailbox, and the parser that turns a key + selector parameters
// (+ payload) into a typed request or a typed error. Pure: no Zenoh, no I/O.
//
// Key space (prefix `forge/mailbox`, configurable):
//
//   GET <prefix>/<user>                  consume the next message (same as /consume)
//   GET <prefix>/<user>/put              enqueue the query payload; params: id, ttl (ms),
//                                        delay (ms: invisible until then; the mailbox caps it)
//   GET <prefix>/<user>/consume          params: rid (request id: a retry returns the same result),
//                                        lease (ms: at-least-once, must be acked), dlq,
//                                        wait (ms, long poll: wait up to that long for a message),
//                                        max (1..maxBatch: take up to that many in one log entry,
//                                        one reply per message in order, or one `empty`)
//   GET <prefix>/<user>/put-batch        enqueue the messages of the payload (batch-framing.ts), all
//                                        or none, in one log entry: one reply per message in order
//   GET <prefix>/@puts                   enqueue the messages of the payload (batch-framing.ts), each
//                                        to its own user and a put of its own, checked and authorized
//                                        one by one: one reply for them all, each put or its refusal
//   GET <prefix>/@consumes               consume for each user of the payload (batch-framing.ts), each a
//                                        consume of its own (rid, lease, dlq: no wait, no max),
//                                        checked and authorized one by one: one reply for them all
//   GET <prefix>/<user>/peek             look at the head without taking it; params: dlq
//   GET <prefix>/<user>/len              mailbox statistics (count, bytes, oldest age, in flight, dead letters)
//   GET <prefix>/<user>/ack              params: receipt (required)
//   GET <prefix>/<user>/nack             params: receipt (required): the message goes back to the head;
//                                        delay (ms, 0 = at once: visible again after it; absent: the
//                                        mailbox's default backoff, if configured)
//   GET <prefix>/<user>/touch            params: receipt, lease (ms), both required: the lease now
//                                        ends `lease` ms from now; the receipt stays valid
//   GET <prefix>/<user>/redrive          move dead letters back to the mailbox in seq order, their
//                                        delivery count reset; params: max (at most that many)
//   GET <prefix>/<user>/purge            drop every queued message; params: dlq
//   GET <prefix>/@wait/<lane>/<user>     the same consume, on one of WAIT_LANES lanes (0..15): where
//                                        long polls go (see WAIT_LANES); params as consume
//   GET <prefix>/@cluster/status         cluster status JSON (answered by the leader)
//   GET <prefix>/@cluster/node/<id>/status  one node's status JSON (answered by every node, leader or not)
//   GET <prefix>/@cluster/admin/add-node  params: node, host, port (the new node's Raft address),
//                                        wait (ms, optional: how long it may take to catch up
//                                        before it is promoted to voter); answered by the leader
//   GET <prefix>/@cluster/admin/remove-node  params: node; answered by the leader
//   GET <prefix>/@cluster/admin/set-quotas  params: maxMessages, maxBytes, maxMailboxes, maxPutIds,
//                                        maxConsumeResults (any of them; the cluster quotas,
//                                        committed through the log)
//   PUT <prefix>/<user>                  fire-and-forget enqueue of the sample payload; the optional
//                                        attachment is a UTF-8 JSON object {"id"?: string, "ttl"?: ms}
//                                        (a PUT key cannot carry selector parameters)
//
// `dlq` (dead-letter mailbox) is a flag parameter: `dlq`, `dlq=1` or `dlq=true`.
// Parameters are `name=value` pairs separated by `;` (Zenoh's separator) or `&`. Names starting
// with `_` are reserved by Zenoh and ignored; any other unknown or repeated name is BAD_REQUEST.
// User ids: 1..128 characters of [A-Za-z0-9._-], not `.` or `..`; this also rules out Zenoh
// wildcards (`*`, `**`, `$*`) and the `@` of verbatim chunks, so a wildcard GET never reaches a
// mailbox. Message ids must not start with `@` (the state machine reserves those for ids it derives).
// These checks are made here, before anything is proposed, so bad input never reaches the log.

import { isValidHost, isValidNodeId, isValidToken, isValidUser, MAX_TOKEN_LENGTH, MAX_USER_LENGTH } from '../identifiers.js';
import type { BatchPutItem, ConsumeCommand, MailboxCommand, MailboxQuery, PutCommand, SetQuotasCommand } from '../mailbox/commands.js';
import { WireError } from '../wire/wire-error.js';
import { decodeBatchPut, decodeConsumes, decodePuts } from './batch-framing.js';
import { QUOTA_NAMES, quotaProblem } from '../mailbox/quotas.js';
import type { AdminOp } from './cluster-admin.js';
import type { Access } from '../auth/capability.js';
import type { BridgeErrorCode } from './reply-format.js';

export interface KeySpaceLimits {
  /** Largest message body accepted, in bytes. */
  maxBodyBytes: number;
  /** Longest `wait` of a long-poll consume (DEFAULT_MAX_CONSUME_WAIT_MS when absent; 0: no long polls). */
  maxConsumeWaitMs?: number;
  /** Most messages of a batch (consume max, batch put count): mailbox.maxBatch (DEFAULT_MAX_BATCH when absent). */
  maxBatch?: number;
}

/** The mailbox's default maxBatch (src/mailbox/options.ts). */
export const DEFAULT_MAX_BATCH = 256;

/** Longest long-poll wait by default: SQS's ReceiveMessage caps WaitTimeSeconds at 20 s too. */
export const DEFAULT_MAX_CONSUME_WAIT_MS = 20_000;
/** What mailbox.maxConsumeWaitMs may be set to at most: a minute; a client that wants longer polls again. */
export const MAX_CONSUME_WAIT_CEILING_MS = 60_000;
/**
 * Wait lanes. The router's remote-api plugin (1.10.1) keeps the unanswered queries of one WebSocket
 * session in an LRU of 1000 (MAX_NUM_PENDING_QUERIES) and drops the oldest beyond it: its client
 * gets the end of the query with no reply, and the node's later reply goes nowhere (a message a
 * woken consumer took for it would be lost). The router that scripts/zenoh-router/build.sh
 * makes keeps 16384, but a router from elsewhere keeps 1000, so the bounds here hold under 1000
 * per session and long polls must be spread over sessions. The leader opens one more session per
 * lane and declares `<prefix>/@wait/<lane>/*` on it; clients
 * send a long poll to a lane of their choosing (the TypeScript client picks one at random), so
 * each session holds a share. The keys are disjoint: a query reaches one queryable whatever its
 * target, as one consume must.
 */
export const WAIT_LANES = 16;
/** Unanswered queries a leader lets one wait lane's session hold (under the plugin's 1000); BUSY beyond. */
export const MAX_WAITING_PER_LANE = 900;
/**
 * Long polls sent to the plain consume key (`<prefix>/<user>/consume?wait=`) a leader holds at
 * once, BUSY beyond: they share the main session with every other request in flight.
 */
export const MAX_WAITING_ON_MAIN_SESSION = 128;
/** Long-poll consumes a leader holds by default: every lane full, and the main session's share. */
export const DEFAULT_MAX_PARKED_CONSUMERS = WAIT_LANES * MAX_WAITING_PER_LANE + MAX_WAITING_ON_MAIN_SESSION;
/** The most zenoh.maxParkedConsumers may be set to (see DEFAULT_MAX_PARKED_CONSUMERS for why it is that low by default). */
export const PARKED_CONSUMERS_CEILING = 1_000_000;

export const DEFAULT_KEY_PREFIX = 'forge/mailbox';
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/**
 * Requests a bridge works on at once before it answers BUSY (zenoh-bridge.ts). Below the published
 * remote-api bound of 1000 unanswered queries per session (see WAIT_LANES), with room for the
 * MAX_WAITING_ON_MAIN_SESSION long polls the main session also holds: past that bound the plugin
 * drops the oldest query, whose client then sees no reply at all, where BUSY says "retry". At the
 * largest body each, 768 MiB of payloads; the end-to-end benchmark's 256 in flight stay inside.
 */
export const DEFAULT_MAX_INFLIGHT_REQUESTS = 768;

const MAX_PARAMETERS_LENGTH = 2048;
/**
 * Request attachments are a UTF-8 JSON object: `token` (the capability token) on every request,
 * plus `id` and `ttl` on a PUT sample. Large enough for a token naming a few hundred mailboxes.
 */
const MAX_REQUEST_ATTACHMENT_BYTES = 16 * 1024;
/** One year: a longer TTL is almost certainly a unit mistake (seconds vs ms). */
const MAX_TTL_MS = 365 * 24 * 3600 * 1000;
/** One day: a lease is a processing deadline, not storage. */
const MAX_LEASE_MS = 24 * 3600 * 1000;
/** Ceiling of a put's or a nack's delay here; the mailbox's maxDelayMs (15 min by default) is the real cap. */
const MAX_DELAY_MS = 24 * 3600 * 1000;
/** How long add-node waits for the new node to catch up, unless the request says otherwise. */
export const DEFAULT_CATCH_UP_MS = 30_000;
/** One hour: enough to copy a very large state; beyond that something else is wrong. */
export const MAX_CATCH_UP_MS = 3600 * 1000;

export type BridgeRequest =
  /** `waitMs` (long-poll consume) only on a consume that asked to wait. */
  | { kind: 'command'; command: MailboxCommand; waitMs?: number }
  | { kind: 'query'; query: MailboxQuery }
  /** Many puts (`@puts`): each message a put of its own, or the reason it is refused (in order). */
  | { kind: 'puts'; puts: Parsed<PutCommand>[] }
  /** Many consumes (`@consumes`): each a consume of its own, or the reason it is refused (in order). */
  | { kind: 'consumes'; consumes: Parsed<ConsumeCommand>[] }
  | { kind: 'clusterStatus' }
  | { kind: 'admin'; op: AdminOp };

export interface KeySpaceError {
  code: BridgeErrorCode;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: KeySpaceError };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (code: BridgeErrorCode, message: string): Parsed<never> => ({ ok: false, error: { code, message } });

export const clusterStatusKey = (prefix: string): string => `${prefix}/@cluster/status`;
export const nodeStatusKey = (prefix: string, nodeId: string): string => `${prefix}/@cluster/node/${nodeId}/status`;
export type AdminKeyOp = 'add-node' | 'remove-node' | 'set-quotas';
export const adminKey = (prefix: string, op: AdminKeyOp): string => `${prefix}/@cluster/admin/${op}`;
/** What the leader declares for the admin operations. */
export const adminKeyExpr = (prefix: string): string => `${prefix}/@cluster/admin/*`;
/** Where many puts to any mailboxes go in one query (and what the leader declares for them). */
export const putsKey = (prefix: string): string => `${prefix}/@puts`;
/** Where many consumes from any mailboxes go in one query (and what the leader declares for them). */
export const consumesKey = (prefix: string): string => `${prefix}/@consumes`;
/** What the leader declares for mailbox operations; `**` never matches the verbatim `@cluster` chunk. */
export const mailboxKeyExpr = (prefix: string): string => `${prefix}/**`;
/** Where a client sends a long poll on `lane` (0..WAIT_LANES-1). */
export const waitLaneKey = (prefix: string, lane: number, user: string): string => `${prefix}/@wait/${lane}/${user}`;
/** What the leader declares on the session of wait lane `lane`. */
export const waitLaneKeyExpr = (prefix: string, lane: number): string => `${prefix}/@wait/${lane}/*`;

/** Parses a GET on the mailbox key space (the leader's queryables). */
export function parseGet(
  prefix: string,
  key: string,
  parameters: string,
  payload: Uint8Array | undefined,
  limits: KeySpaceLimits,
): Parsed<BridgeRequest> {
  const rest = stripPrefix(prefix, key);
  if (rest === null) return fail('BAD_REQUEST', `key ${JSON.stringify(truncate(key))} is outside ${prefix}/`);
  const params = parseParameters(parameters);
  if (!params.ok) return params;
  const p = params.value;

  if (rest === '@cluster/status') {
    const unknown = checkNames(p, []);
    return unknown.ok ? ok({ kind: 'clusterStatus' }) : unknown;
  }
  if (rest.startsWith('@cluster/admin/')) return parseAdmin(rest.slice('@cluster/admin/'.length), p);
  if (rest === '@puts') {
    const unknown = checkNames(p, []);
    return unknown.ok ? parsePuts(payload ?? new Uint8Array(0), limits) : unknown;
  }
  if (rest === '@consumes') {
    const unknown = checkNames(p, []);
    return unknown.ok ? parseConsumes(payload ?? new Uint8Array(0)) : unknown;
  }

  let lane = false;
  let path = rest;
  if (rest.startsWith('@wait/')) {
    const m = /^@wait\/(0|[1-9][0-9]?)\/([^/]*)$/.exec(rest);
    if (m === null || Number(m[1]) >= WAIT_LANES) {
      return fail('BAD_REQUEST', `long polls go to ${prefix}/@wait/<lane>/<user>, lane 0..${WAIT_LANES - 1}`);
    }
    lane = true;
    path = m[2]!;
  }
  const slash = path.indexOf('/');
  const user = slash < 0 ? path : path.slice(0, slash);
  const op = lane ? 'consume' : slash < 0 ? 'consume' : path.slice(slash + 1);
  if (!isValidUser(user)) return badUser(user);

  switch (op) {
    case 'put': {
      const checked = checkNames(p, ['id', 'ttl', 'delay']);
      if (!checked.ok) return checked;
      const body = payload ?? new Uint8Array(0);
      if (body.length > limits.maxBodyBytes) return tooLarge(body.length, limits);
      const put = buildPut(user, body, p.get('id'), p.get('ttl'));
      if (!put.ok) return put;
      const delay = p.get('delay');
      if (delay !== undefined) {
        const ms = positiveMs('delay', delay, MAX_DELAY_MS);
        if (!ms.ok) return ms;
        put.value.delayMs = ms.value;
      }
      return ok({ kind: 'command', command: put.value });
    }
    case 'put-batch': {
      const checked = checkNames(p, []);
      if (!checked.ok) return checked;
      return parsePutBatch(user, payload ?? new Uint8Array(0), limits);
    }
    case 'consume': {
      const checked = checkNames(p, ['rid', 'lease', 'dlq', 'wait', 'max']);
      if (!checked.ok) return checked;
      const command: MailboxCommand = { op: 'consume', user };
      const max = p.get('max');
      if (max !== undefined) {
        const limit = limits.maxBatch ?? DEFAULT_MAX_BATCH;
        const n = /^[0-9]{1,5}$/.test(max) ? Number(max) : NaN;
        if (!(n >= 1 && n <= limit)) return fail('BAD_REQUEST', `max must be a whole number from 1 to ${limit} (mailbox.maxBatch)`);
        command.max = n;
      }
      const wait = waitParam(p.get('wait'), limits.maxConsumeWaitMs ?? DEFAULT_MAX_CONSUME_WAIT_MS);
      if (!wait.ok) return wait;
      const rid = p.get('rid');
      if (rid !== undefined) {
        const t = token('rid', rid);
        if (!t.ok) return t;
        command.requestId = t.value;
      }
      const lease = p.get('lease');
      if (lease !== undefined) {
        const ms = positiveMs('lease', lease, MAX_LEASE_MS);
        if (!ms.ok) return ms;
        command.leaseMs = ms.value;
      }
      const dlq = flag('dlq', p.get('dlq'));
      if (!dlq.ok) return dlq;
      if (dlq.value) command.deadLetter = true;
      if (wait.value === 0) return ok({ kind: 'command', command });
      if (dlq.value) return fail('BAD_REQUEST', 'wait is not offered on the dead-letter mailbox (dlq): nothing is put there');
      return ok({ kind: 'command', command, waitMs: wait.value });
    }
    case 'peek': {
      const checked = checkNames(p, ['dlq']);
      if (!checked.ok) return checked;
      const dlq = flag('dlq', p.get('dlq'));
      if (!dlq.ok) return dlq;
      const query: MailboxQuery = dlq.value ? { op: 'peek', user, deadLetter: true } : { op: 'peek', user };
      return ok({ kind: 'query', query });
    }
    case 'len': {
      const checked = checkNames(p, []);
      return checked.ok ? ok({ kind: 'query', query: { op: 'len', user } }) : checked;
    }
    case 'ack':
    case 'nack':
    case 'touch': {
      const checked = checkNames(p, op === 'ack' ? ['receipt'] : op === 'nack' ? ['receipt', 'delay'] : ['receipt', 'lease']);
      if (!checked.ok) return checked;
      const receipt = p.get('receipt');
      if (receipt === undefined) return fail('BAD_REQUEST', `${op} needs a receipt parameter`);
      const t = token('receipt', receipt);
      if (!t.ok) return t;
      if (op === 'ack') return ok({ kind: 'command', command: { op, user, receipt: t.value } });
      if (op === 'touch') {
        const lease = p.get('lease');
        if (lease === undefined) return fail('BAD_REQUEST', 'touch needs a lease parameter (ms)');
        const ms = positiveMs('lease', lease, MAX_LEASE_MS);
        return ms.ok ? ok({ kind: 'command', command: { op, user, receipt: t.value, leaseMs: ms.value } }) : ms;
      }
      const delay = p.get('delay');
      if (delay === undefined) return ok({ kind: 'command', command: { op, user, receipt: t.value } });
      const ms = delay === '0' ? ok(0) : positiveMs('delay', delay, MAX_DELAY_MS);
      return ms.ok ? ok({ kind: 'command', command: { op, user, receipt: t.value, delayMs: ms.value } }) : ms;
    }
    case 'redrive': {
      const checked = checkNames(p, ['max']);
      if (!checked.ok) return checked;
      const max = p.get('max');
      if (max === undefined) return ok({ kind: 'command', command: { op: 'redrive', user } });
      if (!/^[0-9]{1,15}$/.test(max) || Number(max) < 1) return fail('BAD_REQUEST', 'max must be a positive whole number');
      return ok({ kind: 'command', command: { op: 'redrive', user, max: Number(max) } });
    }
    case 'purge': {
      const checked = checkNames(p, ['dlq']);
      if (!checked.ok) return checked;
      const dlq = flag('dlq', p.get('dlq'));
      if (!dlq.ok) return dlq;
      const command: MailboxCommand = dlq.value ? { op: 'purge', user, deadLetter: true } : { op: 'purge', user };
      return ok({ kind: 'command', command });
    }
    default:
      return fail('UNKNOWN_OP', `unknown operation ${JSON.stringify(truncate(op))}`);
  }
}

/** A batch put: the payload's framing decoded, each message checked like a single put's. */
function parsePutBatch(user: string, payload: Uint8Array, limits: KeySpaceLimits): Parsed<BridgeRequest> {
  let framed;
  try {
    framed = decodeBatchPut(payload, limits.maxBatch ?? DEFAULT_MAX_BATCH, limits.maxBodyBytes);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    if (e.code === 'TOO_LARGE') return fail('TOO_LARGE', `batch put: ${e.message} (the bodies together at most ${limits.maxBodyBytes} bytes)`);
    return fail('BAD_REQUEST', `batch put payload: ${e.message} (see the README, Key space)`);
  }
  const messages: BatchPutItem[] = [];
  for (const [i, m] of framed.entries()) {
    const put = buildPut(user, m.body, m.id, m.ttlMs === undefined ? undefined : String(m.ttlMs));
    if (!put.ok) return fail(put.error.code, `message ${i}: ${put.error.message}`);
    const item: BatchPutItem = { body: put.value.body };
    if (put.value.id !== undefined) item.id = put.value.id;
    if (put.value.ttlMs !== undefined) item.ttlMs = put.value.ttlMs;
    messages.push(item);
  }
  return ok({ kind: 'command', command: { op: 'putBatch', user, messages } });
}

/**
 * Many puts: the payload's framing decoded (a bad framing refuses the request), then each message
 * checked like a single put's, its refusal its own: one bad message does not refuse the others.
 */
function parsePuts(payload: Uint8Array, limits: KeySpaceLimits): Parsed<BridgeRequest> {
  let framed;
  try {
    framed = decodePuts(payload, limits.maxBodyBytes);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    if (e.code === 'TOO_LARGE') return fail('TOO_LARGE', `@puts: ${e.message} (the bodies together at most ${limits.maxBodyBytes} bytes)`);
    return fail('BAD_REQUEST', `@puts payload: ${e.message} (see the README, Key space)`);
  }
  const puts = framed.map((m): Parsed<PutCommand> => {
    if (!isValidUser(m.user)) return badUser(m.user);
    const put = buildPut(m.user, m.body, m.id, m.ttlMs === undefined ? undefined : String(m.ttlMs));
    if (!put.ok || m.delayMs === undefined) return put;
    const ms = positiveMs('delay', String(m.delayMs), MAX_DELAY_MS);
    if (!ms.ok) return ms;
    put.value.delayMs = ms.value;
    return put;
  });
  return ok({ kind: 'puts', puts });
}

/** Many consumes: the payload's framing decoded (a bad framing refuses the request), then each checked like a single consume's parameters. */
function parseConsumes(payload: Uint8Array): Parsed<BridgeRequest> {
  let framed;
  try {
    framed = decodeConsumes(payload);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    return fail('BAD_REQUEST', `@consumes payload: ${e.message} (see the README, Key space)`);
  }
  const consumes = framed.map((c): Parsed<ConsumeCommand> => {
    if (!isValidUser(c.user)) return badUser(c.user);
    const command: ConsumeCommand = { op: 'consume', user: c.user };
    if (c.requestId !== undefined) {
      const t = token('rid', c.requestId);
      if (!t.ok) return t;
      command.requestId = t.value;
    }
    if (c.leaseMs !== undefined) {
      const ms = positiveMs('lease', String(c.leaseMs), MAX_LEASE_MS);
      if (!ms.ok) return ms;
      command.leaseMs = ms.value;
    }
    if (c.deadLetter) command.deadLetter = true;
    return ok(command);
  });
  return ok({ kind: 'consumes', consumes });
}

function parseAdmin(op: string, p: Map<string, string>): Parsed<BridgeRequest> {
  switch (op) {
    case 'add-node': {
      const checked = checkNames(p, ['node', 'host', 'port', 'wait']);
      if (!checked.ok) return checked;
      const node = nodeParam(p.get('node'));
      if (!node.ok) return node;
      const host = p.get('host');
      if (host === undefined || !isValidHost(host)) {
        return fail('BAD_REQUEST', 'add-node needs host: 1..253 characters of [A-Za-z0-9._:-]');
      }
      const port = p.get('port');
      if (port === undefined || !/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
        return fail('BAD_REQUEST', 'add-node needs port: 1..65535');
      }
      const wait = p.get('wait');
      let catchUpMs = DEFAULT_CATCH_UP_MS;
      if (wait !== undefined) {
        const ms = positiveMs('wait', wait, MAX_CATCH_UP_MS);
        if (!ms.ok) return ms;
        catchUpMs = ms.value;
      }
      return ok({ kind: 'admin', op: { op: 'addNode', node: node.value, host, port: Number(port), catchUpMs } });
    }
    case 'remove-node': {
      const checked = checkNames(p, ['node']);
      if (!checked.ok) return checked;
      const node = nodeParam(p.get('node'));
      return node.ok ? ok({ kind: 'admin', op: { op: 'removeNode', node: node.value } }) : node;
    }
    case 'set-quotas': {
      const checked = checkNames(p, QUOTA_NAMES);
      if (!checked.ok) return checked;
      const command: SetQuotasCommand = { op: 'setQuotas' };
      for (const name of QUOTA_NAMES) {
        const value = p.get(name);
        if (value === undefined) continue;
        const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : NaN;
        const problem = quotaProblem(name, n);
        if (problem !== null) return fail('BAD_REQUEST', problem);
        command[name] = n;
      }
      return ok({ kind: 'command', command });
    }
    default:
      return fail('UNKNOWN_OP', `unknown admin operation ${JSON.stringify(truncate(op))}`);
  }
}

/** The refusal of a user id that isValidUser turns down. */
function badUser(user: string): Parsed<never> {
  return fail('BAD_USER', `invalid user id ${JSON.stringify(truncate(user))}: 1..${MAX_USER_LENGTH} of [A-Za-z0-9._-], not . or ..`);
}

function nodeParam(node: string | undefined): Parsed<string> {
  if (node === undefined || !isValidNodeId(node)) return fail('BAD_REQUEST', 'node must be 1-32 letters, digits, "_" or "-"');
  return ok(node);
}

/** Parses a plain Zenoh PUT on `<prefix>/<user>` (fire-and-forget enqueue). */
export function parsePut(
  prefix: string,
  key: string,
  payload: Uint8Array,
  attachment: Uint8Array | undefined,
  limits: KeySpaceLimits,
): Parsed<{ command: PutCommand; token?: string }> {
  const rest = stripPrefix(prefix, key);
  if (rest === null) return fail('BAD_REQUEST', `key ${JSON.stringify(truncate(key))} is outside ${prefix}/`);
  if (rest.includes('/')) return fail('UNKNOWN_OP', `PUT is only accepted on ${prefix}/<user>`);
  if (!isValidUser(rest)) return badUser(rest);
  if (payload.length > limits.maxBodyBytes) return tooLarge(payload.length, limits);
  const options = parseAttachment(attachment, 'put');
  if (!options.ok) return options;
  const put = buildPut(rest, payload, options.value.id, options.value.ttl);
  if (!put.ok) return put;
  return ok(options.value.token === undefined ? { command: put.value } : { command: put.value, token: options.value.token });
}

/** What a request's attachment carries: the token always may; `id` and `ttl` only on a PUT sample. */
export interface RequestAttachment {
  token?: string;
  id?: string;
  ttl?: string;
}

/**
 * Parses a request attachment (absent or empty means no fields). The token is only extracted
 * here, never checked: that is the verifier's job, and nothing here quotes it in an error.
 */
export function parseAttachment(bytes: Uint8Array | undefined, kind: 'query' | 'put'): Parsed<RequestAttachment> {
  if (bytes === undefined || bytes.length === 0) return ok({});
  const fields = kind === 'put' ? '{"token"?, "id"?, "ttl"?}' : '{"token"?}';
  if (bytes.length > MAX_REQUEST_ATTACHMENT_BYTES) return fail('BAD_REQUEST', `attachment over ${MAX_REQUEST_ATTACHMENT_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return fail('BAD_REQUEST', `the attachment must be a UTF-8 JSON object ${fields}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('BAD_REQUEST', `the attachment must be a JSON object ${fields}`);
  }
  const out: RequestAttachment = {};
  for (const [name, v] of Object.entries(value)) {
    if (name === 'token') {
      if (typeof v !== 'string') return fail('BAD_REQUEST', 'attachment "token" must be a string');
      out.token = v;
    } else if (name === 'id' && kind === 'put') {
      if (typeof v !== 'string') return fail('BAD_REQUEST', 'attachment "id" must be a string');
      out.id = v;
    } else if (name === 'ttl' && kind === 'put') {
      if (typeof v !== 'number') return fail('BAD_REQUEST', 'attachment "ttl" must be a number of ms');
      out.ttl = String(v);
    } else {
      return fail('BAD_REQUEST', `unknown attachment field ${JSON.stringify(truncate(name))} (expected ${fields})`);
    }
  }
  return ok(out);
}

/** The operation and mailbox a parsed request needs its token to grant. */
export function accessOf(request: BridgeRequest): Access {
  switch (request.kind) {
    case 'clusterStatus':
      return { op: 'status', user: null };
    case 'admin':
      return { op: 'admin', user: null };
    case 'puts':
      // Each message's mailbox is authorized on its own (zenoh-bridge.ts): one the token does
      // not grant is refused alone.
      return { op: 'put', user: null };
    case 'consumes':
      return { op: 'consume', user: null };
    case 'query':
      return { op: 'peek', user: request.query.user };
    case 'command': {
      const c = request.command;
      if (c.op === 'expire') throw new Error('the expiry sweep is proposed by the leader, never parsed from a request');
      if (c.op === 'setQuotas') return { op: 'admin', user: null };
      const op = c.op === 'nack' || c.op === 'touch' ? 'ack' : c.op === 'redrive' ? 'purge' : c.op === 'putBatch' ? 'put' : c.op;
      return { op, user: c.user };
    }
  }
}

function buildPut(user: string, body: Uint8Array, id: string | undefined, ttl: string | undefined): Parsed<PutCommand> {
  const command: PutCommand = { op: 'put', user, body };
  if (id !== undefined) {
    const t = token('id', id);
    if (!t.ok) return t;
    if (t.value.startsWith('@')) return fail('BAD_REQUEST', 'id must not start with "@" (reserved)');
    command.id = t.value;
  }
  if (ttl !== undefined) {
    const ms = positiveMs('ttl', ttl, MAX_TTL_MS);
    if (!ms.ok) return ms;
    command.ttlMs = ms.value;
  }
  return ok(command);
}

/** Splits `a=1;b=2` (or `&`); a bare name means an empty value. Repeated names are refused. */
export function parseParameters(source: string): Parsed<Map<string, string>> {
  if (source.length > MAX_PARAMETERS_LENGTH) return fail('BAD_REQUEST', `selector parameters over ${MAX_PARAMETERS_LENGTH} characters`);
  const out = new Map<string, string>();
  for (const pair of source.split(/[;&\n]/)) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const name = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const value = eq < 0 ? '' : pair.slice(eq + 1).trim();
    if (name === '') return fail('BAD_REQUEST', `parameter without a name: ${JSON.stringify(truncate(pair))}`);
    if (name.startsWith('_')) continue;
    if (out.has(name)) return fail('BAD_REQUEST', `parameter ${JSON.stringify(truncate(name))} given twice`);
    out.set(name, value);
  }
  return ok(out);
}

function checkNames(params: Map<string, string>, allowed: readonly string[]): Parsed<true> {
  for (const name of params.keys()) {
    if (!allowed.includes(name)) {
      const expected = allowed.length === 0 ? 'none' : allowed.join(', ');
      return fail('BAD_REQUEST', `unknown parameter ${JSON.stringify(truncate(name))} (expected: ${expected})`);
    }
  }
  return ok(true);
}

function token(name: string, value: string): Parsed<string> {
  if (!isValidToken(value)) {
    return fail('BAD_REQUEST', `${name} must be 1..${MAX_TOKEN_LENGTH} characters of [A-Za-z0-9._:@+=/-]`);
  }
  return ok(value);
}

function positiveMs(name: string, value: string, max: number): Parsed<number> {
  if (!/^[0-9]{1,15}$/.test(value)) return fail('BAD_REQUEST', `${name} must be a whole number of milliseconds`);
  const ms = Number(value);
  if (ms < 1 || ms > max) return fail('BAD_REQUEST', `${name} must be between 1 and ${max} ms`);
  return ok(ms);
}

/** `wait` (ms): absent or 0 means no wait; above `max` is refused, not clamped (the client would otherwise time out first). */
function waitParam(value: string | undefined, max: number): Parsed<number> {
  if (value === undefined) return ok(0);
  if (!/^[0-9]{1,15}$/.test(value)) return fail('BAD_REQUEST', 'wait must be a whole number of milliseconds');
  const ms = Number(value);
  if (ms > max) {
    return fail('BAD_REQUEST', max === 0 ? 'long polls (wait) are turned off on this cluster (mailbox.maxConsumeWaitMs = 0)' : `wait must be between 0 and ${max} ms (mailbox.maxConsumeWaitMs)`);
  }
  return ok(ms);
}

function flag(name: string, value: string | undefined): Parsed<boolean> {
  if (value === undefined) return ok(false);
  if (value === '' || value === '1' || value === 'true') return ok(true);
  if (value === '0' || value === 'false') return ok(false);
  return fail('BAD_REQUEST', `${name} is a flag: ${name}, ${name}=1 or ${name}=0`);
}

function tooLarge(size: number, limits: KeySpaceLimits): Parsed<never> {
  return fail('TOO_LARGE', `message body of ${size} bytes exceeds the ${limits.maxBodyBytes} byte limit`);
}

function stripPrefix(prefix: string, key: string): string | null {
  return key.startsWith(prefix + '/') ? key.slice(prefix.length + 1) : null;
}

/** Error messages quote client input; keep them short whatever the client sent. */
function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
