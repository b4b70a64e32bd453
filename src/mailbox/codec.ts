// Binary wire format of mailbox commands, carried in Raft log entries. Deterministic: one command
// has exactly one encoding. Built with the fixed family of the byte toolkit (src/wire). Layout: a
// format version byte, an op byte, then the fields in a fixed order (strings u16-prefixed UTF-8,
// the body u32-prefixed, numbers f64, all little-endian); optional fields are announced by a flags
// byte. The decoder rejects unknown versions, ops and flag bits, oversized lengths and trailing
// bytes with a WireError.
//
// Version 2 (written now) adds the principal to put and consume (flag 4 of put, 8 of consume; an
// empty principal is not written) and the receipt nonce to consume (flag 16). Version 1 entries
// (still in logs on disk) decode as before: no principal, no nonce. Op 7 (setQuotas: a flags byte
// saying which of maxMessages, maxBytes, maxMailboxes follow, each f64) came later within version
// 2: the other ops are unchanged, so their entries stay readable by nodes from before it (a node
// that predates it refuses a setQuotas entry as undecodable: upgrade every node before using it).
// Flags 8 and 16 of setQuotas (maxPutIds, maxConsumeResults) came later still, the same way: a
// node from before them refuses an entry that sets either.
// Batches came the same way within version 2: consume flag 32 says a u16 `max` (at most MAX_WIRE_BATCH)
// follows the other fields, and op 8 (putBatch) is the user, a flags byte (1: principal), a u16
// count (at most MAX_WIRE_BATCH), then per message a flags byte (1: id, 2: ttlMs), [id], [ttlMs f64],
// body u32-prefixed; the bodies together at most MAX_WIRE_BODY_BYTES. Entries without them are
// byte for byte as before; a node that predates them refuses them as undecodable.
// Lease control and delayed delivery came after batches, the same way within version 2 (so they
// take the op numbers after putBatch): put flag 8 (delayMs, f64 after ttlMs), op 9 touch (user,
// receipt, leaseMs f64), op 10 redrive (user, a flags byte, 1: max f64 follows), op 11 nack with a
// delay (user, receipt, delayMs f64; a nack without one stays op 4, byte for byte). Older nodes
// refuse these entries: upgrade every node before using them.

import type { BatchPutItem, MailboxCommand, SetQuotasCommand } from './commands.js';
import { QUOTA_NAMES } from './quotas.js';
import { MAX_WIRE_BATCH, MAX_WIRE_BODY_BYTES, MAX_WIRE_STRING_BYTES } from './options.js';
import { ByteReader } from '../wire/reader.js';
import { ByteWriter } from '../wire/writer.js';
import { WireError } from '../wire/wire-error.js';

export const WIRE_VERSION = 2;
/** The format before principals and receipt nonces; decoded, never written. */
const WIRE_VERSION_1 = 1;

const enum Op {
  Put = 1,
  Consume = 2,
  Ack = 3,
  Nack = 4,
  Purge = 5,
  Expire = 6,
  SetQuotas = 7,
  PutBatch = 8,
  Touch = 9,
  Redrive = 10,
  NackDelay = 11,
}

/** Reused by every encode (they are synchronous and never nest); `copy` takes the bytes out. */
const scratch = new ByteWriter(64 * 1024);

