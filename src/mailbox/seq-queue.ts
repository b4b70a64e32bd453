// A queue of stored messages kept in ascending `seq` order, held in columns rather than objects:
// the numeric fields of every message sit side by side in one array of doubles (a stride of six
// per message), so a queued message costs 48 bytes of unboxed numbers instead of an object, two
// boxed timestamps and an array slot. A client id is not kept here at all: it is stored with the
// body in the body store (message-record.ts), since it is read only when the body is, and a
// string per queued message was the largest heap cost of a backlog older than the dedupe window
// put by the clients, which give every put an id. A moving head makes taking from the head O(1); puts append at the tail;
// messages coming back from a lease are inserted at their seq position (usually at or near the
// head). Reads hand out StoredMessage objects made on the spot: a message is an object only while
// someone holds it (a lease, a delivery), never while it waits in a queue.

/**
 * One message out of a queue (taken, leased, peeked): metadata only. Its record in the state's
 * body store, at `bodyRef`, holds its client id (`idLength` bytes, none when 0) and then its body
 * (`bodyLength` bytes); message-record.ts reads and writes it.
 */
export class StoredMessage {
  constructor(
    readonly seq: number,
    /** UTF-8 bytes of the client-given id at the start of the record; 0 when the id is the derived `@<seq>`. */
    readonly idLength: number,
    /** Where the record (id, then body) is in the state's body store. */
    readonly bodyRef: number,
    readonly bodyLength: number,
    readonly enqueuedAt: number,
    readonly expiresAt: number,
    public deliveries: number,
  ) {}

  /** Bytes of the record in the body store: the id, then the body. */
  get recordLength(): number {
    return this.idLength + this.bodyLength;
  }
}

// The columns of one message, at slot * STRIDE in `cols`.
const STRIDE = 6;
const SEQ = 0;
const ENQUEUED_AT = 1;
const EXPIRES_AT = 2;
const BODY_REF = 3;
/**
 * Body and id lengths in one double, `idLength * LENGTH_SPLIT + bodyLength`: a column of its own
 * for the id's length would cost 8 bytes per queued message. Exact, since a body is shorter than
 * 2^32 bytes (the image's u32 length) and an id than 2^16 (its u16 length): the sum stays below
 * 2^48, within a double's 53-bit integers.
 */
const LENGTHS = 4;
const DELIVERIES = 5;
const LENGTH_SPLIT = 2 ** 32;

/**
 * Below this many messages an append copies into an exact-size array: many mailboxes hold one or
 * two messages, and the engine's own growth (1.5 times plus 16 elements) would triple their size.
 */
const EXACT_SLOTS = 4;

export class SeqQueue {
  /**
   * The numeric columns of slots 0..tail-1, only doubles (the engine keeps them unboxed); null
   * while empty, so an empty queue costs no array at all.
   */
  private cols: number[] | null = null;
  /** First live slot: the slots before it were taken. */
  private head = 0;
  /** One past the last live slot. */
  private tail = 0;
  /**
   * True while expiresAt never decreases from head to tail (always so when every put uses the
   * same TTL): then the expired messages are exactly a prefix and the sweep need not scan.
   */
  private expiryOrdered = true;
  /** Sum of body lengths of the messages in the queue. */
  bytes = 0;

  get size(): number {
    return this.tail - this.head;
  }

  /** The i-th message from the head (0-based), or undefined past the end. */
  at(i: number): StoredMessage | undefined {
    const slot = this.head + i;
    return i >= 0 && slot < this.tail ? this.message(slot) : undefined;
  }

  /** Append a message newer than every queued one (a fresh put). */
  push(m: StoredMessage): void {
    const cols = this.cols;
    if (cols === null) {
      this.cols = [m.seq, m.enqueuedAt, m.expiresAt, m.bodyRef, packedLengths(m), m.deliveries];
      this.head = 0;
      this.tail = 1;
    } else {
      if (m.expiresAt < cols[this.tail * STRIDE - STRIDE + EXPIRES_AT]!) this.expiryOrdered = false;
      if (this.tail < EXACT_SLOTS) {
        // Copied by hand: concat, once optimised, was seen (Node 20) to hand back boxed numbers.
        const grown = new Array<number>(cols.length + STRIDE);
        for (let k = 0; k < cols.length; k++) grown[k] = cols[k]!;
        this.cols = grown;
        this.write(this.tail, m);
      } else {
        cols.push(m.seq, m.enqueuedAt, m.expiresAt, m.bodyRef, packedLengths(m), m.deliveries);
      }
      this.tail++;
    }
    this.bytes += m.bodyLength;
  }

  shift(): StoredMessage | undefined {
    if (this.head >= this.tail) return undefined;
    const m = this.message(this.head);
    this.head++;
    this.bytes -= m.bodyLength;
    this.compact();
    return m;
  }

