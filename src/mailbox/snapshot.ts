// Binary image of the mailbox state. Deterministic: every collection is written in its
// iteration (insertion) order, which the reader reproduces, so restore(snapshot()) behaves
// identically and re-snapshots to the same bytes. Size and time are linear in the content.
//
// Layout (little-endian): "FMBX" u16 version (5), now f64, lastSeq f64,
//   quotas { maxMessages f64, maxBytes f64, maxMailboxes f64, maxPutIds f64, maxConsumeResults f64 },
//   users u32 × { name, queue, dead, leases u32 × { leaseExpiresAt f64, nonce, message },
//                 delayed u32 × { visibleAt f64, message } (in visible-time order, ties by seq) },
//   puts u32 × { user, principal, id, seq f64, expiresAt f64 },
//   consumes u32 × { user, principal, requestId, expiresAt f64, result }.
// nonce and principal may be empty (a lease without nonce, the anonymous principal). Older images
// on disk are still read: version 4 has only the first three quotas (the id tables' bounds were
// fixed in the code, at what are now their defaults, and get those), version 3 no delayed messages
// either (none were), version 2 no quotas (the defaults apply), version 1 neither quotas
// nor nonce and principal ('' both). The cluster totals the quotas count are not written: they
// are recomputed from the mailboxes.
// message = seq f64, hasClientId u8, [clientId], enqueuedAt f64, expiresAt f64, deliveries u32, body.
// result = u8 1, then u8 3 (empty), or u8 2 (message) and a delivered message, or u8 4 (a batch
//   consume's messages) and u16 count (1..MAX_WIRE_BATCH) × delivered message; delivered message =
//   id, seq f64, body, enqueuedAt f64, expiresAt f64, deliveries u32, leased u8, [receipt,
//   leaseExpiresAt f64]. Kind 4 came later within version 3 and is read in versions 3 and 4 alike:
//   an image without a remembered batch is byte for byte as before; one with it is refused by older nodes.
// Strings are u16-prefixed UTF-8, bodies u32-prefixed, all little-endian (the byte toolkit's fixed
// family, src/wire). Reading checks every count and length against the bytes left and refuses
// anything out of order or out of range with a WireError. An image is read item by item from
// pieces cut anywhere (SnapshotReader), so that restoring a large one need not block.
// The image holds the message bodies inline: the writer reads them from the state's body store,
// and a reader appends them to the (empty) store of the state it makes.

import type { BodyStore } from './body-store.js';
import { appendRecord, RecordReader } from './message-record.js';
import type { DeliveredMessage } from './commands.js';
import {
  type ConsumeResult,
  type MailboxState,
  type RememberedConsume,
  type RememberedPut,
  UserBox,
  emptyMailboxState,
  receiptOf,
  rememberedKey,
  rememberedParts,
  consumeResultBytes,
} from './state.js';
import { MAX_WIRE_BATCH, MAX_WIRE_BODY_BYTES, MAX_WIRE_STRING_BYTES } from './options.js';
import { QUOTA_NAMES, QUOTA_NAMES_V3, quotaProblem } from './quotas.js';
import { SeqQueue, StoredMessage } from './seq-queue.js';
import type { SlotOrder, Slotted } from './slot-order.js';
import { principalProblem, receiptNonceProblem, userProblem } from './validate.js';
import { PieceDecoder } from '../wire/piece-decoder.js';
import type { ByteReader } from '../wire/reader.js';
import { utf8Length } from '../wire/text.js';
import { ByteWriter } from '../wire/writer.js';
import { WireError } from '../wire/wire-error.js';

const MAGIC = [0x46, 0x4d, 0x42, 0x58]; // "FMBX"
export const SNAPSHOT_VERSION = 5;
/** The format before the id tables' quotas; read, never written. */
const SNAPSHOT_VERSION_4 = 4;
/** The format before delayed delivery; read, never written. */
const SNAPSHOT_VERSION_3 = 3;
/** The format before quotas; read, never written. */
const SNAPSHOT_VERSION_2 = 2;
/** The format before principals and receipt nonces; read, never written. */
const SNAPSHOT_VERSION_1 = 1;

