// A queue of stored messages kept in ascending `seq` order: an array with a moving head index, so
// taking from the head is O(1) without Array.shift's copying, and puts append at the tail.
// Messages coming back from a lease are inserted at their seq position (usually at or near the head).

/**
 * One queued message: metadata only, kept as small as possible (seven fields, no object of its
 * own for the body). The body is in the state's body store (body-store.ts) at `bodyRef`.
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

export class SeqQueue {
  private items: (StoredMessage | undefined)[] = [];
  private head = 0;
  /**
   * True while expiresAt never decreases from head to tail (always so when every put uses the
   * same TTL): then the expired messages are exactly a prefix and the sweep need not scan.
   */
  private expiryOrdered = true;
  /** Sum of body lengths of the messages in the queue. */
  bytes = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  /** The i-th message from the head (0-based), or undefined past the end. */
  at(i: number): StoredMessage | undefined {
    return this.items[this.head + i];
  }

  /** Append a message newer than every queued one (a fresh put). */
  push(m: StoredMessage): void {
    // An empty array grows to 17 slots on its first push; a literal is exact-size, which matters
    // when there are many mailboxes holding a single message.
    if (this.items.length === 0) {
      this.items = [m];
    } else {
      if (m.expiresAt < this.items[this.items.length - 1]!.expiresAt) this.expiryOrdered = false;
      this.items.push(m);
    }
    this.bytes += m.bodyLength;
  }

  shift(): StoredMessage | undefined {
    if (this.head >= this.items.length) return undefined;
    const m = this.items[this.head];
    this.items[this.head++] = undefined;
    this.bytes -= m!.bodyLength;
    this.compact();
    return m;
  }

  /** Insert keeping seq order (binary search); a message sorting first reuses the free slot before the head. */
  insertBySeq(m: StoredMessage): void {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq < m.seq) lo = mid + 1;
      else hi = mid;
    }
    const before = lo > this.head ? this.items[lo - 1] : undefined;
    const after = this.items[lo];
    if ((before && before.expiresAt > m.expiresAt) || (after && m.expiresAt > after.expiresAt)) this.expiryOrdered = false;
    if (lo === this.head && this.head > 0) {
      this.items[--this.head] = m;
    } else {
      this.items.splice(lo, 0, m);
    }
    this.bytes += m.bodyLength;
  }

  /** Removes the messages expired at `now`, handing each to `removed`; returns how many. */
  removeExpired(now: number, removed: (m: StoredMessage) => void): number {
    const before = this.size;
    if (this.expiryOrdered) {
      while (this.head < this.items.length && this.items[this.head]!.expiresAt <= now) removed(this.shift()!);
    } else {
      const kept: StoredMessage[] = [];
      for (let i = this.head; i < this.items.length; i++) {
        const m = this.items[i]!;
        if (m.expiresAt > now) {
          kept.push(m);
        } else {
          this.bytes -= m.bodyLength;
          removed(m);
        }
      }
      this.items = kept;
      this.head = 0;
      if (kept.length === 0) this.expiryOrdered = true;
    }
    return before - this.size;
  }

  /** The smallest expiresAt in the queue, Infinity when empty. */
  earliestExpiry(): number {
    if (this.expiryOrdered) return this.items[this.head]?.expiresAt ?? Infinity;
    let min = Infinity;
    for (let i = this.head; i < this.items.length; i++) min = Math.min(min, this.items[i]!.expiresAt);
    return min;
  }

  /** Empties the queue, handing each message to `removed`; returns how many it held. */
  clear(removed: (m: StoredMessage) => void): number {
    const n = this.size;
    for (const m of this) removed(m);
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.expiryOrdered = true;
    return n;
  }

  *[Symbol.iterator](): IterableIterator<StoredMessage> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }

  /** Drop the consumed prefix once it is at least half of the array, keeping shift amortised O(1). */
  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      this.expiryOrdered = true;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