  /** Insert keeping seq order (binary search); a message sorting first reuses the free slot before the head. */
  insertBySeq(m: StoredMessage): void {
    const cols = this.cols;
    if (cols === null) {
      this.push(m);
      return;
    }
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cols[mid * STRIDE + SEQ]! < m.seq) lo = mid + 1;
      else hi = mid;
    }
    if (
      (lo > this.head && cols[(lo - 1) * STRIDE + EXPIRES_AT]! > m.expiresAt) ||
      (lo < this.tail && m.expiresAt > cols[lo * STRIDE + EXPIRES_AT]!)
    ) {
      this.expiryOrdered = false;
    }
    if (lo === this.head && this.head > 0) {
      this.write(--this.head, m);
    } else {
      cols.splice(lo * STRIDE, 0, m.seq, m.enqueuedAt, m.expiresAt, m.bodyRef, packedLengths(m), m.deliveries);
      this.tail++;
    }
    this.bytes += m.bodyLength;
  }

  /** Removes the messages expired at `now`, handing each to `removed`; returns how many. */
  removeExpired(now: number, removed: (m: StoredMessage) => void): number {
    const before = this.size;
    if (this.expiryOrdered) {
      while (this.head < this.tail && this.cols![this.head * STRIDE + EXPIRES_AT]! <= now) removed(this.shift()!);
      return before - this.size;
    }
    const cols = this.cols!;
    const keptCols: number[] = [];
    for (let slot = this.head; slot < this.tail; slot++) {
      const o = slot * STRIDE;
      if (cols[o + EXPIRES_AT]! > now) {
        for (let k = 0; k < STRIDE; k++) keptCols.push(cols[o + k]!);
      } else {
        const m = this.message(slot);
        this.bytes -= m.bodyLength;
        removed(m);
      }
    }
    if (keptCols.length === 0) {
      this.reset();
    } else {
      this.cols = keptCols;
      this.head = 0;
      this.tail = keptCols.length / STRIDE;
    }
    return before - this.size;
  }

  /** When the message at the head was enqueued, Infinity when empty. */
  headEnqueuedAt(): number {
    return this.head < this.tail ? this.cols![this.head * STRIDE + ENQUEUED_AT]! : Infinity;
  }

  /** The smallest expiresAt in the queue, Infinity when empty. */
  earliestExpiry(): number {
    if (this.head >= this.tail) return Infinity;
    const cols = this.cols!;
    if (this.expiryOrdered) return cols[this.head * STRIDE + EXPIRES_AT]!;
    let min = Infinity;
    for (let slot = this.head; slot < this.tail; slot++) min = Math.min(min, cols[slot * STRIDE + EXPIRES_AT]!);
    return min;
  }

  /** Empties the queue, handing each message to `removed`; returns how many it held. */
  clear(removed: (m: StoredMessage) => void): number {
    const n = this.size;
    for (const m of this) removed(m);
    this.reset();
    this.bytes = 0;
    return n;
  }

  /** An independent queue holding the same messages now (a snapshot stream's copy before write). */
  copy(): SeqQueue {
    return this.copyTo(new SeqQueue());
  }

  /**
   * Makes `target`, an empty queue, hold the same messages as this one now, independently of it,
   * and returns it: a copy into a queue that is part of a larger object (a mailbox, state.ts).
   */
  copyTo<Q extends SeqQueue>(target: Q): Q {
    if (target.size > 0) throw new Error('SeqQueue.copyTo: the target queue is not empty');
    if (this.cols === null) return target;
    target.cols = this.cols.slice(this.head * STRIDE, this.tail * STRIDE);
    target.head = 0;
    target.tail = this.tail - this.head;
    target.expiryOrdered = this.expiryOrdered;
    target.bytes = this.bytes;
    return target;
  }

  *[Symbol.iterator](): IterableIterator<StoredMessage> {
    for (let slot = this.head; slot < this.tail; slot++) yield this.message(slot);
  }

  /** The message in `slot`, as an object of its own. */
  private message(slot: number): StoredMessage {
    const cols = this.cols!;
    const o = slot * STRIDE;
    const lengths = cols[o + LENGTHS]!;
    const bodyLength = lengths % LENGTH_SPLIT;
    return new StoredMessage(
      cols[o + SEQ]!,
      (lengths - bodyLength) / LENGTH_SPLIT,
      cols[o + BODY_REF]!,
      bodyLength,
      cols[o + ENQUEUED_AT]!,
      cols[o + EXPIRES_AT]!,
      cols[o + DELIVERIES]!,
    );
  }

  /** Sets the numeric columns of `slot` (within the array) to those of `m`. */
  private write(slot: number, m: StoredMessage): void {
    const cols = this.cols!;
    const o = slot * STRIDE;
    cols[o + SEQ] = m.seq;
    cols[o + ENQUEUED_AT] = m.enqueuedAt;
    cols[o + EXPIRES_AT] = m.expiresAt;
    cols[o + BODY_REF] = m.bodyRef;
    cols[o + LENGTHS] = packedLengths(m);
    cols[o + DELIVERIES] = m.deliveries;
  }

  /** Drop the consumed prefix once it is at least half of the array, keeping shift amortised O(1). */
  private compact(): void {
    if (this.head === this.tail) {
      this.reset();
    } else if (this.head >= 1024 && this.head * 2 >= this.tail) {
      this.cols = this.cols!.slice(this.head * STRIDE, this.tail * STRIDE);
      this.tail -= this.head;
      this.head = 0;
    }
  }

  private reset(): void {
    this.cols = null;
    this.head = 0;
    this.tail = 0;
    this.expiryOrdered = true;
  }
}

function packedLengths(m: StoredMessage): number {
  return m.idLength * LENGTH_SPLIT + m.bodyLength;
}
