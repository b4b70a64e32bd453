// The payloads of the requests that carry many messages (or consumes) in one query, in a simple binary
// framing built with the byte toolkit's fixed family (src/wire), little-endian:
//
// A batch put (`GET <prefix>/<user>/put-batch`, one mailbox, one log entry):
//   u8 version (1), u16 count (1..maxBatch), then per message:
//     u8 flags (1: id follows, 2: ttl follows; other bits refused),
//     [u16 length + UTF-8 id], [f64 ttl in ms], u32 length + body (raw bytes).
//
// Many puts (`GET <prefix>/@puts`, any mailboxes, each message a put of its own):
//   u8 version (1), u16 count (1..MAX_PUTS_PER_REQUEST), then per message:
//     u8 flags (1: id follows, 2: ttl follows, 4: delay follows; other bits refused),
//     u16 length + UTF-8 user, [u16 length + UTF-8 id], [f64 ttl in ms], [f64 delay in ms],
//     u32 length + body (raw bytes).
//
// Many consumes (`GET <prefix>/@consumes`, any mailboxes, each a consume of its own):
//   u8 version (1), u16 count (1..MAX_CONSUMES_PER_REQUEST), then per consume:
//     u8 flags (1: request id follows, 2: lease follows, 4: dead-letter mailbox; other bits refused),
//     u16 length + UTF-8 user, [u16 length + UTF-8 request id], [f64 lease in ms].
//
// Shared by the bridge (decode) and the clients (encode) so both agree byte for byte; a Python
// client writes a batch put with struct.pack('<BH', 1, n) and, per message, '<B', '<H'+id, '<d',
// '<I'+body.
// What the fields mean (id and ttl syntax and ranges, the bounds on count and bytes) is checked by
// the key-space parser, like a single put's parameters.

import { ByteReader } from '../wire/reader.js';
import { ByteWriter } from '../wire/writer.js';
import { WireError } from '../wire/wire-error.js';

export const BATCH_FRAMING_VERSION = 1;
/**
 * Most messages one `@puts` request carries. Each is a log entry of its own, so the mailbox's
 * maxBatch (the size of one entry) does not bound it; its bodies together stay within
 * maxBodyBytes, like a batch put's.
 */
export const MAX_PUTS_PER_REQUEST = 1024;
/** Longest id the framing carries (UTF-8 bytes): ids are tokens of at most 128 ASCII characters. */
const MAX_FRAMED_ID_BYTES = 1024;

export interface FramedMessage {
  body: Uint8Array;
  id?: string;
  ttlMs?: number;
}

export function encodeBatchPut(messages: readonly FramedMessage[]): Uint8Array {
  const w = new ByteWriter(64 + messages.reduce((n, m) => n + m.body.length + 16, 0));
  w.u8(BATCH_FRAMING_VERSION);
  w.u16(messages.length);
  for (const m of messages) {
    w.u8((m.id !== undefined ? 1 : 0) | (m.ttlMs !== undefined ? 2 : 0));
    if (m.id !== undefined) w.u16String(m.id);
    if (m.ttlMs !== undefined) w.f64(m.ttlMs);
    w.u32Bytes(m.body);
  }
  return w.finish();
}

/** Most consumes one `@consumes` request carries (each a log entry of its own, like `@puts`'s). */
export const MAX_CONSUMES_PER_REQUEST = 1024;

/** One consume of a `@consumes` request. */
export interface AddressedConsume {
  user: string;
  requestId?: string;
  leaseMs?: number;
  deadLetter?: boolean;
}

export function encodeConsumes(consumes: readonly AddressedConsume[]): Uint8Array {
  const w = new ByteWriter(16 + consumes.reduce((n, c) => n + c.user.length + (c.requestId?.length ?? 0) + 16, 0));
  w.u8(BATCH_FRAMING_VERSION);
  w.u16(consumes.length);
  for (const c of consumes) {
    w.u8((c.requestId !== undefined ? 1 : 0) | (c.leaseMs !== undefined ? 2 : 0) | (c.deadLetter ? 4 : 0));
    w.u16String(c.user);
    if (c.requestId !== undefined) w.u16String(c.requestId);
    if (c.leaseMs !== undefined) w.f64(c.leaseMs);
  }
  return w.finish();
}

