// Binary wire format of mailbox commands (carried in Raft log entries) and results (returned to the
// proposing node). Deterministic: one value has exactly one encoding. Layout: a format version byte,
// a tag byte, then the fields in a fixed order; optional fields are announced by a flags byte.
// The decoder rejects unknown versions, tags and flag bits, oversized lengths, non-integer counts
// and trailing bytes with a MailboxDecodeError.

import { ByteReader, ByteWriter, MailboxDecodeError, utf8Length } from './binary.js';
import { StoredDelivery } from './delivery.js';
import type { DeliveredMessage, MailboxCommand, MailboxErrorCode, MailboxResult } from './commands.js';
import { MAX_WIRE_BODY_BYTES, MAX_WIRE_STRING_BYTES } from './options.js';

export const WIRE_VERSION = 1;

const enum Op {
  Put = 1,
  Consume = 2,
  Ack = 3,
  Nack = 4,
  Purge = 5,
  Expire = 6,
}

const enum Kind {
  Put = 1,
  Message = 2,
  Empty = 3,
  Ok = 4,
  Purged = 5,
  Expired = 6,
  Stats = 7,
  Error = 8,
}

const ERROR_CODES: readonly MailboxErrorCode[] = [
  'BAD_USER',
  'BAD_REQUEST',
  'TOO_LARGE',
  'MAILBOX_FULL',
  'UNKNOWN_RECEIPT',
  'LEASE_EXPIRED',
];

/** Error messages are free text; bounded so a result stays small. */
const MAX_ERROR_MESSAGE_BYTES = 4096;

/** Reused by every encode (they are synchronous and never nest); `finish` copies the bytes out. */
const scratch = new ByteWriter(64 * 1024);
const results = new ByteWriter(64 * 1024);

export function encodeCommand(cmd: MailboxCommand): Uint8Array {
  const w = scratch;
  w.reset();
  w.u8(WIRE_VERSION);
  switch (cmd.op) {
    case 'put':
      w.u8(Op.Put);
      w.str(cmd.user);
      w.u8((cmd.id !== undefined ? 1 : 0) | (cmd.ttlMs !== undefined ? 2 : 0));
      if (cmd.id !== undefined) w.str(cmd.id);
      if (cmd.ttlMs !== undefined) w.f64(cmd.ttlMs);
      w.bytesField(cmd.body);
      break;
    case 'consume':
      w.u8(Op.Consume);
      w.str(cmd.user);
      w.u8((cmd.requestId !== undefined ? 1 : 0) | (cmd.leaseMs !== undefined ? 2 : 0) | (cmd.deadLetter ? 4 : 0));
      if (cmd.requestId !== undefined) w.str(cmd.requestId);
      if (cmd.leaseMs !== undefined) w.f64(cmd.leaseMs);
      break;
    case 'ack':
    case 'nack':
      w.u8(cmd.op === 'ack' ? Op.Ack : Op.Nack);
      w.str(cmd.user);
      w.str(cmd.receipt);
      break;
    case 'purge':
      w.u8(Op.Purge);
      w.str(cmd.user);
      w.u8(cmd.deadLetter ? 1 : 0);
      break;
    case 'expire':
      w.u8(Op.Expire);
      break;
  }
  return w.finish();
}