/** Format version of a remembered consume result, and its kinds. */
const RESULT_VERSION = 1;
const RESULT_MESSAGE = 2;
const RESULT_EMPTY = 3;
const RESULT_MESSAGES = 4;

/** Smallest encoding of a message: seq, flag, two times, deliveries, body length. */
const MIN_MESSAGE_BYTES = 8 + 1 + 8 + 8 + 4 + 4;
const MAX_ITEMS = 0xffffffff;

/** Bytes of the image before the first mailbox: magic, version, now, lastSeq, quotas, user count. */
export const SNAPSHOT_HEADER_BYTES = 4 + 2 + 8 + 8 + 8 * QUOTA_NAMES.length + 4;

/** Exact size of the image writeSnapshot makes: it allocates once and never copies. */
export function snapshotSize(s: MailboxState): number {
  let n = SNAPSHOT_HEADER_BYTES;
  for (const [name, box] of s.users) n += 2 + utf8Length(name) + boxBodySize(box);
  n += 4;
  for (const p of s.puts.values()) n += putSize(p);
  n += 4;
  for (const c of s.consumes.values()) n += consumeSize(c);
  return n;
}

/** Encoded size of one mailbox after its name: queue, dead letters, leases. */
function boxBodySize(box: UserBox): number {
  let n = 4 + 4 + 4 + 4;
  for (const m of box.queue) n += messageSize(m);
  for (const m of box.dead ?? []) n += messageSize(m);
  for (const lease of box.leases?.values() ?? []) n += 8 + 2 + utf8Length(lease.nonce) + messageSize(lease.msg);
  for (const d of box.delayed ?? []) n += 8 + messageSize(d.msg);
  return n;
}

/** The three u16-prefixed strings of a remembered key: its bytes but for the two NULs between them. */
function keyPartsSize(key: string): number {
  return 2 + 2 + 2 + utf8Length(key) - 2;
}

function putSize(p: RememberedPut): number {
  return keyPartsSize(p.key) + 16;
}

function consumeSize(c: RememberedConsume): number {
  return keyPartsSize(c.key) + 8 + consumeResultSize(c.result);
}

function messageSize(m: StoredMessage): number {
  return 8 + 1 + (m.idLength === 0 ? 0 : 2 + m.idLength) + 8 + 8 + 4 + 4 + m.bodyLength;
}

export function writeSnapshot(s: MailboxState): Uint8Array {
  const w = ByteWriter.exact(snapshotSize(s));
  writeHeader(w, s);
  const records = new RecordReader(s.bodies.scan());
  for (const [name, box] of s.users) {
    w.u16String(name);
    writeBoxBody(w, box, records);
  }
  w.u32(s.puts.size);
  for (const p of s.puts.values()) writePut(w, p);
  w.u32(s.consumes.size);
  for (const c of s.consumes.values()) writeConsume(w, c);
  return w.finish();
}

/** Magic, version, the scalars and the number of mailboxes that follow (SNAPSHOT_HEADER_BYTES). */
export function writeHeader(w: ByteWriter, s: MailboxState): void {
  for (const b of MAGIC) w.u8(b);
  w.u16(SNAPSHOT_VERSION);
  w.f64(s.now);
  w.f64(s.lastSeq);
  for (const name of QUOTA_NAMES) w.f64(s.quotas[name]);
  w.u32(s.users.size);
}

export function writeBoxBody(w: ByteWriter, box: UserBox, records: RecordReader): void {
  writeQueue(w, box.queue, records);
  writeQueue(w, box.dead, records);
  w.u32(box.leases?.size ?? 0);
  for (const lease of box.leases?.values() ?? []) {
    w.f64(lease.leaseExpiresAt);
    w.u16String(lease.nonce);
    writeMessage(w, lease.msg, records);
  }
  w.u32(box.delayed?.size ?? 0);
  for (const d of box.delayed ?? []) {
    w.f64(d.visibleAt);
    writeMessage(w, d.msg, records);
  }
}

