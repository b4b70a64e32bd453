// Long-poll consumes parked on the leader: per mailbox, a FIFO of consumers waiting for a message
// (its line), and one deadline list for all of them. No timer per consumer: one timer is armed for the
// earliest deadline (a binary heap of deadlines, entries of finished consumers skipped lazily).
//
// A parked consumer is idle (waiting) or woken (its consume is being tried). Waking picks the
// oldest idle consumers of a mailbox and leaves them at their place, so that one whose consume
// finds nothing (another consumer took the message) goes back to waiting where it was, with what
// is left of its time. A line whose next message shows by time alone (a delay, a lease's end) may
// also have one timer to look again then (`lookIn`), dropped when the line empties: one timer per
// such line, never one per consumer. What a consumer does when woken, at its deadline, or when the
// node lets go of every parked consumer (leadership lost, shutdown) is its owner's business: the
// callbacks.

export interface ParkedCallbacks {
  /** Try the consume now; then call `finish` (answered) or `repark` (nothing to take after all). */
  onWake(ticket: ParkedTicket): void;
  /** The wait is over and it is idle: it has been removed; answer it (empty, or what is there now). */
  onDeadline(): void;
  /** The node lets go of it (`releaseAll`): it has been removed; answer `error`. */
  onRelease(error: unknown): void;
}

export interface ParkedTicket {
  readonly user: string;
  readonly deadline: number;
}

interface Entry extends ParkedTicket {
  callbacks: ParkedCallbacks;
  woken: boolean;
  /** Set by `releaseAll` on a consumer being tried: when it comes back to wait, it is told this instead. */
  released: { error: unknown } | null;
  /** Removed: its heap entry is skipped when it comes up. */
  done: boolean;
  prev: Entry | null;
  next: Entry | null;
}

/** The consumers parked on one mailbox, oldest first (an intrusive doubly linked list). */
interface Line {
  head: Entry | null;
  tail: Entry | null;
  size: number;
  /** How many of them are being tried. */
  woken: number;
  /** The timer of `lookIn`, null when none is set. */
  look: unknown;
}

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Finished entries the heap may hold beyond twice the parked ones before it is rebuilt. */
const COMPACT_SLACK = 1024;

export class ParkedConsumers {
  private readonly lines = new Map<string, Line>();
  /** Min-heap on deadline; may hold finished entries (skipped when they reach the top). */
  private readonly heap: Entry[] = [];
  private timer: unknown = null;
  private timerAt = Infinity;
  private count = 0;

  constructor(
    /** At most this many parked at once: `park` refuses beyond it. */
    readonly capacity: number,
    private readonly timers: Timers = REAL_TIMERS,
  ) {}

  /** How many are parked (idle or woken). */
  get size(): number {
    return this.count;
  }

  /** How many are parked on `user`'s mailbox. */
  parkedOn(user: string): number {
    return this.lines.get(user)?.size ?? 0;
  }

  /** Parks a consumer at the end of `user`'s line until `deadline` (timers' clock); null when full. */
  park(user: string, deadline: number, callbacks: ParkedCallbacks): ParkedTicket | null {
    if (this.count >= this.capacity) return null;
    const entry: Entry = { user, deadline, callbacks, woken: false, released: null, done: false, prev: null, next: null };
    let line = this.lines.get(user);
    if (line === undefined) {
      line = { head: null, tail: null, size: 0, woken: 0, look: null };
      this.lines.set(user, line);
    }
    entry.prev = line.tail;
    if (line.tail !== null) line.tail.next = entry;
    else line.head = entry;
    line.tail = entry;
    line.size++;
    this.count++;
    this.pushHeap(entry);
    this.arm();
    return entry;
  }

  /** Wakes up to `n` of the oldest idle consumers of `user`'s mailbox; returns how many it woke. */
  wake(user: string, n: number): number {
    const line = this.lines.get(user);
    if (line === undefined) return 0;
    const woken: Entry[] = [];
    for (let e = line.head; e !== null && woken.length < n && line.woken < line.size; e = e.next) {
      if (e.woken) continue;
      e.woken = true;
      line.woken++;
      woken.push(e);
    }
    for (const e of woken) e.callbacks.onWake(e);
    return woken.length;
  }

  /**
   * Calls `onDue` in `ms` (timers' clock), once, unless `user`'s line empties first; replaces the
   * one set before for that line. No-op when nobody is parked on it.
   */
  lookIn(user: string, ms: number, onDue: () => void): void {
    const line = this.lines.get(user);
    if (line === undefined) return;
    if (line.look !== null) this.timers.clearTimeout(line.look);
    line.look = this.timers.setTimeout(() => {
      line.look = null;
      onDue();
    }, Math.max(0, ms));
  }

