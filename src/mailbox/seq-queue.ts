// A queue of stored messages kept in ascending `seq` order, held in columns rather than objects:
// the numeric fields of every message sit side by side in one array of doubles (a stride of six
// per message), so a queued message costs 48 bytes of unboxed numbers instead of an object, two
// boxed timestamps and an array slot. Client ids live in a second array, made only once some
// message in the queue has one. A moving head makes taking from the head O(1); puts append at the
// tail; messages coming back from a lease are inserted at their seq position (usually at or near
// the head). Reads hand out StoredMessage objects made on the spot: a message is an object only
// while someone holds it (a lease, a delivery), never while it waits in a queue.

/**
 * One message out of a queue (taken, leased, peeked): metadata only, no object of its own for the
 * body, which is in the state's body store (body-store.ts) at `bodyRef`.
 */
export class StoredMessage {
  constructor(
    readonly seq: number,
    /** Client-given id, or null when the id is the derived `@<seq>`. */
    readonly clientId: string | null,
    /** Where the body is in the state's body store. */
    readonly bodyRef: number,
    readonly bodyLength: number,
    readonly enqueuedAt: number,
    readonly expiresAt: number,
    public deliveries: number,
  ) {}

  get id(): string {
    return this.clientId ?? `@${this.seq}`;
  }
}

// The columns of one message, at slot * STRIDE in `cols`.
const STRIDE = 6;
const SEQ = 0;
const ENQUEUED_AT = 1;
const EXPIRES_AT = 2;
const BODY_REF = 3;
const BODY_LENGTH = 4;
const DELIVERIES = 5;

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
  /**
   * Client id per slot (null for none), aligned with `cols`; null until some message has an id.
   * In a queue of a single slot, the id itself: most mailboxes hold one message, and the new
   * clients give every put an id, so a one-element array there would cost what the columns save.
   */
  private ids: (string | null)[] | string | null = null;
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
      this.cols = [m.seq, m.enqueuedAt, m.expiresAt, m.bodyRef, m.bodyLength, m.deliveries];
      this.ids = m.clientId;
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
        cols.push(m.seq, m.enqueuedAt, m.expiresAt, m.bodyRef, m.bodyLength, m.deliveries);
      }
      if (m.clientId !== null) this.idColumn().push(m.clientId);
      else this.idArray()?.push(null);
      this.tail++;
    }
    this.bytes += m.bodyLength;
  }

  shift(): StoredMessage | undefined {
    if (this.head >= this.tail) return undefined;
    const m = this.message(this.head);
    const ids = this.ids;
    if (ids !== null && typeof ids !== 'string') ids[this.head] = null;
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
    const ids = m.clientId !== null ? this.idColumn() : this.idArray();
    if (lo === this.head && this.head > 0) {
      this.write(--this.head, m);
      if (ids !== null) ids[this.head] = m.clientId;
    } else {
      cols.splice(lo * STRIDE, 0, m.seq, m.enqueuedAt, m.expiresAt, m.bodyRef, m.bodyLength, m.deliveries);
      ids?.splice(lo, 0, m.clientId);
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
    const keptIds: (string | null)[] = [];
    let keptAnId = false;
    for (let slot = this.head; slot < this.tail; slot++) {
      const o = slot * STRIDE;
      if (cols[o + EXPIRES_AT]! > now) {
        for (let k = 0; k < STRIDE; k++) keptCols.push(cols[o + k]!);
        const id = this.idAt(slot);
        keptIds.push(id);
        if (id !== null) keptAnId = true;
      } else {
        this.bytes -= cols[o + BODY_LENGTH]!;
        removed(this.message(slot));
      }
    }
    if (keptCols.length === 0) {
      this.reset();
    } else {
      this.cols = keptCols;
      this.ids = keptAnId ? keptIds : null;
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
    const q = new SeqQueue();
    if (this.cols === null) return q;
    q.cols = this.cols.slice(this.head * STRIDE, this.tail * STRIDE);
    const ids = this.ids;
    q.ids = typeof ids === 'string' ? ids : (ids?.slice(this.head, this.tail) ?? null);
    q.tail = this.tail - this.head;
    q.expiryOrdered = this.expiryOrdered;
    q.bytes = this.bytes;
    return q;
  }

  *[Symbol.iterator](): IterableIterator<StoredMessage> {
    for (let slot = this.head; slot < this.tail; slot++) yield this.message(slot);
  }

  /** The message in `slot`, as an object of its own. */
  private message(slot: number): StoredMessage {
    const cols = this.cols!;
    const o = slot * STRIDE;
    return new StoredMessage(
      cols[o + SEQ]!,
      this.idAt(slot),
      cols[o + BODY_REF]!,
      cols[o + BODY_LENGTH]!,
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
    cols[o + BODY_LENGTH] = m.bodyLength;
    cols[o + DELIVERIES] = m.deliveries;
  }

  private idAt(slot: number): string | null {
    const ids = this.ids;
    return ids === null || typeof ids === 'string' ? ids : (ids[slot] ?? null);
  }

  /** The client id column as an array (a single slot's id turned into one), or null when there is none. */
  private idArray(): (string | null)[] | null {
    const ids = this.ids;
    return typeof ids === 'string' ? (this.ids = [ids]) : ids;
  }

  /** The client id column, made (all null so far) on the first message with an id. */
  private idColumn(): (string | null)[] {
    return this.idArray() ?? (this.ids = new Array<string | null>(this.tail).fill(null));
  }

  /** Drop the consumed prefix once it is at least half of the array, keeping shift amortised O(1). */
  private compact(): void {
    if (this.head === this.tail) {
      this.reset();
    } else if (this.head >= 1024 && this.head * 2 >= this.tail) {
      this.cols = this.cols!.slice(this.head * STRIDE, this.tail * STRIDE);
      this.ids = this.idArray()?.slice(this.head, this.tail) ?? null;
      this.tail -= this.head;
      this.head = 0;
    }
  }

  private reset(): void {
    this.cols = null;
    this.ids = null;
    this.head = 0;
    this.tail = 0;
    this.expiryOrdered = true;
  }
}
