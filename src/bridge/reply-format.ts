// How the bridge encodes a mailbox result as a Zenoh reply, and how a client decodes it.
// Shared by the bridge and ForgeMailboxClient so both sides agree byte for byte; Python clients
// follow the same rules (see test/support/python_smoke.py).
//
// Success (`reply` on the query's key):
//   attachment: UTF-8 JSON object, always with "status":
//     "message" — payload is the raw message body, untouched (any bytes, any encoding); the
//                 attachment also carries id, seq, deliveries, enqueuedAt, expiresAt and, for a
//                 leased consume, receipt and leaseExpiresAt.
//     "empty"   — the mailbox has nothing to give; payload is empty. An ok reply, not an error:
//                 an empty mailbox is the normal answer to a polling client.
//   A batch (consume with max, put-batch) is answered with one reply per message, in order: a
//   "message" (consume) or "put" (put-batch) reply each, whose attachment also carries "i" (1..n,
//   its place) and "n" (how many replies the batch has), so a client knows when it has them all.
//   A batch consume that finds nothing is the one "empty" reply; a refused batch one error.
//     "puts"    — many puts (`@puts`), answered with one reply: the payload is a UTF-8 JSON array
//                 with one entry per message, in order: {id, seq, duplicate} when it was put,
//                 {code, message} when it was refused (the others stand). An error reply
//                 refuses the whole request (a bad framing, BUSY, NOT_LEADER...).
//     "put" | "ok" | "purged" | "redriven" | "stats" | "status" | "membership" | "quotas" — payload is a UTF-8 JSON object:
//                 put {id, seq, duplicate}; ok {}; purged {count}; redriven {count};
//                 quotas {quotas: {maxMessages, maxBytes, maxMailboxes, maxPutIds, maxConsumeResults},
//                   usage: {messages, bytes, mailboxes}};
//                 stats {count, bytes, oldestAgeMs, inFlight, deadLetterCount, delayed?}; status {...cluster status};
//                 membership {voters: [id...], learners: [id...]} (after an admin change).
// Failure (`replyErr`): payload is UTF-8 JSON {"code": <BridgeErrorCode>, "message": string,
//   "leader"?: node id hint on NOT_LEADER}. Retryable refusals that changed nothing: NOT_LEADER,
//   UNAVAILABLE, BACKLOG_FULL, BUSY (the bridge has its bound of requests in flight and answered
//   at once, before authorization or Raft). QUOTA_EXCEEDED refuses a put at a cluster quota, or a
//   new put id or consume request id while its table is full (nothing changed either).

import type { DeliveredMessage, MailboxResult, MailboxStats } from '../mailbox/commands.js';
import type { MailboxQuotas, MailboxUsage } from '../mailbox/quotas.js';
import type { MembershipView } from './cluster-admin.js';
import { BATCH_FRAMING_VERSION, MAX_CONSUMES_PER_REQUEST, MAX_PUTS_PER_REQUEST, readFramingHeader } from './batch-framing.js';
import { ByteReader } from '../wire/reader.js';
import { WireError } from '../wire/wire-error.js';
import { ByteWriter } from '../wire/writer.js';

export const BRIDGE_ERROR_CODES = [
  'BAD_USER',
  'BAD_REQUEST',
  'TOO_LARGE',
  'UNKNOWN_OP',
  'NOT_LEADER',
  'UNAVAILABLE',
  'TIMEOUT',
  'LEADERSHIP_LOST',
  'BACKLOG_FULL',
  'NOSPACE',
  'MAILBOX_FULL',
  'QUOTA_EXCEEDED',
  'BUSY',
  'UNKNOWN_RECEIPT',
  'LEASE_EXPIRED',
  'UNKNOWN_NODE',
  'ALREADY_MEMBER',
  'MEMBERSHIP_FULL',
  'CONF_CHANGE_IN_PROGRESS',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'INTERNAL',
] as const;

export type BridgeErrorCode = (typeof BRIDGE_ERROR_CODES)[number];

export interface ErrorBody {
  code: BridgeErrorCode;
  message: string;
  leader?: string;
}

export interface ReplyParts {
  payload: Uint8Array;
  attachment: Uint8Array;
}

/** What a client gets from a successful reply. */
export type ClientReply =
  | { status: 'message'; message: DeliveredMessage; part?: BatchPart }
  | { status: 'empty' }
  | { status: 'put'; id: string; seq: number; duplicate: boolean; part?: BatchPart }
  | { status: 'puts'; puts: PutOutcomeReply[] }
  | { status: 'consumes'; consumes: ConsumeOutcomeReply[] }
  | { status: 'ok' }
  | { status: 'purged'; count: number }
  | { status: 'redriven'; count: number }
  | { status: 'stats'; stats: MailboxStats }
  | { status: 'status'; cluster: unknown }
  | { status: 'membership'; membership: MembershipView }
  | { status: 'quotas'; quotas: MailboxQuotas; usage: MailboxUsage };