export function writePut(w: ByteWriter, p: RememberedPut): void {
  writeKeyParts(w, p.key);
  w.f64(p.seq);
  w.f64(p.expiresAt);
}

export function writeConsume(w: ByteWriter, c: RememberedConsume): void {
  writeKeyParts(w, c.key);
  w.f64(c.expiresAt);
  writeConsumeResult(w, c.result);
}

/** A remembered key as the image has it: user, principal and id, each a u16-prefixed string. */
function writeKeyParts(w: ByteWriter, key: string): void {
  const [user, principal, token] = rememberedParts(key);
  w.u16String(user);
  w.u16String(principal);
  w.u16String(token);
}

/**
 * Structurally the Raft `RestoreSink`: takes an image a piece at a time into a state beside the
 * live one, which `finish` swaps in (or throws WireError, the live state untouched) and `abort`
 * drops.
 */
export interface ImageSink {
  write(piece: Uint8Array): void;
  finish(): void;
  abort(): void;
}

/** Decodes a whole image (a SnapshotReader fed it in one piece, bodies kept in memory); throws WireError on bad input. */
export function readSnapshot(data: Uint8Array, unsafeLeaseReceiptReuse = false): MailboxState {
  const reader = new SnapshotReader(data.length, unsafeLeaseReceiptReuse);
  try {
    reader.write(data);
    return reader.finish();
  } catch (err) {
    reader.abort();
    throw err;
  }
}

/** Where a SnapshotReader is in the layout: the item its next step reads. */
const enum Part {
  Header,
  /** A mailbox's name and its number of queued messages. */
  Box,
  /** A queued message, or once they are read the number of dead letters. */
  Queue,
  /** A dead letter, or once they are read the number of leases. */
  Dead,
  /** A lease, or once they are read the number of delayed messages (version 4) or the end of the mailbox. */
  Leases,
  /** A delayed message, or once they are read the end of the mailbox. */
  Delayed,
  PutCount,
  /** A remembered put id, or once they are read the number of consume results. */
  Puts,
  /** A remembered consume result, or once they are read the end of the image. */
  Consumes,
}

/**
 * Decodes an image of `size` bytes fed in pieces cut anywhere, one item (a mailbox's name, a
 * message, a lease, a remembered id) per step (see PieceDecoder), into a state of its own, with
 * the bodies in `bodies` (an empty store of its own): the state being restored stays live until
 * the caller swaps this one in. The checks are those of the layout above, in the same order,
 * with the same WireErrors.
 */
export class SnapshotReader {
  private readonly state: MailboxState;
  private readonly decoder: PieceDecoder;
  private part = Part.Header;
  private v2 = false;
  /** Version 4 and later: mailboxes end with their delayed messages. */
  private v4 = false;
  /** The last delayed message read, to check their order. */
  private prevVisibleAt = -Infinity;
  /** Bytes the version-2 fields add: a u16 length prefix each. */
  private field = 0;
  private boxesLeft = 0;
  /** Items left in the list being read. */
  private left = 0;
  private name = '';
  private box = new UserBox('');
  /** The queue being read (the box's queue, then its dead letters) and the last seq read into it. */
  private list = this.box.queue;
  private prevSeq = -Infinity;

  constructor(
    size: number,
    private readonly unsafeLeaseReceiptReuse = false,
    bodies?: BodyStore,
  ) {
    this.state = emptyMailboxState(bodies);
    this.decoder = new PieceDecoder(size, (r) => this.step(r));
  }

  /** Decodes what it can of the next piece; throws WireError on bad input. */
  write(piece: Uint8Array): void {
    this.decoder.write(piece);
  }

