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
 * A buffer reused from record to record, grown up to KEPT_BYTES: a record longer than that gets
 * an array of its own, so that one large body does not stay allocated.
 */
class Scratch {
  private static readonly KEPT_BYTES = 64 * 1024;
  private kept = new Uint8Array(1024);

  /** `n` bytes to write into, valid until the next call. */
  take(n: number): Uint8Array {
    if (n > this.kept.length) {
      if (n > Scratch.KEPT_BYTES) return new Uint8Array(n);
      this.kept = new Uint8Array(Scratch.KEPT_BYTES);
    }
    return this.kept.subarray(0, n);
  }
}

/**
 * Where a record with an id is put together before the store copies it (`append` keeps a copy):
 * a fresh array per put measured about 1.5 µs more per put than the id string it replaces.
 */
const assembly = new Scratch();

/** Appends the record of a message with `id` (or none) and `body`; returns its ref and the id's length in bytes. */
export function appendRecord(store: BodyStore, id: string | null, body: Uint8Array): { ref: number; idLength: number } {
  if (id === null) return { ref: store.append(body), idLength: 0 };
  const idLength = utf8Length(id);
  const record = assembly.take(idLength + body.length);
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
 * fields between them): a record with an id is read into a scratch buffer of the reader's. A body
 * without an id can be read straight into place from `bodies`.
 */
export class RecordReader {
  private readonly scratch = new Scratch();

  constructor(readonly bodies: BodyReader) {}

  /** The record of `m` (id, then body), valid until the next call. */
  record(m: StoredMessage): Uint8Array {
    const record = this.scratch.take(m.recordLength);
    this.bodies.readInto(m.bodyRef, record.length, record, 0);
    return record;
  }
}
