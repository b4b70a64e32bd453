// The messages of one mailbox that are not visible yet (a delayed put, a nack with a delay or the
// default backoff), ordered by the time they become visible, ties by seq. Kept apart from the
// queue so that consumes never scan past invisible messages: when due, they move into the queue
// at their seq position (SeqQueue.insertBySeq), on the next command or sweep touching the mailbox.
// A sorted array: taking the due ones is a prefix; inserting is a binary search plus a splice
// (O(n) moves, fine for the delayed messages of one mailbox, bounded by maxMessagesPerMailbox).

import type { StoredMessage } from './seq-queue.js';

export interface DelayedMessage {
  readonly msg: StoredMessage;
  /** Replicated time (log-entry ms) from which the message may be delivered. */
  readonly visibleAt: number;
}

export class DelayedSet {
  private items: DelayedMessage[] = [];
  /** Sum of body lengths of the delayed messages. */
  bytes = 0;

  get size(): number {
    return this.items.length;
  }

  /** The earliest visible time, Infinity when empty. */
  get nextVisibleAt(): number {
    return this.items[0]?.visibleAt ?? Infinity;
  }

  /** The earliest visible time later than `now`, Infinity when none (the due ones are visible already). */
  firstVisibleAfter(now: number): number {
    for (const e of this.items) if (e.visibleAt > now) return e.visibleAt;
    return Infinity;
  }

  add(msg: StoredMessage, visibleAt: number): void {
    const items = this.items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = items[mid]!;
      if (e.visibleAt < visibleAt || (e.visibleAt === visibleAt && e.msg.seq < msg.seq)) lo = mid + 1;
      else hi = mid;
    }
    if (lo === items.length) items.push({ msg, visibleAt });
    else items.splice(lo, 0, { msg, visibleAt });
    this.bytes += msg.bodyLength;
  }

  /** Removes the messages visible at `now` (visibleAt <= now), handing each to `due` in order. */
  takeDue(now: number, due: (m: StoredMessage) => void): number {
    const items = this.items;
    let n = 0;
    while (n < items.length && items[n]!.visibleAt <= now) n++;
    if (n === 0) return 0;
    const taken = items.splice(0, n);
    for (const e of taken) {
      this.bytes -= e.msg.bodyLength;
      due(e.msg);
    }
    return n;
  }

  /** Removes the messages expired at `now` (expiresAt <= now), handing each to `removed`. */
  removeExpired(now: number, removed: (m: StoredMessage) => void): number {
    const before = this.items.length;
    this.items = this.items.filter((e) => {
      if (e.msg.expiresAt > now) return true;
      this.bytes -= e.msg.bodyLength;
      removed(e.msg);
      return false;
    });
    return before - this.items.length;
  }

  earliestExpiry(): number {
    let min = Infinity;
    for (const e of this.items) if (e.msg.expiresAt < min) min = e.msg.expiresAt;
    return min;
  }

  /** Removes every message, handing each to `removed`. */
  clear(removed: (m: StoredMessage) => void): number {
    const n = this.items.length;
    for (const e of this.items) removed(e.msg);
    this.items = [];
    this.bytes = 0;
    return n;
  }

  /** In visible-time order (the snapshot's order). */
  [Symbol.iterator](): IterableIterator<DelayedMessage> {
    return this.items[Symbol.iterator]();
  }
}