  /** The decoded state, once every byte was written; throws WireError if the image is incomplete. */
  finish(): MailboxState {
    this.decoder.finish();
    return this.state;
  }

  /** Gives up on the image: drops the bodies read so far (the reader is not used again). */
  abort(): void {
    this.state.bodies.discard();
  }

  private step(r: ByteReader): boolean {
    switch (this.part) {
      case Part.Header:
        this.readHeader(r);
        return true;
      case Part.Box: {
        const name = r.u16String('user', MAX_WIRE_STRING_BYTES);
        if (this.state.users.has(name)) throw new WireError('INVALID', `user ${name} appears twice`);
        const bad = userProblem(name);
        if (bad) throw new WireError('INVALID', `bad user in snapshot: ${bad}`);
        const messages = r.u32Count('messages', MAX_ITEMS, MIN_MESSAGE_BYTES);
        this.name = name;
        this.box = new UserBox(name);
        this.startList(this.box.queue, Part.Queue, messages);
        return true;
      }
      case Part.Queue:
        if (this.left > 0) this.readQueued(r);
        else this.startList(new SeqQueue(), Part.Dead, r.u32Count('messages', MAX_ITEMS, MIN_MESSAGE_BYTES));
        return true;
      case Part.Dead:
        if (this.left > 0) {
          this.readQueued(r);
        } else {
          const leases = r.u32Count('leases', MAX_ITEMS, 8 + this.field + MIN_MESSAGE_BYTES);
          const box = this.box;
          if (this.list.size > 0) box.dead = this.list;
          box.minExpiry = Math.min(box.queue.earliestExpiry(), this.list.earliestExpiry());
          this.part = Part.Leases;
          this.left = leases;
        }
        return true;
      case Part.Leases:
        if (this.left > 0) {
          this.readLease(r);
        } else if (this.v4) {
          this.left = r.u32Count('delayed', MAX_ITEMS, 8 + MIN_MESSAGE_BYTES);
          this.part = Part.Delayed;
          this.prevVisibleAt = -Infinity;
          this.prevSeq = -Infinity;
        } else {
          this.endBox();
        }
        return true;
      case Part.Delayed:
        if (this.left > 0) this.readDelayed(r);
        else this.endBox();
        return true;
      case Part.PutCount:
        this.left = r.u32Count('puts', MAX_ITEMS, 2 + this.field + 2 + 16);
        this.part = Part.Puts;
        return true;
      case Part.Puts:
        if (this.left > 0) {
          this.readPut(r);
        } else {
          this.left = r.u32Count('consumes', MAX_ITEMS, 2 + this.field + 2 + 8 + 2);
          this.part = Part.Consumes;
        }
        return true;
      case Part.Consumes:
        if (this.left === 0) return false;
        this.readConsume(r);
        return true;
    }
  }

  private readHeader(r: ByteReader): void {
    for (const b of MAGIC) if (r.u8('magic') !== b) throw new WireError('BAD_VERSION', 'not a mailbox snapshot (bad magic)');
    const version = r.u16('version');
    if (
      version !== SNAPSHOT_VERSION &&
      version !== SNAPSHOT_VERSION_4 &&
      version !== SNAPSHOT_VERSION_3 &&
      version !== SNAPSHOT_VERSION_2 &&
      version !== SNAPSHOT_VERSION_1
    ) {
      throw new WireError('BAD_VERSION', `unsupported snapshot version ${version}`);
    }
    const now = r.f64('now');
    const lastSeq = r.f64('lastSeq');
    const quotas = { ...this.state.quotas };
    if (version >= SNAPSHOT_VERSION_3) {
      for (const name of version >= SNAPSHOT_VERSION ? QUOTA_NAMES : QUOTA_NAMES_V3) {
        const value = r.f64(name);
        const problem = quotaProblem(name, value);
        if (problem !== null) throw new WireError('INVALID', `bad quota in snapshot: ${problem}`);
        quotas[name] = value;
      }
    }
    const users = r.u32Count('users', MAX_ITEMS, 2 + 12);
    const s = this.state;
    s.now = now;
    s.lastSeq = lastSeq;
    s.quotas = quotas;
    this.v2 = version >= SNAPSHOT_VERSION_2;
    this.v4 = version >= SNAPSHOT_VERSION_4;
    this.field = this.v2 ? 2 : 0;
    this.boxesLeft = users;
    this.part = users > 0 ? Part.Box : Part.PutCount;
  }

