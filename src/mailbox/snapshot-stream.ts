// A point-in-time snapshot of the mailbox state, written out a bounded piece at a time while
// commands keep being applied: the bytes, concatenated, are exactly what writeSnapshot would have
// made at the moment the stream began (snapshot.ts: same layout, same writers).
//
// What makes it point in time:
// - the header (time, last sequence, quotas, number of mailboxes) and the numbers of put ids and
//   consume results are taken when the stream begins; nothing is copied or listed then, so the
//   beginning costs the same at any size;
// - the mailboxes, put ids and consume results are walked in their maps' insertion order through
//   the state's slot orders (slot-order.ts), up to the slots used when the stream began: what was
//   added later lies beyond. The stream pins the orders, so slots keep their meaning while it runs;
//   an item that leaves a slot the walk has not reached yet (a mailbox dropped, an id forgotten, a
//   result replaced under its key) is saved by the stream first (`beforeLeave`), and written when
//   the walk gets to that slot;
// - remembered put ids and consume results are immutable (a change replaces the entry), so the
//   entries met or saved are their point-in-time image;
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

import { RecordReader } from './message-record.js';
import { StoredMessage } from './seq-queue.js';
import type { SlotOrder, Slotted } from './slot-order.js';
import { type MailboxState, type RememberedConsume, type RememberedPut, UserBox } from './state.js';
import { SNAPSHOT_HEADER_BYTES, writeBoxBody, writeConsume, writeHeader, writePut } from './snapshot.js';
import { ByteWriter } from '../wire/writer.js';

/** How much one step does. The defaults keep a step well under a millisecond or two. */
export interface StreamSteps {
  /** A written piece is cut once it reaches this size (a single mailbox may make it larger). */
  pieceBytes: number;
}

export const DEFAULT_STREAM_STEPS: StreamSteps = { pieceBytes: 64 * 1024 };

/** A walk over the slots of an order as they were when the walk began. */
class SlotWalk<T extends Slotted> {
  /** The slots in use at the start: later ones hold what was added since. */
  private readonly end: number;
  private cursor = 0;
  /** Items that left a slot the walk had not reached, by slot: the first to leave is the one of the start. */
  private readonly saved = new Map<number, T>();
  private readonly unpin: () => void;

  constructor(private readonly order: SlotOrder<T>) {
    this.end = order.length;
    this.unpin = order.pin();
  }

  /** Called before `item` leaves its slot (removed, or replaced under its key). */
  beforeLeave(item: T): void {
    const slot = item.slot;
    if (slot >= this.cursor && slot < this.end && !this.saved.has(slot)) this.saved.set(slot, item);
  }

  /** The next item of the order as it was at the start, or undefined past its end. */
  next(): T | undefined {
    while (this.cursor < this.end) {
      const slot = this.cursor++;
      const saved = this.saved.get(slot);
      if (saved !== undefined) {
        this.saved.delete(slot);
        return saved;
      }
      const item = this.order.at(slot);
      if (item !== null) return item;
    }
    return undefined;
  }

  close(): void {
    this.saved.clear();
    this.unpin();
  }
}

/** Where the stream is in the image. */
const enum Part {
  Boxes,
  Puts,
  Consumes,
  Done,
}