  /** Drops the timer `lookIn` set for `user`'s line, if any. */
  stopLooking(user: string): void {
    const line = this.lines.get(user);
    if (line === undefined || line.look === null) return;
    this.timers.clearTimeout(line.look);
    line.look = null;
  }

  /** Whether `user`'s mailbox has a consumer waiting that is not being tried already. */
  hasIdle(user: string): boolean {
    const line = this.lines.get(user);
    return line !== undefined && line.woken < line.size;
  }

  /** Whether a consumer of `user`'s mailbox is being tried (woken, not yet finished or re-parked). */
  anyWoken(user: string): boolean {
    return (this.lines.get(user)?.woken ?? 0) > 0;
  }

  /** A woken consumer got its answer: it leaves its line. */
  finish(ticket: ParkedTicket): void {
    this.remove(ticket as Entry);
  }

  /**
   * A woken consumer found nothing to take: it waits again at its place; or, when its deadline
   * passed meanwhile, it is removed and told (onDeadline); or, when everything was released while
   * it was being tried, it is removed and told that (onRelease).
   */
  repark(ticket: ParkedTicket): void {
    const e = ticket as Entry;
    if (e.done) return;
    if (e.woken) this.lines.get(e.user)!.woken--;
    e.woken = false;
    if (e.released !== null) {
      this.remove(e);
      e.callbacks.onRelease(e.released.error);
    } else if (e.deadline <= this.timers.now()) {
      this.remove(e);
      e.callbacks.onDeadline();
    }
  }

  /**
   * Lets go of every parked consumer (leadership lost, shutdown): the idle ones are removed and
   * told `error` now; the ones being tried keep their attempt, whose own outcome answers them
   * (a proposal cut by the same leader change fails on its own), or are told `error` if they come
   * back to wait. Returns how many were told now.
   */
  releaseAll(error: unknown): number {
    const idle: Entry[] = [];
    for (const line of this.lines.values()) {
      for (let e = line.head; e !== null; e = e.next) {
        if (e.woken) e.released = { error };
        else idle.push(e);
      }
    }
    for (const e of idle) this.remove(e);
    for (const e of idle) e.callbacks.onRelease(error);
    return idle.length;
  }

  private remove(e: Entry): void {
    if (e.done) return;
    e.done = true;
    const line = this.lines.get(e.user)!;
    if (e.prev !== null) e.prev.next = e.next;
    else line.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else line.tail = e.prev;
    e.prev = e.next = null;
    line.size--;
    if (e.woken) line.woken--;
    if (line.size === 0) {
      if (line.look !== null) this.timers.clearTimeout(line.look);
      this.lines.delete(e.user);
    }
    this.count--;
    if (this.count === 0) {
      this.heap.length = 0;
      this.disarm();
    } else if (this.heap.length > 2 * this.count + COMPACT_SLACK) {
      this.compact();
    }
  }

  /** Drops finished entries from the heap (answered consumers whose deadline is still far off). */
  private compact(): void {
    const live = this.heap.filter((e) => !e.done);
    this.heap.length = 0;
    for (const e of live) this.pushHeap(e);
  }

  /** Answers the idle consumers whose deadline has come; woken ones are told when they repark. */
  private expire(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = this.timers.now();
    const due: Entry[] = [];
    while (this.heap.length > 0 && (this.heap[0]!.done || this.heap[0]!.deadline <= now)) {
      const e = this.popHeap();
      if (e.done) continue;
      if (e.woken) continue; // repark tells it
      this.remove(e);
      due.push(e);
    }
    this.arm();
    for (const e of due) e.callbacks.onDeadline();
  }

  private arm(): void {
    while (this.heap.length > 0 && this.heap[0]!.done) this.popHeap();
    const top = this.heap[0];
    if (top === undefined) return this.disarm();
    if (top.deadline >= this.timerAt && this.timer !== null) return;
    this.disarm();
    this.timerAt = top.deadline;
    this.timer = this.timers.setTimeout(() => this.expire(), Math.max(0, top.deadline - this.timers.now()));
  }

  private disarm(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private pushHeap(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.deadline <= e.deadline) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private popHeap(): Entry {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]!.deadline < h[l]!.deadline ? r : l;
        if (h[c]!.deadline >= last.deadline) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