export function decodeCommand(data: Uint8Array): MailboxCommand {
  const r = new ByteReader(data);
  version(r);
  const op = r.u8('command op');
  let cmd: MailboxCommand;
  switch (op) {
    case Op.Put: {
      const user = r.str('user', MAX_WIRE_STRING_BYTES);
      const flags = flagsByte(r, 0b11);
      const id = flags & 1 ? r.str('id', MAX_WIRE_STRING_BYTES) : undefined;
      const ttlMs = flags & 2 ? r.f64('ttlMs') : undefined;
      const body = r.bytes('body', MAX_WIRE_BODY_BYTES);
      cmd = { op: 'put', user, body };
      if (id !== undefined) cmd.id = id;
      if (ttlMs !== undefined) cmd.ttlMs = ttlMs;
      break;
    }
    case Op.Consume: {
      const user = r.str('user', MAX_WIRE_STRING_BYTES);
      const flags = flagsByte(r, 0b111);
      cmd = { op: 'consume', user };
      if (flags & 1) cmd.requestId = r.str('requestId', MAX_WIRE_STRING_BYTES);
      if (flags & 2) cmd.leaseMs = r.f64('leaseMs');
      if (flags & 4) cmd.deadLetter = true;
      break;
    }
    case Op.Ack:
    case Op.Nack: {
      const user = r.str('user', MAX_WIRE_STRING_BYTES);
      const receipt = r.str('receipt', MAX_WIRE_STRING_BYTES);
      cmd = { op: op === Op.Ack ? 'ack' : 'nack', user, receipt };
      break;
    }
    case Op.Purge: {
      const user = r.str('user', MAX_WIRE_STRING_BYTES);
      const flags = flagsByte(r, 0b1);
      cmd = { op: 'purge', user };
      if (flags & 1) cmd.deadLetter = true;
      break;
    }
    case Op.Expire:
      cmd = { op: 'expire' };
      break;
    default:
      throw new MailboxDecodeError(`unknown command op ${op}`);
  }
  r.end();
  return cmd;
}

export function encodeResult(res: MailboxResult): Uint8Array {
  // Results are short-lived (sent back to the proposer), so they may share a slab.
  results.resetTransient();
  writeResult(results, res);
  return results.finishTransient();
}

/** Appends one result to `w` (also used by the snapshot for cached consume results). */
export function writeResult(w: ByteWriter, res: MailboxResult): void {
  w.u8(WIRE_VERSION);
  switch (res.kind) {
    case 'put':
      w.u8(Kind.Put);
      w.str(res.id);
      w.f64(res.seq);
      w.u8(res.duplicate ? 1 : 0);
      break;
    case 'message':
      w.u8(Kind.Message);
      writeMessage(w, res.message);
      break;
    case 'empty':
      w.u8(Kind.Empty);
      break;
    case 'ok':
      w.u8(Kind.Ok);
      break;
    case 'purged':
      w.u8(Kind.Purged);
      w.f64(res.count);
      break;
    case 'expired':
      w.u8(Kind.Expired);
      w.f64(res.expired);
      w.f64(res.deadLettered);
      w.f64(res.leasesReturned);
      break;
    case 'stats':
      w.u8(Kind.Stats);
      w.f64(res.stats.count);
      w.f64(res.stats.bytes);
      w.f64(res.stats.oldestAgeMs);
      w.f64(res.stats.inFlight);
      w.f64(res.stats.deadLetterCount);
      break;
    case 'error':
      w.u8(Kind.Error);
      w.u8(ERROR_CODES.indexOf(res.code));
      w.str(res.message);
      break;
  }
}

/** Exact encoded size of a result, as writeResult writes it. */
export function resultSize(res: MailboxResult): number {
  const head = 2;
  switch (res.kind) {
    case 'put':
      return head + 2 + utf8Length(res.id) + 8 + 1;
    case 'message': {
      const m = res.message;
      const body = m instanceof StoredDelivery ? m.latin1Body().length : m.body.length;
      const leased = m.receipt !== undefined && m.leaseExpiresAt !== undefined;
      return head + 2 + utf8Length(m.id) + 8 + 4 + body + 8 + 8 + 4 + 1 + (leased ? 2 + utf8Length(m.receipt!) + 8 : 0);
    }
    case 'empty':
    case 'ok':
      return head;
    case 'purged':
      return head + 8;
    case 'expired':
      return head + 24;
    case 'stats':
      return head + 40;
    case 'error':
      return head + 1 + 2 + utf8Length(res.message);
  }
}

function writeMessage(w: ByteWriter, m: DeliveredMessage): void {
  w.str(m.id);
  w.f64(m.seq);
  if (m instanceof StoredDelivery) w.latin1(m.latin1Body());
  else w.bytesField(m.body);
  w.f64(m.enqueuedAt);
  w.f64(m.expiresAt);
  w.u32(m.deliveries);
  const leased = m.receipt !== undefined && m.leaseExpiresAt !== undefined;
  w.u8(leased ? 1 : 0);
  if (leased) {
    w.str(m.receipt!);
    w.f64(m.leaseExpiresAt!);
  }
}