export function encodeCommand(cmd: MailboxCommand): Uint8Array {
  const w = scratch;
  w.reset();
  w.u8(WIRE_VERSION);
  switch (cmd.op) {
    case 'put':
      w.u8(Op.Put);
      w.u16String(cmd.user);
      w.u8(
        (cmd.id !== undefined ? 1 : 0) |
          (cmd.ttlMs !== undefined ? 2 : 0) |
          (cmd.principal ? 4 : 0) |
          (cmd.delayMs !== undefined ? 8 : 0),
      );
      if (cmd.id !== undefined) w.u16String(cmd.id);
      if (cmd.ttlMs !== undefined) w.f64(cmd.ttlMs);
      if (cmd.delayMs !== undefined) w.f64(cmd.delayMs);
      if (cmd.principal) w.u16String(cmd.principal);
      w.u32Bytes(cmd.body);
      break;
    case 'consume':
      w.u8(Op.Consume);
      w.u16String(cmd.user);
      w.u8(
        (cmd.requestId !== undefined ? 1 : 0) |
          (cmd.leaseMs !== undefined ? 2 : 0) |
          (cmd.deadLetter ? 4 : 0) |
          (cmd.principal ? 8 : 0) |
          (cmd.receiptNonce !== undefined ? 16 : 0) |
          (cmd.max !== undefined ? 32 : 0),
      );
      if (cmd.requestId !== undefined) w.u16String(cmd.requestId);
      if (cmd.leaseMs !== undefined) w.f64(cmd.leaseMs);
      if (cmd.principal) w.u16String(cmd.principal);
      if (cmd.receiptNonce !== undefined) w.u16String(cmd.receiptNonce);
      if (cmd.max !== undefined) w.u16(cmd.max);
      break;
    case 'putBatch':
      w.u8(Op.PutBatch);
      w.u16String(cmd.user);
      w.u8(cmd.principal ? 1 : 0);
      if (cmd.principal) w.u16String(cmd.principal);
      w.u16(cmd.messages.length);
      for (const m of cmd.messages) {
        w.u8((m.id !== undefined ? 1 : 0) | (m.ttlMs !== undefined ? 2 : 0));
        if (m.id !== undefined) w.u16String(m.id);
        if (m.ttlMs !== undefined) w.f64(m.ttlMs);
        w.u32Bytes(m.body);
      }
      break;
    case 'ack':
    case 'nack':
      w.u8(cmd.op === 'ack' ? Op.Ack : cmd.delayMs === undefined ? Op.Nack : Op.NackDelay);
      w.u16String(cmd.user);
      w.u16String(cmd.receipt);
      if (cmd.op === 'nack' && cmd.delayMs !== undefined) w.f64(cmd.delayMs);
      break;
    case 'touch':
      w.u8(Op.Touch);
      w.u16String(cmd.user);
      w.u16String(cmd.receipt);
      w.f64(cmd.leaseMs);
      break;
    case 'redrive':
      w.u8(Op.Redrive);
      w.u16String(cmd.user);
      w.u8(cmd.max !== undefined ? 1 : 0);
      if (cmd.max !== undefined) w.f64(cmd.max);
      break;
    case 'purge':
      w.u8(Op.Purge);
      w.u16String(cmd.user);
      w.u8(cmd.deadLetter ? 1 : 0);
      break;
    case 'expire':
      w.u8(Op.Expire);
      break;
    case 'setQuotas': {
      w.u8(Op.SetQuotas);
      let flags = 0;
      QUOTA_NAMES.forEach((name, bit) => (flags |= cmd[name] !== undefined ? 1 << bit : 0));
      w.u8(flags);
      for (const name of QUOTA_NAMES) if (cmd[name] !== undefined) w.f64(cmd[name]);
      break;
    }
  }
  return w.copy();
}