  private startList(list: SeqQueue, part: Part, items: number): void {
    this.list = list;
    this.part = part;
    this.left = items;
    this.prevSeq = -Infinity;
  }

  private readQueued(r: ByteReader): void {
    const m = readMessage(r, this.state.bodies);
    if (m.seq <= this.prevSeq) throw new WireError('INVALID', 'queue not in seq order');
    this.prevSeq = m.seq;
    this.list.push(m);
    this.left--;
  }

  private readLease(r: ByteReader): void {
    const leaseExpiresAt = r.f64('leaseExpiresAt');
    const nonce = this.v2 ? readNonce(r) : '';
    const msg = readMessage(r, this.state.bodies);
    const box = this.box;
    box.leaseMap().set(receiptOf(msg, nonce, this.unsafeLeaseReceiptReuse), { msg, leaseExpiresAt, nonce });
    box.leaseBytes += msg.bodyLength;
    box.minLeaseEnd = Math.min(box.minLeaseEnd, leaseExpiresAt);
    this.left--;
  }

  private readDelayed(r: ByteReader): void {
    const visibleAt = r.f64('visibleAt');
    const msg = readMessage(r, this.state.bodies);
    if (visibleAt < this.prevVisibleAt || (visibleAt === this.prevVisibleAt && msg.seq <= this.prevSeq)) {
      throw new WireError('INVALID', 'delayed messages not in visible-time order');
    }
    this.prevVisibleAt = visibleAt;
    this.prevSeq = msg.seq;
    const box = this.box;
    box.delayedSet().add(msg, visibleAt);
    box.minExpiry = Math.min(box.minExpiry, msg.expiresAt);
    this.left--;
  }

  private endBox(): void {
    const s = this.state;
    s.users.set(this.name, this.box);
    s.boxOrder.append(this.box);
    s.sweeps.schedule(this.box);
    s.oldest.update(this.box);
    s.heldMessages += this.box.held;
    s.heldBytes += this.box.heldBytes;
    s.deadMessages += this.box.dead?.size ?? 0;
    s.deadBytes += this.box.dead?.bytes ?? 0;
    this.boxesLeft--;
    this.part = this.boxesLeft > 0 ? Part.Box : Part.PutCount;
  }

  private readPut(r: ByteReader): void {
    const user = r.u16String('user', MAX_WIRE_STRING_BYTES);
    const principal = this.v2 ? readPrincipal(r) : '';
    const id = r.u16String('id', MAX_WIRE_STRING_BYTES);
    const seq = r.f64('seq');
    const expiresAt = r.f64('expiresAt');
    const put: RememberedPut = { key: keyOf(user, principal, id), seq, expiresAt, slot: -1 };
    remember(this.state.puts, this.state.putOrder, put.key, put);
    this.left--;
  }

  private readConsume(r: ByteReader): void {
    const user = r.u16String('user', MAX_WIRE_STRING_BYTES);
    const principal = this.v2 ? readPrincipal(r) : '';
    const requestId = r.u16String('requestId', MAX_WIRE_STRING_BYTES);
    const expiresAt = r.f64('expiresAt');
    const result = readConsumeResult(r);
    const bytes = consumeResultBytes(result);
    const s = this.state;
    const consume: RememberedConsume = { key: keyOf(user, principal, requestId), result, bytes, expiresAt, slot: -1 };
    remember(s.consumes, s.consumeOrder, consume.key, consume);
    s.consumeBytes += bytes;
    this.left--;
  }
}