export class MailboxSnapshotStream {
  private readonly header: Uint8Array;
  private readonly counts: { boxes: number; puts: number; consumes: number };
  private readonly boxes: SlotWalk<UserBox>;
  private readonly puts: SlotWalk<RememberedPut>;
  private readonly consumes: SlotWalk<RememberedConsume>;
  /** Records read through the store's scan, in about the order they were appended. */
  private readonly records: RecordReader;
  /** Ends the stream's hold on the body store. */
  private readonly unhold: () => void;
  /** Mailboxes copied before a change and not written yet: the copy to write instead. */
  private readonly copies = new Map<UserBox, UserBox>();
  private part = Part.Boxes;
  /** Items of the current part written so far. */
  private written = 0;
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
    this.counts = { boxes: s.users.size, puts: s.puts.size, consumes: s.consumes.size };
    this.boxes = new SlotWalk(s.boxOrder);
    this.puts = new SlotWalk(s.putOrder);
    this.consumes = new SlotWalk(s.consumeOrder);
    this.records = new RecordReader(s.bodies.scan());
    this.unhold = s.bodies.hold();
  }

  /** Called by the mailbox before it changes `box`: fixes the box's image first if still needed. */
  beforeWrite(box: UserBox): void {
    if (box.snapshotMark === this.mark) return;
    box.snapshotMark = this.mark;
    this.copies.set(box, copyOf(box));
  }

  /** Called by the mailbox before it drops `box` from the state (after beforeWrite, if it changed it). */
  beforeDrop(box: UserBox): void {
    this.boxes.beforeLeave(box);
  }

  /** Called before a remembered put id is forgotten. */
  beforeForgetPut(put: RememberedPut): void {
    this.puts.beforeLeave(put);
  }

  /** Called before a remembered consume result is forgotten, or replaced under its key. */
  beforeForgetConsume(consume: RememberedConsume): void {
    this.consumes.beforeLeave(consume);
  }

  /** The next piece of the image (about `pieceBytes`), or null once it is all written. */
  next(): Uint8Array | null {
    this.assertOpen();
    const w = new ByteWriter(this.steps.pieceBytes + 1024);
    if (!this.headerWritten) {
      w.raw(this.header);
      this.headerWritten = true;
    }
    while (this.part !== Part.Done && w.length < this.steps.pieceBytes) {
      if (this.part === Part.Boxes) {
        const box = this.boxes.next();
        if (box === undefined) {
          this.endPart(this.counts.boxes, Part.Puts);
          w.u32(this.counts.puts);
          continue;
        }
        w.u16String(box.user);
        const copy = this.copies.get(box);
        if (copy !== undefined) {
          this.copies.delete(box);
        } else {
          box.snapshotMark = this.mark;
        }
        writeBoxBody(w, copy ?? box, this.records);
      } else if (this.part === Part.Puts) {
        const put = this.puts.next();
        if (put === undefined) {
          this.endPart(this.counts.puts, Part.Consumes);
          w.u32(this.counts.consumes);
          continue;
        }
        writePut(w, put);
      } else {
        const consume = this.consumes.next();
        if (consume === undefined) {
          this.endPart(this.counts.consumes, Part.Done);
          continue;
        }
        writeConsume(w, consume);
      }
      this.written++;
    }
    // Everything was handed out by the steps before (the last part may have ended at the start of this one).
    if (w.length === 0) {
      this.end();
      return null;
    }
    return w.finish();
  }

  /** Stops the stream early (or after the end): the mailbox no longer copies for it. */
  close(): void {
    if (!this.closed) this.end();
  }

  /** Moves on to `next` once a part is written, checking it wrote as many items as its count said. */
  private endPart(count: number, next: Part): void {
    if (this.written !== count) throw new Error(`snapshot stream wrote ${this.written} items of a part that held ${count} when it began`);
    this.written = 0;
    this.part = next;
  }

  private end(): void {
    this.closed = true;
    this.copies.clear();
    this.boxes.close();
    this.puts.close();
    this.consumes.close();
    this.unhold();
    this.onEnd(this);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('snapshot stream closed (ended, or the state was replaced)');
  }
}

/** What a snapshot writes of `box` as it is now: its messages (metadata, bodies by ref), leases and delayed messages. */
function copyOf(box: UserBox): UserBox {
  const copy = box.queue.copyTo(new UserBox(box.user));
  if (box.dead !== null && box.dead.size > 0) copy.dead = box.dead.copy();
  for (const [receipt, lease] of box.leases ?? []) copy.leaseMap().set(receipt, { ...lease, msg: copyOfMessage(lease.msg) });
  for (const d of box.delayed ?? []) copy.delayedSet().add(copyOfMessage(d.msg), d.visibleAt);
  return copy;
}

/** A copy of a leased message: the delivery count of the original moves on. */
function copyOfMessage(m: StoredMessage): StoredMessage {
  return new StoredMessage(m.seq, m.idLength, m.bodyRef, m.bodyLength, m.enqueuedAt, m.expiresAt, m.deliveries);
}
