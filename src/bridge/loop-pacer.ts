// Replies share the event loop with the Raft loop. A batch of committed entries resolves hundreds
// of requests in one microtask checkpoint, and each reply costs the zenoh-ts serializer, a
// WebSocket frame and a socket write (0.3-0.7 ms at depth): in CPU profiles of bench:scale at
// 3,000,000 queued, the leader's event-loop stalls of 250 ms were such bursts, all in one turn of
// the loop, with no tick, heartbeat or apply between. The pacer gives each turn of the loop a
// budget of reply time; a reply past it is queued for a later turn (setImmediate), so that timers
// and I/O run between. Replies go in the order they were handed over.
//
// The budget is checked right before a reply starts, in the same synchronous stretch as the
// reply's own work (serializing and writing happen before its first await): a check separated
// from the work by an await would let a whole burst pass before any of it had cost anything.

export class ReplyPacer {
  /** When the current turn's first reply started (performance.now() ms), or null between turns. */
  private turnStart: number | null = null;
  /** Replies waiting for a turn with budget left, oldest first. */
  private readonly queue: Array<() => void> = [];
  private pumpScheduled = false;

  constructor(private readonly budgetMs: number) {}

  /** Starts `reply` now if this turn has budget left and nothing waits before it, else in a later turn; resolves as it does. */
  send<T>(reply: () => Promise<T>): Promise<T> {
    if (this.queue.length === 0 && this.inBudget()) {
      try {
        return reply();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => {
        try {
          reply().then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      });
      this.schedulePump();
    });
  }

  /** Replies waiting for a turn (for tests). */
  get waiting(): number {
    return this.queue.length;
  }

  private inBudget(): boolean {
    const now = performance.now();
    if (this.turnStart === null) {
      this.turnStart = now;
      // The turn ends when the loop comes round to its check phase.
      setImmediate(() => {
        this.turnStart = null;
      });
      return true;
    }
    return now - this.turnStart < this.budgetMs;
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      while (this.queue.length > 0 && this.inBudget()) this.queue.shift()!();
      if (this.queue.length > 0) this.schedulePump();
    });
  }
}
