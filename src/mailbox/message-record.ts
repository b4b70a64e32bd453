// What the body store holds for one message: its client id's UTF-8 bytes (none when the message
// has no client id), then its body. The id lives here and not in the queue because it is read
// exactly when the body is (a delivery, a snapshot), while a string per queued message on the V8
// heap cost every replica about 67 bytes per message and a long-lived object for the collector to
// mark, once the put id table (which holds the same string) had forgotten it at the end of its
// dedupe window: the clients give every put an id. The store itself never looks inside a record.

import type { DeliveredMessage } from './commands.js';
import type { BodyReader, BodyStore } from './body-store.js';
import type { StoredMessage } from './seq-queue.js';
import { decodeUtf8, utf8Encoder, utf8Length } from '../wire/text.js';

/**
 * Where a record with an id is put together before the store copies it (`append` keeps a copy):
 * a fresh array per put measured about 1.5 µs more per put than the id string it replaces. A
 * record longer than this buffer gets one of its own.
 */
let assembly = new Uint8Array(4096);
const ASSEMBLY_KEPT_BYTES = 64 * 1024;

/** Appends the record of a message with `id` (or none) and `body`; returns its ref and the id's length in bytes. */
export function appendRecord(store: BodyStore, id: string | null, body: Uint8Array): { ref: number; idLength: number } {
  if (id === null) return { ref: store.append(body), idLength: 0 };
  const idLength = utf8Length(id);
  const n = idLength + body.length;
  if (n > assembly.length && n <= ASSEMBLY_KEPT_BYTES) assembly = new Uint8Array(ASSEMBLY_KEPT_BYTES);
  const record = n <= assembly.length ? assembly.subarray(0, n) : new Uint8Array(n);
  // An ASCII id (the usual one: UUIDs, tokens) copied char by char: TextEncoder's call costs more than that.
  if (idLength === id.length) for (let i = 0; i < idLength; i++) record[i] = id.charCodeAt(i);
  else utf8Encoder.encodeInto(id, record);
  record.set(body, idLength);
  return { ref: store.append(record), idLength };
}

/**
 * The message as delivered now: its metadata as of this delivery, and its id and body read from
 * its record at this moment. Read then, not later: a consume removes the message and frees its
 * record in the same apply, and whoever holds the result (a client reply, a remembered request
 * id) may read it long after.
 */
export function deliveryOf(m: StoredMessage, store: BodyStore): DeliveredMessage {
  const record = store.read(m.bodyRef, m.recordLength);
  return {
    id: m.idLength === 0 ? derivedId(m.seq) : decodeUtf8(record, 0, m.idLength, 'stored message id'),
    seq: m.seq,
    body: m.idLength === 0 ? record : record.subarray(m.idLength),
    enqueuedAt: m.enqueuedAt,
    expiresAt: m.expiresAt,
    deliveries: m.deliveries,
  };
}

/** The id of a message put without one. */
export function derivedId(seq: number): string {
  return `@${seq}`;
}

/**
 * Reads records for a writer that places a message's id and body apart (the snapshot image has
 * fields between them): a record with an id is read into a buffer reused from record to record;
 * a record longer than KEPT_BYTES gets a buffer of its own, so that one large body does not stay
 * allocated. A body without an id can be read straight into place from `bodies`.
 */
export class RecordReader {
  private static readonly KEPT_BYTES = 64 * 1024;
  private kept = new Uint8Array(1024);

  constructor(readonly bodies: BodyReader) {}

  /** The record of `m` (id, then body), valid until the next call. */
  record(m: StoredMessage): Uint8Array {
    const n = m.recordLength;
    let buf = this.kept;
    if (n > buf.length) {
      buf = new Uint8Array(n);
      if (n <= RecordReader.KEPT_BYTES) this.kept = buf;
    }
    this.bodies.readInto(m.bodyRef, n, buf, 0);
    return buf.subarray(0, n);
  }
}