/** One message's outcome in a `@puts` reply: put, or refused. */
export type PutOutcomeReply = { ok: true; id: string; seq: number; duplicate: boolean } | { ok: false; error: ErrorBody };

/** One consume's outcome in a `@consumes` reply: a message, null (empty), or refused. */
export type ConsumeOutcomeReply = { ok: true; message: DeliveredMessage | null } | { ok: false; error: ErrorBody };

/** The place of one reply of a batch: `index` 1..count. */
export interface BatchPart {
  index: number;
  count: number;
}

/** Decoders refuse anything bigger: metadata and error bodies are small by construction. */
const MAX_ATTACHMENT_BYTES = 4096;
const MAX_ERROR_BYTES = 4096;
/** Cluster status can list many nodes; still bounded. */
const MAX_JSON_PAYLOAD_BYTES = 256 * 1024;
/** A `@puts` reply: up to MAX_PUTS_PER_REQUEST outcomes, an error message each at worst. */
const MAX_PUTS_REPLY_BYTES = 2 * 1024 * 1024;

const encoder = new TextEncoder();
const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));
const EMPTY = new Uint8Array(0);

/** Encodes a successful result; a state-machine error result becomes an error body instead. */
export function encodeResult(result: MailboxResult): { ok: true; parts: ReplyParts } | { ok: false; error: ErrorBody } {
  switch (result.kind) {
    case 'message': {
      const parts = messageParts(result.message);
      return { ok: true, parts: { payload: parts.payload, attachment: json(parts.meta) } };
    }
    case 'empty':
      return { ok: true, parts: { payload: EMPTY, attachment: json({ status: 'empty' }) } };
    case 'put': {
      const parts = putParts(result.id, result.seq, result.duplicate);
      return { ok: true, parts: { payload: parts.payload, attachment: json(parts.meta) } };
    }
    case 'ok':
      return { ok: true, parts: { payload: json({}), attachment: json({ status: 'ok' }) } };
    case 'purged':
      return { ok: true, parts: { payload: json({ count: result.count }), attachment: json({ status: 'purged' }) } };
    case 'redriven':
      return { ok: true, parts: { payload: json({ count: result.count }), attachment: json({ status: 'redriven' }) } };
    case 'stats':
      return { ok: true, parts: { payload: json(result.stats), attachment: json({ status: 'stats' }) } };
    case 'quotas':
      return { ok: true, parts: { payload: json({ quotas: result.quotas, usage: result.usage }), attachment: json({ status: 'quotas' }) } };
    case 'error':
      return { ok: false, error: { code: result.code, message: result.message } };
    case 'expired':
      return { ok: false, error: { code: 'INTERNAL', message: 'unexpected expire result for a client request' } };
    case 'messages':
    case 'puts':
      return { ok: false, error: { code: 'INTERNAL', message: 'a batch result is answered with encodeResults' } };
  }
}

function messageParts(m: DeliveredMessage): { payload: Uint8Array; meta: Record<string, unknown> } {
  // Fields picked one by one: the state machine may hand out a richer object than DeliveredMessage.
  const meta: Record<string, unknown> = {
    status: 'message',
    id: m.id,
    seq: m.seq,
    deliveries: m.deliveries,
    enqueuedAt: m.enqueuedAt,
    expiresAt: m.expiresAt,
  };
  if (m.receipt !== undefined) meta.receipt = m.receipt;
  if (m.leaseExpiresAt !== undefined) meta.leaseExpiresAt = m.leaseExpiresAt;
  return { payload: m.body, meta };
}

function putParts(id: string, seq: number, duplicate: boolean): { payload: Uint8Array; meta: Record<string, unknown> } {
  return { payload: json({ id, seq, duplicate }), meta: { status: 'put' } };
}

/**
 * Encodes a result as the replies it is answered with: one per message of a batch (see the
 * header), else the one of encodeResult.
 */
export function encodeResults(result: MailboxResult): { ok: true; parts: ReplyParts[] } | { ok: false; error: ErrorBody } {
  if (result.kind === 'messages') {
    const n = result.messages.length;
    return { ok: true, parts: result.messages.map((message, i) => withPart(messageParts(message), i + 1, n)) };
  }
  if (result.kind === 'puts') {
    const n = result.puts.length;
    return { ok: true, parts: result.puts.map((put, i) => withPart(putParts(put.id, put.seq, put.duplicate), i + 1, n)) };
  }
  const one = encodeResult(result);
  return one.ok ? { ok: true, parts: [one.parts] } : one;
}

