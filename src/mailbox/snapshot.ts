// Binary image of the mailbox state. Deterministic: every collection is written in its
// iteration (insertion) order, which the reader reproduces, so restore(snapshot()) behaves
// identically and re-snapshots to the same bytes. Size and time are linear in the content.
//
// Layout (little-endian): "FMBX" u16 version, now f64, lastSeq f64,
//   users u32 × { name, queue, dead, leases u32 × { leaseExpiresAt f64, message } },
//   puts u32 × { user, id, seq f64, expiresAt f64 },
//   consumes u32 × { user, requestId, expiresAt f64, result (wire format) }.
// message = seq f64, hasClientId u8, [clientId], enqueuedAt f64, expiresAt f64, deliveries u32, body.

import { ByteReader, ByteWriter, MailboxDecodeError, utf8Length } from './binary.js';
import { readResult, resultSize, writeResult } from './codec.js';
import { type MailboxState, UserBox, emptyMailboxState, receiptOf } from './state.js';
import { MAX_WIRE_BODY_BYTES, MAX_WIRE_STRING_BYTES } from './options.js';
import { SeqQueue, StoredMessage } from './seq-queue.js';
import { userProblem } from './validate.js';

const MAGIC = [0x46, 0x4d, 0x42, 0x58]; // "FMBX"
export const SNAPSHOT_VERSION = 1;

/** Smallest encoding of a message: seq, flag, two times, deliveries, body length. */
const MIN_MESSAGE_BYTES = 8 + 1 + 8 + 8 + 4 + 4;
const MAX_ITEMS = 0xffffffff;

/** Exact size of the image writeSnapshot makes: it allocates once and never copies. */
export function snapshotSize(s: MailboxState): number {
  let n = 4 + 2 + 8 + 8 + 4;
  for (const [name, box] of s.users) {
    n += 2 + utf8Length(name) + 4 + 4 + 4;
    for (const m of box.queue) n += messageSize(m);
    for (const m of box.dead ?? []) n += messageSize(m);
    for (const lease of box.leases?.values() ?? []) n += 8 + messageSize(lease.msg);
  }
  n += 4;
  for (const p of s.puts.values()) n += 2 + utf8Length(p.user) + 2 + utf8Length(p.id) + 16;
  n += 4;
  for (const c of s.consumes.values()) n += 2 + utf8Length(c.user) + 2 + utf8Length(c.requestId) + 8 + resultSize(c.result);
  return n;
}

function messageSize(m: StoredMessage): number {
  return 8 + 1 + (m.clientId === null ? 0 : 2 + utf8Length(m.clientId)) + 8 + 8 + 4 + 4 + m.body.length;
}

export function writeSnapshot(s: MailboxState): Uint8Array {
  const w = new ByteWriter(snapshotSize(s));
  for (const b of MAGIC) w.u8(b);
  w.u16(SNAPSHOT_VERSION);
  w.f64(s.now);
  w.f64(s.lastSeq);
  w.u32(s.users.size);
  for (const [name, box] of s.users) {
    w.str(name);
    writeQueue(w, box.queue);
    writeQueue(w, box.dead);
    w.u32(box.leases?.size ?? 0);
    for (const lease of box.leases?.values() ?? []) {
      w.f64(lease.leaseExpiresAt);
      writeMessage(w, lease.msg);
    }
  }
  w.u32(s.puts.size);
  for (const p of s.puts.values()) {
    w.str(p.user);
    w.str(p.id);
    w.f64(p.seq);
    w.f64(p.expiresAt);
  }
  w.u32(s.consumes.size);
  for (const c of s.consumes.values()) {
    w.str(c.user);
    w.str(c.requestId);
    w.f64(c.expiresAt);
    writeResult(w, c.result);
  }
  return w.detach();
}

