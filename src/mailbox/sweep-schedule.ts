// Which mailboxes the expiry sweep must visit, and from when: a heap of mailboxes by the first
// moment the sweep would change each (sweepDueAt), so that a sweep costs what it finds due instead
// of a walk over every mailbox (at a million mailboxes that walk held every replica's event loop
// 17-43 ms each second on a quiet machine).
//
// The rule the mailbox keeps: after any command changes a mailbox, or the mailbox is read from an
// image, it is rescheduled (`schedule`), and a dropped mailbox leaves (`drop`). A due time may be a
// lower bound (the mailbox's minExpiry and minLeaseEnd are), so the sweep may visit a mailbox for
// nothing; it never visits one late. The heap holds one entry per mailbox with something to
// expire, end or show (indexed-heap.ts), whatever churn the mailboxes go through. Derived state:
// not in images.

import { IndexedHeap } from './indexed-heap.js';
import type { UserBox } from './state.js';

/** When the sweep would first change `box`: an expiry, a lease end, a delayed message due, or at once if it holds nothing. */
export function sweepDueAt(box: UserBox): number {
  if (box.held === 0) return -Infinity;
  let at = box.minExpiry;
  if (box.leases !== null && box.minLeaseEnd < at) at = box.minLeaseEnd;
  const visibleAt = box.delayed?.nextVisibleAt ?? Infinity;
  return visibleAt < at ? visibleAt : at;
}

export class SweepSchedule {
  private readonly heap = new IndexedHeap<UserBox>({ get: (box) => box.sweepPos, set: (box, i) => (box.sweepPos = i) });

  /** Mailboxes scheduled. */
  get size(): number {
    return this.heap.size;
  }

  /** Puts `box` at sweepDueAt(box), or takes it off when nothing of it will ever be due. */
  schedule(box: UserBox): void {
    const at = sweepDueAt(box);
    if (at === Infinity) this.heap.delete(box);
    else this.heap.set(box, at);
  }

  /** Takes `box`, dropped from the state, off the schedule. */
  drop(box: UserBox): void {
    this.heap.delete(box);
  }

  /**
   * Takes every mailbox due by `now` off the schedule, earliest first: the sweep handles them, then
   * schedules again the ones it kept (never in the same sweep, whatever their new due time).
   */
  takeDue(now: number): UserBox[] {
    const due: UserBox[] = [];
    for (let box = this.heap.peek(); box !== undefined && this.heap.peekKey() <= now; box = this.heap.peek()) {
      this.heap.delete(box);
      due.push(box);
    }
    return due;
  }
}