function withPart(parts: { payload: Uint8Array; meta: Record<string, unknown> }, i: number, n: number): ReplyParts {
  return { payload: parts.payload, attachment: json({ ...parts.meta, i, n }) };
}

export function encodeClusterStatus(status: unknown): ReplyParts {
  return { payload: json(status), attachment: json({ status: 'status' }) };
}

export function encodeMembership(membership: MembershipView): ReplyParts {
  return { payload: json({ voters: membership.voters, learners: membership.learners }), attachment: json({ status: 'membership' }) };
}

/** The one reply of a `@puts` request: each message's put, or its refusal, in order (see the header). */
export function encodePutOutcomes(outcomes: readonly (MailboxResult | ErrorBody)[]): ReplyParts {
  const entries = outcomes.map((outcome) => {
    if (!('kind' in outcome)) return { code: outcome.code, message: outcome.message };
    if (outcome.kind === 'put') return { id: outcome.id, seq: outcome.seq, duplicate: outcome.duplicate };
    if (outcome.kind === 'error') return { code: outcome.code, message: outcome.message };
    return { code: 'INTERNAL', message: `unexpected ${outcome.kind} result for a put` };
  });
  return { payload: json(entries), attachment: json({ status: 'puts' }) };
}

const CONSUMED_NOTHING = 0;
const CONSUMED_MESSAGE = 1;
const CONSUME_REFUSED = 2;
/** Longest id, receipt, code or message text in a `@consumes` reply (all far shorter in practice). */
const MAX_CONSUMES_TEXT_BYTES = 4096;

/** The one reply of a `@consumes` request: each consume's message, empty, or refusal, in order (see the header). */
export function encodeConsumeOutcomes(outcomes: readonly (MailboxResult | ErrorBody)[]): ReplyParts {
  const w = new ByteWriter(64 + outcomes.length * 64);
  w.u8(BATCH_FRAMING_VERSION);
  w.u16(outcomes.length);
  const refused = (code: BridgeErrorCode, message: string) => {
    w.u8(CONSUME_REFUSED);
    w.u16String(code);
    w.u16String(message.slice(0, 1000));
  };
  for (const outcome of outcomes) {
    if (!('kind' in outcome)) refused(outcome.code, outcome.message);
    else if (outcome.kind === 'empty') w.u8(CONSUMED_NOTHING);
    else if (outcome.kind === 'message') {
      const m = outcome.message;
      w.u8(CONSUMED_MESSAGE);
      w.u8((m.receipt !== undefined ? 1 : 0) | (m.leaseExpiresAt !== undefined ? 2 : 0));
      w.u16String(m.id);
      w.f64(m.seq);
      w.f64(m.deliveries);
      w.f64(m.enqueuedAt);
      w.f64(m.expiresAt);
      if (m.receipt !== undefined) w.u16String(m.receipt);
      if (m.leaseExpiresAt !== undefined) w.f64(m.leaseExpiresAt);
      w.u32Bytes(m.body);
    } else if (outcome.kind === 'error') refused(outcome.code, outcome.message);
    else refused('INTERNAL', `unexpected ${outcome.kind} result for a consume`);
  }
  return { payload: w.finish(), attachment: json({ status: 'consumes' }) };
}

function consumeOutcomes(payload: Uint8Array): ConsumeOutcomeReply[] {
  try {
    const r = new ByteReader(payload);
    const count = readFramingHeader(r, 'consumes reply', MAX_CONSUMES_PER_REQUEST, 'outcomes');
    const out: ConsumeOutcomeReply[] = [];
    for (let i = 0; i < count; i++) {
      const kind = r.u8('kind');
      if (kind === CONSUMED_NOTHING) out.push({ ok: true, message: null });
      else if (kind === CONSUMED_MESSAGE) {
        const flags = r.u8('flags');
        if ((flags & ~0b11) !== 0) throw new ReplyDecodeError(`consume ${i}: unknown flag bits 0x${flags.toString(16)}`);
        const message: DeliveredMessage = {
          id: r.u16String('id', MAX_CONSUMES_TEXT_BYTES),
          seq: r.f64('seq'),
          deliveries: r.f64('deliveries'),
          enqueuedAt: r.f64('enqueuedAt'),
          expiresAt: r.f64('expiresAt'),
          body: new Uint8Array(0),
        };
        if (flags & 1) message.receipt = r.u16String('receipt', MAX_CONSUMES_TEXT_BYTES);
        if (flags & 2) message.leaseExpiresAt = r.f64('leaseExpiresAt');
        message.body = r.u32Bytes('body', r.remaining);
        out.push({ ok: true, message });
      } else if (kind === CONSUME_REFUSED) {
        const code = r.u16String('code', MAX_CONSUMES_TEXT_BYTES);
        if (!isBridgeErrorCode(code)) throw new ReplyDecodeError(`unknown error code ${JSON.stringify(code.slice(0, 40))}`);
        out.push({ ok: false, error: { code, message: r.u16String('message', MAX_CONSUMES_TEXT_BYTES) } });
      } else throw new ReplyDecodeError(`consume ${i}: unknown outcome kind ${kind}`);
    }
    r.end();
    return out;
  } catch (e) {
    if (e instanceof WireError) throw new ReplyDecodeError(`consumes reply: ${e.message}`);
    throw e;
  }
}

