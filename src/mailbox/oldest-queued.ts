// The oldest message waiting in any queue (what forge_mailbox_oldest_message_age_seconds reports,
// like SQS's ApproximateAgeOfOldestMessage), without a walk over every mailbox at each scrape: at a
// million mailboxes that walk held the event loop 48-65 ms per scrape under load. A heap of the
// mailboxes by the enqueue time of their queue's head (indexed-heap.ts): the mailbox moves it after
// each change, a dropped mailbox leaves it. Leased, delayed and dead-lettered messages are not in a
// queue and not counted. Derived state: not in images.

import { IndexedHeap } from './indexed-heap.js';
import type { UserBox } from './state.js';

export class OldestQueued {
  private readonly heap = new IndexedHeap<UserBox>({ get: (box) => box.headPos, set: (box, i) => (box.headPos = i) });

  /** Moves `box` to its queue head's enqueue time, or takes it off when its queue is empty. */
  update(box: UserBox): void {
    const at = box.queue.headEnqueuedAt();
    if (at === Infinity) this.heap.delete(box);
    else this.heap.set(box, at);
  }

  /** Takes `box`, dropped from the state, off. */
  drop(box: UserBox): void {
    this.heap.delete(box);
  }

  /** The enqueue time of the oldest queued message, Infinity when every queue is empty. */
  enqueuedAt(): number {
    return this.heap.peekKey();
  }
}