export function decodeResult(data: Uint8Array): MailboxResult {
  const r = new ByteReader(data);
  const res = readResult(r);
  r.end();
  return res;
}

/** Reads one result from `r` (also used by the snapshot for cached consume results). */
export function readResult(r: ByteReader): MailboxResult {
  version(r);
  const kind = r.u8('result kind');
  switch (kind) {
    case Kind.Put: {
      const id = r.str('id', MAX_WIRE_STRING_BYTES);
      const seq = count(r, 'seq');
      const duplicate = bool(r, 'duplicate');
      return { kind: 'put', id, seq, duplicate };
    }
    case Kind.Message:
      return { kind: 'message', message: readMessage(r) };
    case Kind.Empty:
      return { kind: 'empty' };
    case Kind.Ok:
      return { kind: 'ok' };
    case Kind.Purged:
      return { kind: 'purged', count: count(r, 'count') };
    case Kind.Expired: {
      const expired = count(r, 'expired');
      const deadLettered = count(r, 'deadLettered');
      const leasesReturned = count(r, 'leasesReturned');
      return { kind: 'expired', expired, deadLettered, leasesReturned };
    }
    case Kind.Stats: {
      const c = count(r, 'count');
      const bytes = count(r, 'bytes');
      const oldestAgeMs = count(r, 'oldestAgeMs');
      const inFlight = count(r, 'inFlight');
      const deadLetterCount = count(r, 'deadLetterCount');
      return { kind: 'stats', stats: { count: c, bytes, oldestAgeMs, inFlight, deadLetterCount } };
    }
    case Kind.Error: {
      const index = r.u8('error code');
      const code = ERROR_CODES[index];
      if (code === undefined) throw new MailboxDecodeError(`unknown error code ${index}`);
      return { kind: 'error', code, message: r.str('error message', MAX_ERROR_MESSAGE_BYTES) };
    }
    default:
      throw new MailboxDecodeError(`unknown result kind ${kind}`);
  }
}

function readMessage(r: ByteReader): DeliveredMessage {
  const id = r.str('id', MAX_WIRE_STRING_BYTES);
  const seq = count(r, 'seq');
  const body = r.bytes('body', MAX_WIRE_BODY_BYTES).slice();
  const enqueuedAt = time(r, 'enqueuedAt');
  const expiresAt = time(r, 'expiresAt');
  const deliveries = r.u32('deliveries');
  const m: DeliveredMessage = { id, seq, body, enqueuedAt, expiresAt, deliveries };
  if (flagsByte(r, 0b1) & 1) {
    m.receipt = r.str('receipt', MAX_WIRE_STRING_BYTES);
    m.leaseExpiresAt = time(r, 'leaseExpiresAt');
  }
  return m;
}

function version(r: ByteReader): void {
  const v = r.u8('version');
  if (v !== WIRE_VERSION) throw new MailboxDecodeError(`unsupported wire version ${v}`);
}

function flagsByte(r: ByteReader, allowed: number): number {
  const f = r.u8('flags');
  if ((f & ~allowed) !== 0) throw new MailboxDecodeError(`unknown flag bits 0x${f.toString(16)}`);
  return f;
}

function bool(r: ByteReader, what: string): boolean {
  const b = r.u8(what);
  if (b > 1) throw new MailboxDecodeError(`${what} must be 0 or 1, got ${b}`);
  return b === 1;
}

/** A non-negative safe integer carried as f64. */
function count(r: ByteReader, what: string): number {
  const v = r.f64(what);
  if (!Number.isSafeInteger(v) || v < 0) throw new MailboxDecodeError(`${what} must be a non-negative integer`);
  return v;
}

/** A timestamp in ms carried as f64: any finite integer. */
function time(r: ByteReader, what: string): number {
  const v = r.f64(what);
  if (!Number.isSafeInteger(v)) throw new MailboxDecodeError(`${what} must be an integer`);
  return v;
}