/** The consumes of a `@consumes` payload. Throws WireError like decodeBatchPut; what the fields mean is the key-space parser's to check. */
export function decodeConsumes(payload: Uint8Array): AddressedConsume[] {
  const r = new ByteReader(payload);
  const count = readFramingHeader(r, '@consumes request', MAX_CONSUMES_PER_REQUEST, 'consumes');
  const out: AddressedConsume[] = [];
  for (let i = 0; i < count; i++) {
    const flags = r.u8('flags');
    if ((flags & ~0b111) !== 0) throw new WireError('UNKNOWN_TAG', `consume ${i}: unknown flag bits 0x${flags.toString(16)}`);
    const c: AddressedConsume = { user: r.u16String('user', MAX_FRAMED_ID_BYTES) };
    if (flags & 1) c.requestId = r.u16String('request id', MAX_FRAMED_ID_BYTES);
    if (flags & 2) c.leaseMs = r.f64('lease');
    if (flags & 4) c.deadLetter = true;
    out.push(c);
  }
  r.end();
  return out;
}

/** One message of a `@puts` request: a put to its own mailbox. */
export interface AddressedMessage extends FramedMessage {
  user: string;
  delayMs?: number;
}

export function encodePuts(messages: readonly AddressedMessage[]): Uint8Array {
  const w = new ByteWriter(64 + messages.reduce((n, m) => n + m.body.length + m.user.length + 32, 0));
  w.u8(BATCH_FRAMING_VERSION);
  w.u16(messages.length);
  for (const m of messages) {
    w.u8((m.id !== undefined ? 1 : 0) | (m.ttlMs !== undefined ? 2 : 0) | (m.delayMs !== undefined ? 4 : 0));
    w.u16String(m.user);
    if (m.id !== undefined) w.u16String(m.id);
    if (m.ttlMs !== undefined) w.f64(m.ttlMs);
    if (m.delayMs !== undefined) w.f64(m.delayMs);
    w.u32Bytes(m.body);
  }
  return w.finish();
}

/**
 * The messages of a `@puts` payload; bodies are views of `payload`. Throws WireError like
 * decodeBatchPut; users, ids and times are checked by the key-space parser, message by message.
 */
export function decodePuts(payload: Uint8Array, maxTotalBytes: number): AddressedMessage[] {
  const r = new ByteReader(payload);
  const count = readFramingHeader(r, '@puts request', MAX_PUTS_PER_REQUEST, 'messages');
  const out: AddressedMessage[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const flags = r.u8('flags');
    if ((flags & ~0b111) !== 0) throw new WireError('UNKNOWN_TAG', `message ${i}: unknown flag bits 0x${flags.toString(16)}`);
    const m: AddressedMessage = { user: r.u16String('user', MAX_FRAMED_ID_BYTES), body: new Uint8Array(0) };
    if (flags & 1) m.id = r.u16String('id', MAX_FRAMED_ID_BYTES);
    if (flags & 2) m.ttlMs = r.f64('ttl');
    if (flags & 4) m.delayMs = r.f64('delay');
    m.body = r.u32Bytes('body', maxTotalBytes - bytes);
    bytes += m.body.length;
    out.push(m);
  }
  r.end();
  return out;
}

/**
 * The messages of a batch put payload; bodies are views of `payload`. Throws WireError on a bad
 * framing: an unknown version or flag, a count outside 1..maxCount, bodies together over
 * maxTotalBytes, truncated or trailing bytes.
 */
export function decodeBatchPut(payload: Uint8Array, maxCount: number, maxTotalBytes: number): FramedMessage[] {
  const r = new ByteReader(payload);
  const count = readFramingHeader(r, 'batch', maxCount, 'messages');
  const out: FramedMessage[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const flags = r.u8('flags');
    if ((flags & ~0b11) !== 0) throw new WireError('UNKNOWN_TAG', `message ${i}: unknown flag bits 0x${flags.toString(16)}`);
    const m: FramedMessage = { body: new Uint8Array(0) };
    if (flags & 1) m.id = r.u16String('id', MAX_FRAMED_ID_BYTES);
    if (flags & 2) m.ttlMs = r.f64('ttl');
    m.body = r.u32Bytes('body', maxTotalBytes - bytes);
    bytes += m.body.length;
    out.push(m);
  }
  r.end();
  return out;
}

/**
 * A framing's version and count (1..maxCount); WireError when either is wrong. The `consumes`
 * reply (reply-format.ts) starts the same way.
 */
export function readFramingHeader(r: ByteReader, what: string, maxCount: number, items: string): number {
  const version = r.u8('version');
  if (version !== BATCH_FRAMING_VERSION) throw new WireError('BAD_VERSION', `${what} framing version ${version}, expected ${BATCH_FRAMING_VERSION}`);
  const count = r.u16('count');
  if (count < 1 || count > maxCount) throw new WireError('INVALID', `a ${what} holds 1 to ${maxCount} ${items}, this one ${count}`);
  return count;
}
