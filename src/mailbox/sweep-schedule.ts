// Which mailboxes the expiry sweep must visit, and from when: a min-heap of (time, user), so that a
// sweep costs what it finds due instead of a walk over every mailbox (at a million mailboxes that
// walk held every replica's event loop 17-43 ms each second on a quiet machine).
//
// Each mailbox's `sweepAt` (state.ts) is the time of its live entry here, Infinity for none. The
// rule the mailbox keeps: sweepAt is never later than the first moment the sweep would change that
// mailbox (sweepDueAt), so every mailbox the sweep must change has an entry due by then. Entries are
// never removed early: a mailbox whose due time moves later keeps its earlier entry, and the sweep
// visits it for nothing then reschedules it; an entry whose mailbox was dropped, replaced or
// rescheduled earlier no longer matches its sweepAt and is skipped when it comes out.
//
// The heap is held in two columns (times, users) rather than an object per entry, since there is
// an entry for nearly every mailbox that holds a message with a TTL. Derived state: not in images,
// rebuilt by the snapshot reader as it reads each mailbox.

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
  private readonly times: number[] = [];
  private readonly users: string[] = [];

  /** Entries held, stale ones included. */
  get size(): number {
    return this.times.length;
  }

  /** Makes sure `box` (the mailbox of `user`) is visited by the first sweep at or after sweepDueAt(box). */
  schedule(user: string, box: UserBox): void {
    const at = sweepDueAt(box);
    if (at >= box.sweepAt) return;
    box.sweepAt = at;
    this.push(at, user);
  }

  /**
   * The next mailbox due by `now` whose entry is live, taken off the schedule (its sweepAt is
   * Infinity until it is scheduled again), or undefined when none is due.
   */
  takeDue(now: number, boxes: ReadonlyMap<string, UserBox>): [string, UserBox] | undefined {
    while (this.times.length > 0 && this.times[0]! <= now) {
      const at = this.times[0]!;
      const user = this.users[0]!;
      this.popTop();
      const box = boxes.get(user);
      if (box !== undefined && box.sweepAt === at) {
        box.sweepAt = Infinity;
        return [user, box];
      }
    }
    return undefined;
  }

  private push(at: number, user: string): void {
    const times = this.times;
    const users = this.users;
    let i = times.length;
    times.push(at);
    users.push(user);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= at) break;
      times[i] = times[parent]!;
      users[i] = users[parent]!;
      i = parent;
    }
    times[i] = at;
    users[i] = user;
  }

  private popTop(): void {
    const times = this.times;
    const users = this.users;
    const lastAt = times.pop()!;
    const lastUser = users.pop()!;
    const n = times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && times[child + 1]! < times[child]!) child++;
      if (times[child]! >= lastAt) break;
      times[i] = times[child]!;
      users[i] = users[child]!;
      i = child;
    }
    times[i] = lastAt;
    users[i] = lastUser;
  }
}