/** The body is a view of `data` (no copy). */
export function decodeCommand(data: Uint8Array): MailboxCommand {
  const r = new ByteReader(data);
  const v = r.u8('version');
  if (v !== WIRE_VERSION && v !== WIRE_VERSION_1) throw new WireError('BAD_VERSION', `unsupported wire version ${v}`);
  const v2 = v === WIRE_VERSION;
  const op = r.u8('command op');
  let cmd: MailboxCommand;
  switch (op) {
    case Op.Put: {
      const user = r.u16String('user', MAX_WIRE_STRING_BYTES);
      const flags = flagsByte(r, v2 ? 0b1111 : 0b11);
      const id = flags & 1 ? r.u16String('id', MAX_WIRE_STRING_BYTES) : undefined;
      const ttlMs = flags & 2 ? r.f64('ttlMs') : undefined;
      const delayMs = flags & 8 ? r.f64('delayMs') : undefined;
      const principal = flags & 4 ? nonEmpty(r, 'principal') : undefined;
      const body = r.u32Bytes('body', MAX_WIRE_BODY_BYTES);
      cmd = { op: 'put', user, body };
      if (id !== undefined) cmd.id = id;
      if (ttlMs !== undefined) cmd.ttlMs = ttlMs;
      if (delayMs !== undefined) cmd.delayMs = delayMs;
      if (principal !== undefined) cmd.principal = principal;
      break;
    }
    case Op.Consume: {
      const user = r.u16String('user', MAX_WIRE_STRING_BYTES);
      const flags = flagsByte(r, v2 ? 0b111111 : 0b111);
      cmd = { op: 'consume', user };
      if (flags & 1) cmd.requestId = r.u16String('requestId', MAX_WIRE_STRING_BYTES);
      if (flags & 2) cmd.leaseMs = r.f64('leaseMs');
      if (flags & 4) cmd.deadLetter = true;
      if (flags & 8) cmd.principal = nonEmpty(r, 'principal');
      if (flags & 16) cmd.receiptNonce = r.u16String('receiptNonce', MAX_WIRE_STRING_BYTES);
      if (flags & 32) cmd.max = batchCount(r, 'max');
      break;
    }
    case Op.PutBatch: {
      if (!v2) throw new WireError('UNKNOWN_TAG', `unknown command op ${op}`);
      const user = r.u16String('user', MAX_WIRE_STRING_BYTES);
      const principal = flagsByte(r, 0b1) & 1 ? nonEmpty(r, 'principal') : undefined;
      const n = batchCount(r, 'batch count');
      const messages: BatchPutItem[] = [];
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        const flags = flagsByte(r, 0b11);
        const m: BatchPutItem = { body: new Uint8Array(0) };
        if (flags & 1) m.id = r.u16String('id', MAX_WIRE_STRING_BYTES);
        if (flags & 2) m.ttlMs = r.f64('ttlMs');
        m.body = r.u32Bytes('body', MAX_WIRE_BODY_BYTES - bytes);
        bytes += m.body.length;
        messages.push(m);
      }
      cmd = { op: 'putBatch', user, messages };
      if (principal !== undefined) cmd.principal = principal;
      break;
    }
    case Op.Ack:
    case Op.Nack: {
      const user = r.u16String('user', MAX_WIRE_STRING_BYTES);
      const receipt = r.u16String('receipt', MAX_WIRE_STRING_BYTES);
      cmd = { op: op === Op.Ack ? 'ack' : 'nack', user, receipt };
      break;
    }
    case Op.NackDelay:
    case Op.Touch:
    case Op.Redrive: {
      if (!v2) throw new WireError('UNKNOWN_TAG', `unknown command op ${op}`);
      const user = r.u16String('user', MAX_WIRE_STRING_BYTES);
      if (op === Op.Redrive) {
        const flags = flagsByte(r, 0b1);
        cmd = { op: 'redrive', user };
        if (flags & 1) cmd.max = r.f64('max');
        break;
      }
      const receipt = r.u16String('receipt', MAX_WIRE_STRING_BYTES);
      cmd =
        op === Op.Touch
          ? { op: 'touch', user, receipt, leaseMs: r.f64('leaseMs') }
          : { op: 'nack', user, receipt, delayMs: r.f64('delayMs') };
      break;
    }
    case Op.Purge: {
      const user = r.u16String('user', MAX_WIRE_STRING_BYTES);
      const flags = flagsByte(r, 0b1);
      cmd = { op: 'purge', user };
      if (flags & 1) cmd.deadLetter = true;
      break;
    }
    case Op.Expire:
      cmd = { op: 'expire' };
      break;
    case Op.SetQuotas: {
      if (!v2) throw new WireError('UNKNOWN_TAG', `unknown command op ${op}`);
      const flags = flagsByte(r, (1 << QUOTA_NAMES.length) - 1);
      const quotas: SetQuotasCommand = { op: 'setQuotas' };
      QUOTA_NAMES.forEach((name, bit) => {
        if (flags & (1 << bit)) quotas[name] = r.f64(name);
      });
      cmd = quotas;
      break;
    }
    default:
      throw new WireError('UNKNOWN_TAG', `unknown command op ${op}`);
  }
  r.end();
  return cmd;
}

/** A string that is written only when non-empty: an empty one is a second encoding, refused. */
function nonEmpty(r: ByteReader, what: string): string {
  const value = r.u16String(what, MAX_WIRE_STRING_BYTES);
  if (value === '') throw new WireError('INVALID', `empty ${what} is written as absent`);
  return value;
}

/** A batch size, at most MAX_WIRE_BATCH (whether it is a valid one, 0 say, is the mailbox's to say). */
function batchCount(r: ByteReader, what: string): number {
  const n = r.u16(what);
  if (n > MAX_WIRE_BATCH) throw new WireError('INVALID', `${what} ${n} over ${MAX_WIRE_BATCH}`);
  return n;
}

function flagsByte(r: ByteReader, allowed: number): number {
  const f = r.u8('flags');
  if ((f & ~allowed) !== 0) throw new WireError('UNKNOWN_TAG', `unknown flag bits 0x${f.toString(16)}`);
  return f;
}