export function readSnapshot(data: Uint8Array, unsafeLeaseReceiptReuse = false): MailboxState {
  const r = new ByteReader(data);
  for (const b of MAGIC) if (r.u8('magic') !== b) throw new MailboxDecodeError('not a mailbox snapshot (bad magic)');
  const version = r.u16('version');
  if (version !== SNAPSHOT_VERSION) throw new MailboxDecodeError(`unsupported snapshot version ${version}`);
  const s = emptyMailboxState();
  s.now = r.f64('now');
  s.lastSeq = r.f64('lastSeq');
  const users = r.count('users', MAX_ITEMS, 2 + 12);
  for (let i = 0; i < users; i++) {
    const name = r.str('user', MAX_WIRE_STRING_BYTES);
    if (s.users.has(name)) throw new MailboxDecodeError(`user ${name} appears twice`);
    const bad = userProblem(name);
    if (bad) throw new MailboxDecodeError(`bad user in snapshot: ${bad}`);
    const box = new UserBox();
    readQueue(r, box.queue);
    const dead = new SeqQueue();
    readQueue(r, dead);
    if (dead.size > 0) box.dead = dead;
    box.minExpiry = Math.min(box.queue.earliestExpiry(), dead.earliestExpiry());
    const leases = r.count('leases', MAX_ITEMS, 8 + MIN_MESSAGE_BYTES);
    for (let j = 0; j < leases; j++) {
      const leaseExpiresAt = r.f64('leaseExpiresAt');
      const msg = readMessage(r);
      box.leaseMap().set(receiptOf(msg, unsafeLeaseReceiptReuse), { msg, leaseExpiresAt });
      box.leaseBytes += msg.body.length;
      box.minLeaseEnd = Math.min(box.minLeaseEnd, leaseExpiresAt);
    }
    s.users.set(name, box);
  }
  const puts = r.count('puts', MAX_ITEMS, 2 + 2 + 16);
  for (let i = 0; i < puts; i++) {
    const user = r.str('user', MAX_WIRE_STRING_BYTES);
    const id = r.str('id', MAX_WIRE_STRING_BYTES);
    const seq = r.f64('seq');
    const expiresAt = r.f64('expiresAt');
    s.puts.set(`${user}\u0000${id}`, { user, id, seq, expiresAt });
  }
  const consumes = r.count('consumes', MAX_ITEMS, 2 + 2 + 8 + 2);
  for (let i = 0; i < consumes; i++) {
    const user = r.str('user', MAX_WIRE_STRING_BYTES);
    const requestId = r.str('requestId', MAX_WIRE_STRING_BYTES);
    const expiresAt = r.f64('expiresAt');
    const result = readResult(r);
    const bytes = result.kind === 'message' ? result.message.body.length : 0;
    s.consumes.set(`${user}\u0000${requestId}`, { user, requestId, result, bytes, expiresAt });
    s.consumeBytes += bytes;
  }
  r.end();
  return s;
}

function writeQueue(w: ByteWriter, q: SeqQueue | null): void {
  w.u32(q?.size ?? 0);
  for (const m of q ?? []) writeMessage(w, m);
}

function readQueue(r: ByteReader, q: SeqQueue): void {
  const n = r.count('messages', MAX_ITEMS, MIN_MESSAGE_BYTES);
  let prev = -Infinity;
  for (let i = 0; i < n; i++) {
    const m = readMessage(r);
    if (m.seq <= prev) throw new MailboxDecodeError('queue not in seq order');
    prev = m.seq;
    q.push(m);
  }
}

function writeMessage(w: ByteWriter, m: StoredMessage): void {
  w.f64(m.seq);
  w.u8(m.clientId === null ? 0 : 1);
  if (m.clientId !== null) w.str(m.clientId);
  w.f64(m.enqueuedAt);
  w.f64(m.expiresAt);
  w.u32(m.deliveries);
  w.latin1(m.body);
}

function readMessage(r: ByteReader): StoredMessage {
  const seq = r.f64('seq');
  const flag = r.u8('hasClientId');
  if (flag > 1) throw new MailboxDecodeError('bad client id flag');
  const clientId = flag === 1 ? r.str('clientId', MAX_WIRE_STRING_BYTES) : null;
  const enqueuedAt = r.f64('enqueuedAt');
  const expiresAt = r.f64('expiresAt');
  const deliveries = r.u32('deliveries');
  const body = r.latin1('body', MAX_WIRE_BODY_BYTES);
  return new StoredMessage(seq, clientId, body, enqueuedAt, expiresAt, deliveries);
}
