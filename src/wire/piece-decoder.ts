// Decodes a record of known size that arrives in pieces cut anywhere (a snapshot handed to its
// state machine a slice at a time), item by item, with the checks a ByteReader makes over a whole
// record: a step reads one item from a reader over the bytes at hand, whose counts are checked
// against the whole record's bytes left. A step that runs out of bytes at hand (TRUNCATED while
// more are to come) is tried again from its start once there are twice as many, so a long item
// is read again only a logarithmic number of times. Steps read an item whole before they change
// anything, so an attempt cut short leaves no trace.

import { ByteReader } from './reader.js';
import { WireError } from './wire-error.js';

/** Reads one item; true while more follow, false once the record is complete. */
export type DecodeStep = (r: ByteReader) => boolean;

export class PieceDecoder {
  /** Bytes written and not read yet: the start of an item cut short, then newer pieces. */
  private unread: Uint8Array[] = [];
  private unreadBytes = 0;
  private received = 0;
  /** Unread bytes needed before the steps are tried again (more after one ran out of bytes). */
  private want = 1;
  private complete = false;
  private failure: unknown = null;

  constructor(
    readonly size: number,
    private readonly step: DecodeStep,
  ) {}

  /** Reads what it can of `piece`; throws WireError on bad input (and on every write after). */
  write(piece: Uint8Array): void {
    if (this.failure !== null) throw this.failure;
    if (piece.length > this.size - this.received) {
      this.fail(new WireError('TRAILING_BYTES', `${this.received + piece.length - this.size} bytes after the end of the record`));
    }
    if (piece.length === 0) return;
    this.unread.push(piece);
    this.unreadBytes += piece.length;
    this.received += piece.length;
    if (this.unreadBytes >= this.want || this.received === this.size) this.run();
  }

  /** All bytes have been written: throws WireError unless they made the whole record. */
  finish(): void {
    if (this.failure !== null) throw this.failure;
    if (this.received < this.size) this.fail(new WireError('TRUNCATED', `input ends after ${this.received} of ${this.size} bytes`));
    // A record of no bytes, or one whose last steps read nothing, is completed here.
    if (!this.complete) this.run();
  }

  private run(): void {
    const buf = this.unread.length === 1 ? this.unread[0]! : concat(this.unread, this.unreadBytes);
    this.unread = [];
    this.unreadBytes = 0;
    const allIn = this.received === this.size;
    const r = new ByteReader(buf, this.size - this.received);
    let start = 0;
    try {
      while (!this.complete) {
        if (r.remaining === 0 && !allIn) break;
        start = r.offset;
        if (!this.step(r)) this.complete = true;
      }
    } catch (err) {
      if (allIn || !(err instanceof WireError) || err.code !== 'TRUNCATED') this.fail(err);
      const cut = buf.subarray(start);
      this.unread = [cut];
      this.unreadBytes = cut.length;
      this.want = 2 * cut.length + 1;
      return;
    }
    this.want = 1;
    if (this.complete && r.remainingInRecord > 0) {
      this.fail(new WireError('TRAILING_BYTES', `${r.remainingInRecord} bytes after the end of the record`));
    }
  }

  private fail(err: unknown): never {
    this.failure = err;
    this.unread = [];
    throw err;
  }
}

function concat(pieces: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