export function encodeError(error: ErrorBody): Uint8Array {
  return json(error);
}

export function isBridgeErrorCode(code: unknown): code is BridgeErrorCode {
  return typeof code === 'string' && (BRIDGE_ERROR_CODES as readonly string[]).includes(code);
}

export class ReplyDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyDecodeError';
  }
}

/**
 * The error Zenoh itself delivers when a query's timeout ends before its queryables finished
 * (zenoh's session synthesizes a reply error whose payload is this text): nobody answered in
 * time, so the request's outcome is unknown.
 */
const ZENOH_QUERY_TIMEOUT = 'Timeout';

/**
 * Decodes an error reply payload. Zenoh's own query timeout is TIMEOUT (outcome unknown);
 * anything else unrecognisable is reported as INTERNAL with the raw text.
 */
export function decodeError(payload: Uint8Array): ErrorBody {
  if (payload.length > MAX_ERROR_BYTES) return { code: 'INTERNAL', message: `error reply of ${payload.length} bytes` };
  const text = new TextDecoder().decode(payload);
  if (text === ZENOH_QUERY_TIMEOUT) {
    return { code: 'TIMEOUT', message: 'the query timed out before every node had answered: its outcome is unknown; retry with the same id or request id' };
  }
  try {
    const value: unknown = JSON.parse(text);
    if (isObject(value) && isBridgeErrorCode(value.code) && typeof value.message === 'string') {
      const out: ErrorBody = { code: value.code, message: value.message };
      if (typeof value.leader === 'string') out.leader = value.leader;
      return out;
    }
  } catch {
    // fall through: not one of ours (e.g. the router's own error text)
  }
  return { code: 'INTERNAL', message: text.slice(0, 200) };
}

/** Decodes a successful reply; throws ReplyDecodeError when it does not follow the format. */
export function decodeReply(payload: Uint8Array, attachment: Uint8Array | undefined): ClientReply {
  if (attachment === undefined) throw new ReplyDecodeError('reply without attachment');
  const meta = parseJsonObject(attachment, MAX_ATTACHMENT_BYTES, 'attachment');
  switch (meta.status) {
    case 'message':
      return {
        status: 'message',
        message: {
          id: str(meta, 'id'),
          seq: num(meta, 'seq'),
          body: payload,
          enqueuedAt: num(meta, 'enqueuedAt'),
          expiresAt: num(meta, 'expiresAt'),
          deliveries: num(meta, 'deliveries'),
          ...(meta.receipt === undefined ? {} : { receipt: str(meta, 'receipt') }),
          ...(meta.leaseExpiresAt === undefined ? {} : { leaseExpiresAt: num(meta, 'leaseExpiresAt') }),
        },
        ...partOf(meta),
      };
    case 'empty':
      return { status: 'empty' };
    case 'put': {
      const body = parseJsonObject(payload, MAX_JSON_PAYLOAD_BYTES, 'payload');
      if (typeof body.duplicate !== 'boolean') throw new ReplyDecodeError('put reply without boolean "duplicate"');
      return { status: 'put', id: str(body, 'id'), seq: num(body, 'seq'), duplicate: body.duplicate, ...partOf(meta) };
    }
    case 'puts':
      return { status: 'puts', puts: putOutcomes(payload) };
    case 'consumes':
      return { status: 'consumes', consumes: consumeOutcomes(payload) };
    case 'ok':
      return { status: 'ok' };
    case 'purged':
      return { status: 'purged', count: num(parseJsonObject(payload, MAX_JSON_PAYLOAD_BYTES, 'payload'), 'count') };
    case 'redriven':
      return { status: 'redriven', count: num(parseJsonObject(payload, MAX_JSON_PAYLOAD_BYTES, 'payload'), 'count') };
    case 'stats': {
      const s = parseJsonObject(payload, MAX_JSON_PAYLOAD_BYTES, 'payload');
      return {
        status: 'stats',
        stats: {
          count: num(s, 'count'),
          bytes: num(s, 'bytes'),
          oldestAgeMs: num(s, 'oldestAgeMs'),
          inFlight: num(s, 'inFlight'),
          deadLetterCount: num(s, 'deadLetterCount'),
          // Only when some are delayed (see MailboxStats.delayed).
          ...(s['delayed'] === undefined ? {} : { delayed: num(s, 'delayed') }),
        },
      };
    }
    case 'status':
      return { status: 'status', cluster: parseJsonObject(payload, MAX_JSON_PAYLOAD_BYTES, 'payload') };
    case 'membership': {
      const m = parseJsonObject(payload, MAX_JSON_PAYLOAD_BYTES, 'payload');
      return { status: 'membership', membership: { voters: ids(m, 'voters'), learners: ids(m, 'learners') } };
    }
    case 'quotas': {
      const body = parseJsonObject(payload, MAX_JSON_PAYLOAD_BYTES, 'payload');
      const q = isObject(body.quotas) ? body.quotas : {};
      const u = isObject(body.usage) ? body.usage : {};
      return {
        status: 'quotas',
        quotas: {
          maxMessages: num(q, 'maxMessages'),
          maxBytes: num(q, 'maxBytes'),
          maxMailboxes: num(q, 'maxMailboxes'),
          maxPutIds: num(q, 'maxPutIds'),
          maxConsumeResults: num(q, 'maxConsumeResults'),
        },
        usage: { messages: num(u, 'messages'), bytes: num(u, 'bytes'), mailboxes: num(u, 'mailboxes') },
      };
    }
    default:
      throw new ReplyDecodeError(`unknown reply status ${JSON.stringify(meta.status)}`);
  }
}