/** A lease's receipt nonce: '' (taken without one) or what the consume carried. */
function readNonce(r: ByteReader): string {
  const nonce = r.u16String('nonce', MAX_WIRE_STRING_BYTES);
  if (nonce !== '' && receiptNonceProblem(nonce) !== null) throw new WireError('INVALID', 'bad receipt nonce in snapshot');
  return nonce;
}

/**
 * The key of a remembered entry read from an image. A NUL in any part would make two entries share
 * a key, or the key split back into other parts: no command can make one, so the image is bad.
 */
function keyOf(user: string, principal: string, token: string): string {
  if (user.includes('\u0000') || principal.includes('\u0000') || token.includes('\u0000')) {
    throw new WireError('INVALID', 'a remembered id in the snapshot holds a NUL');
  }
  return rememberedKey(user, principal, token);
}

function readPrincipal(r: ByteReader): string {
  const principal = r.u16String('principal', MAX_WIRE_STRING_BYTES);
  if (principalProblem(principal) !== null) throw new WireError('INVALID', 'bad principal in snapshot');
  return principal;
}

function writeQueue(w: ByteWriter, q: SeqQueue | null, records: RecordReader): void {
  w.u32(q?.size ?? 0);
  for (const m of q ?? []) writeMessage(w, m, records);
}

/** The client id as a u16-length string and the body as u32-length bytes, both taken from the message's record. */
function writeMessage(w: ByteWriter, m: StoredMessage, records: RecordReader): void {
  w.f64(m.seq);
  if (m.idLength === 0) {
    w.u8(0);
    writeMessageTimes(w, m);
    w.u32Filled(m.bodyLength, (buf, at) => records.bodies.readInto(m.bodyRef, m.bodyLength, buf, at));
  } else {
    const record = records.record(m);
    w.u8(1);
    w.u16(m.idLength);
    w.raw(record.subarray(0, m.idLength));
    writeMessageTimes(w, m);
    w.u32Bytes(record.subarray(m.idLength));
  }
}

function writeMessageTimes(w: ByteWriter, m: StoredMessage): void {
  w.f64(m.enqueuedAt);
  w.f64(m.expiresAt);
  w.u32(m.deliveries);
}

/** A message of the image, its record (id and body) appended to `bodies`. */
function readMessage(r: ByteReader, bodies: BodyStore): StoredMessage {
  const seq = r.f64('seq');
  const flag = r.u8('hasClientId');
  if (flag > 1) throw new WireError('BAD_BOOLEAN', 'bad client id flag');
  const clientId = flag === 1 ? r.u16String('clientId', MAX_WIRE_STRING_BYTES) : null;
  // An empty id would come back out as none (a record with no id bytes): no put can give one.
  if (clientId === '') throw new WireError('INVALID', 'empty client id in snapshot');
  const enqueuedAt = r.f64('enqueuedAt');
  const expiresAt = r.f64('expiresAt');
  const deliveries = r.u32('deliveries');
  const body = r.u32Bytes('body', MAX_WIRE_BODY_BYTES);
  const record = appendRecord(bodies, clientId, body);
  return new StoredMessage(seq, record.idLength, record.ref, body.length, enqueuedAt, expiresAt, deliveries);
}

/** Exact encoded size of a remembered consume result, as writeConsumeResult writes it. */
function consumeResultSize(res: ConsumeResult): number {
  if (res.kind === 'empty') return 2;
  if (res.kind === 'message') return 2 + deliveredSize(res.message);
  return 2 + 2 + res.messages.reduce((n, m) => n + deliveredSize(m), 0);
}

function deliveredSize(m: DeliveredMessage): number {
  const leased = m.receipt !== undefined && m.leaseExpiresAt !== undefined;
  return 2 + utf8Length(m.id) + 8 + 4 + m.body.length + 8 + 8 + 4 + 1 + (leased ? 2 + utf8Length(m.receipt!) + 8 : 0);
}

