// A point-in-time snapshot of the mailbox state, written out a bounded piece at a time while
// commands keep being applied: the bytes, concatenated, are exactly what writeSnapshot would have
// made at the moment the stream began (snapshot.ts: same layout, same writers).
//
// What makes it point in time:
// - the header (time, last sequence, quotas, number of mailboxes) is written when the stream
//   begins, and the mailboxes, put ids and consume results are listed then (references only);
// - remembered put ids and consume results are immutable objects (a change replaces the entry),
//   so the lists of them taken at the start are their point-in-time image;
// - a mailbox is mutable: copy before write. The mailbox calls `beforeWrite(box)` before any
//   command changes it; if the stream has not written that mailbox yet, its messages and leases
//   are copied there and then, as they still are (metadata: the bodies stay in the store), and
//   that copy is what the stream writes when it gets to it. A mailbox carries the mark of the
//   stream that has fixed its image, so each is copied at most once;
// - the stream holds the body store (BodyStore.hold) until it ends, so the bodies of messages
//   that left the state after it began are still there when the stream writes its copies.
//
// Nothing needs the image's size before it is written (the cluster snapshot's mailbox image is the
// rest of its image), so the stream writes from its first step.

import type { BodyStore } from './body-store.js';
import { StoredMessage } from './seq-queue.js';
import { type MailboxState, type RememberedConsume, type RememberedPut, UserBox } from './state.js';
import { SNAPSHOT_HEADER_BYTES, writeBoxBody, writeConsume, writeHeader, writePut } from './snapshot.js';
import { ByteWriter } from '../wire/writer.js';

/** How much one step does. The defaults keep a step well under a millisecond or two. */
export interface StreamSteps {
  /** A written piece is cut once it reaches this size (a single mailbox may make it larger). */
  pieceBytes: number;
}

export const DEFAULT_STREAM_STEPS: StreamSteps = { pieceBytes: 64 * 1024 };

export class MailboxSnapshotStream {
  private readonly header: Uint8Array;
  private readonly names: string[];
  private readonly boxes: UserBox[];
  private readonly puts: RememberedPut[];
  private readonly consumes: RememberedConsume[];
  private readonly bodies: BodyStore;
  /** Ends the stream's hold on the body store. */
  private readonly unhold: () => void;
  /** Mailboxes copied before a change and not written yet: the copy to write instead. */
  private readonly copies = new Map<UserBox, UserBox>();
  /** Items (mailboxes, then puts, then consumes) written so far. */
  private cursor = 0;
  private headerWritten = false;
  private closed = false;

  constructor(
    s: MailboxState,
    /** Unique among the streams of this state: a mailbox with this mark has its image fixed. */
    readonly mark: number,
    private readonly onEnd: (stream: MailboxSnapshotStream) => void,
    private readonly steps: StreamSteps = DEFAULT_STREAM_STEPS,
  ) {
    const w = ByteWriter.exact(SNAPSHOT_HEADER_BYTES);
    writeHeader(w, s);
    this.header = w.finish();
    this.names = Array.from(s.users.keys());
    this.boxes = Array.from(s.users.values());
    this.puts = Array.from(s.puts.values());
    this.consumes = Array.from(s.consumes.values());
    this.bodies = s.bodies;
    this.unhold = s.bodies.hold();
  }

  /** Called by the mailbox before it changes `box`: fixes the box's image first if still needed. */
  beforeWrite(box: UserBox): void {
    if (box.snapshotMark === this.mark) return;
    box.snapshotMark = this.mark;
    this.copies.set(box, copyOf(box));
  }

  /** The next piece of the image (about `pieceBytes`), or null once it is all written. */
  next(): Uint8Array | null {
    this.assertOpen();
    const nBoxes = this.boxes.length;
    const nPuts = nBoxes + this.puts.length;
    // Positions nBoxes and nPuts + 1 are the counts in front of the puts and of the consumes.
    const last = nPuts + this.consumes.length + 1;
    if (this.headerWritten && this.cursor > last) {
      this.end();
      return null;
    }
    const w = new ByteWriter(this.steps.pieceBytes + 1024);
    if (!this.headerWritten) {
      w.raw(this.header);
      this.headerWritten = true;
    }
    while (this.cursor <= last && w.length < this.steps.pieceBytes) {
      const i = this.cursor++;
      if (i < nBoxes) {
        const box = this.boxes[i]!;
        w.u16String(this.names[i]!);
        const copy = this.copies.get(box);
        if (copy !== undefined) {
          this.copies.delete(box);
        } else {
          box.snapshotMark = this.mark;
        }
        writeBoxBody(w, copy ?? box, this.bodies);
      } else if (i === nBoxes) {
        w.u32(this.puts.length);
      } else if (i <= nPuts) {
        writePut(w, this.puts[i - nBoxes - 1]!);
      } else if (i === nPuts + 1) {
        w.u32(this.consumes.length);
      } else {
        writeConsume(w, this.consumes[i - nPuts - 2]!);
      }
    }
    return w.finish();
  }

  /** Stops the stream early (or after the end): the mailbox no longer copies for it. */
  close(): void {
    if (!this.closed) this.end();
  }

  private end(): void {
    this.closed = true;
    this.copies.clear();
    this.unhold();
    this.onEnd(this);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('snapshot stream closed (ended, or the state was replaced)');
  }
}

/** What a snapshot writes of `box` as it is now: its messages (metadata, bodies by ref), leases and delayed messages. */
function copyOf(box: UserBox): UserBox {
  const copy = new UserBox(box.queue.copy());
  if (box.dead !== null && box.dead.size > 0) copy.dead = box.dead.copy();
  for (const [receipt, lease] of box.leases ?? []) copy.leaseMap().set(receipt, { ...lease, msg: copyOfMessage(lease.msg) });
  for (const d of box.delayed ?? []) copy.delayedSet().add(copyOfMessage(d.msg), d.visibleAt);
  return copy;
}

/** A copy of a leased message: the delivery count of the original moves on. */
function copyOfMessage(m: StoredMessage): StoredMessage {
  return new StoredMessage(m.seq, m.clientId, m.bodyRef, m.bodyLength, m.enqueuedAt, m.expiresAt, m.deliveries);
}