function putOutcomes(payload: Uint8Array): PutOutcomeReply[] {
  if (payload.length > MAX_PUTS_REPLY_BYTES) throw new ReplyDecodeError(`payload of ${payload.length} bytes exceeds ${MAX_PUTS_REPLY_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new ReplyDecodeError('payload is not UTF-8 JSON');
  }
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_PUTS_PER_REQUEST) throw new ReplyDecodeError(`a puts reply is a list of 1 to ${MAX_PUTS_PER_REQUEST} outcomes`);
  return value.map((entry: unknown): PutOutcomeReply => {
    if (!isObject(entry)) throw new ReplyDecodeError('a put outcome is not a JSON object');
    if (entry.code !== undefined) {
      if (!isBridgeErrorCode(entry.code)) throw new ReplyDecodeError(`unknown error code ${JSON.stringify(entry.code)}`);
      return { ok: false, error: { code: entry.code, message: str(entry, 'message') } };
    }
    if (typeof entry.duplicate !== 'boolean') throw new ReplyDecodeError('put outcome without boolean "duplicate"');
    return { ok: true, id: str(entry, 'id'), seq: num(entry, 'seq'), duplicate: entry.duplicate };
  });
}

/** A batch reply's place ({part}), or nothing for a reply that is not part of a batch. */
function partOf(meta: Record<string, unknown>): { part?: BatchPart } {
  if (meta.i === undefined && meta.n === undefined) return {};
  const index = num(meta, 'i');
  const count = num(meta, 'n');
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 1 || index > count) {
    throw new ReplyDecodeError(`batch reply place ${index} of ${count}`);
  }
  return { part: { index, count } };
}

function parseJsonObject(bytes: Uint8Array, max: number, what: string): Record<string, unknown> {
  if (bytes.length > max) throw new ReplyDecodeError(`${what} of ${bytes.length} bytes exceeds ${max}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ReplyDecodeError(`${what} is not UTF-8 JSON`);
  }
  if (!isObject(value)) throw new ReplyDecodeError(`${what} is not a JSON object`);
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(o: Record<string, unknown>, name: string): string {
  const v = o[name];
  if (typeof v !== 'string') throw new ReplyDecodeError(`reply field "${name}" is not a string`);
  return v;
}

function ids(o: Record<string, unknown>, name: string): string[] {
  const v = o[name];
  if (!Array.isArray(v) || !v.every((id) => typeof id === 'string')) throw new ReplyDecodeError(`reply field "${name}" is not a list of node ids`);
  return v as string[];
}

function num(o: Record<string, unknown>, name: string): number {
  const v = o[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ReplyDecodeError(`reply field "${name}" is not a number`);
  return v;
}