function writeConsumeResult(w: ByteWriter, res: ConsumeResult): void {
  w.u8(RESULT_VERSION);
  if (res.kind === 'empty') {
    w.u8(RESULT_EMPTY);
  } else if (res.kind === 'message') {
    w.u8(RESULT_MESSAGE);
    writeDelivered(w, res.message);
  } else {
    w.u8(RESULT_MESSAGES);
    w.u16(res.messages.length);
    for (const m of res.messages) writeDelivered(w, m);
  }
}

function writeDelivered(w: ByteWriter, m: DeliveredMessage): void {
  w.u16String(m.id);
  w.f64(m.seq);
  w.u32Bytes(m.body);
  w.f64(m.enqueuedAt);
  w.f64(m.expiresAt);
  w.u32(m.deliveries);
  const leased = m.receipt !== undefined && m.leaseExpiresAt !== undefined;
  w.u8(leased ? 1 : 0);
  if (leased) {
    w.u16String(m.receipt!);
    w.f64(m.leaseExpiresAt!);
  }
}

function readConsumeResult(r: ByteReader): ConsumeResult {
  const version = r.u8('result version');
  if (version !== RESULT_VERSION) throw new WireError('BAD_VERSION', `unsupported consume result version ${version}`);
  const kind = r.u8('result kind');
  if (kind === RESULT_EMPTY) return { kind: 'empty' };
  if (kind === RESULT_MESSAGE) return { kind: 'message', message: readDelivered(r) };
  if (kind !== RESULT_MESSAGES) throw new WireError('UNKNOWN_TAG', `unknown consume result kind ${kind}`);
  const n = r.u16('result count');
  if (n < 1 || n > MAX_WIRE_BATCH) throw new WireError('INVALID', `result count ${n} outside 1..${MAX_WIRE_BATCH}`);
  const messages: DeliveredMessage[] = [];
  for (let i = 0; i < n; i++) messages.push(readDelivered(r));
  return { kind: 'messages', messages };
}

function readDelivered(r: ByteReader): DeliveredMessage {
  const id = r.u16String('id', MAX_WIRE_STRING_BYTES);
  const seq = nonNegativeInteger(r, 'seq');
  // A copy: the result is handed to clients on retries and must not pin the whole image.
  const body = r.u32Bytes('body', MAX_WIRE_BODY_BYTES).slice();
  const enqueuedAt = integer(r, 'enqueuedAt');
  const expiresAt = integer(r, 'expiresAt');
  const deliveries = r.u32('deliveries');
  const message: DeliveredMessage = { id, seq, body, enqueuedAt, expiresAt, deliveries };
  if (r.bool('leased')) {
    message.receipt = r.u16String('receipt', MAX_WIRE_STRING_BYTES);
    message.leaseExpiresAt = integer(r, 'leaseExpiresAt');
  }
  return message;
}

/** A non-negative safe integer carried as f64. */
function nonNegativeInteger(r: ByteReader, what: string): number {
  const v = r.f64(what);
  if (!Number.isSafeInteger(v) || v < 0) throw new WireError('BAD_INTEGER', `${what} must be a non-negative integer`);
  return v;
}

/** A timestamp in ms carried as f64: any safe integer. */
function integer(r: ByteReader, what: string): number {
  const v = r.f64(what);
  if (!Number.isSafeInteger(v)) throw new WireError('BAD_INTEGER', `${what} must be an integer`);
  return v;
}

/** Sets `key` to `entry` as a Map does (a key it holds keeps its place), and keeps the order beside it. */
function remember<T extends Slotted>(map: Map<string, T>, order: SlotOrder<T>, key: string, entry: T): void {
  const old = map.get(key);
  map.set(key, entry);
  if (old === undefined) order.append(entry);
  else order.replace(old, entry);
}
