// The bridge shares the event loop with the Raft loop, and its work comes in bursts: a batch of
// committed entries resolves hundreds of requests in one microtask checkpoint, and one read of the
// router's socket can hold hundreds of queries. Each costs tenths of a millisecond (for a reply:
// the zenoh-ts serializer, a WebSocket frame and a socket write; for a query: its decoding and
// its handling up to the proposal), and in CPU profiles of bench:scale at 3,000,000 queued the
// leader's event-loop stalls of 200-250 ms were such bursts, each in one turn of the loop, with no
// tick, heartbeat or apply between.
//
// A pacer gives each turn of the loop a budget of such work; work past it is queued for a later
// turn (setImmediate), so that timers and I/O run between. Work runs in the order it was handed
// over. The budget is checked right before a piece starts, in the same synchronous stretch as
// the piece's own work: a check separated from the work by an await would let a whole burst pass
// before any of it had cost anything.

export class LoopPacer {
  /** When the current turn's first piece started (performance.now() ms), or null between turns. */
  private turnStart: number | null = null;
  /** Work waiting for a turn with budget left, oldest first. */
  private readonly queue: Array<() => void> = [];
  private pumpScheduled = false;

  constructor(private readonly budgetMs: number) {}

  /** Starts `work` now if this turn has budget left and nothing waits before it, else in a later turn; resolves as it does. */
  send<T>(work: () => Promise<T>): Promise<T> {
    if (this.queue.length === 0 && this.inBudget()) {
      try {
        return work();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => {
        try {
          work().then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      });
      this.schedulePump();
    });
  }

  /**
   * Runs synchronous `work` now, or in a later turn as `send` would. What it throws is thrown as
   * it would have been unpaced: to the caller, or from the turn it runs in (an uncaught exception).
   */
  run(work: () => void): void {
    if (this.queue.length === 0 && this.inBudget()) work();
    else {
      this.queue.push(work);
      this.schedulePump();
    }
  }

  /** Pieces of work waiting for a turn. */
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
      try {
        while (this.queue.length > 0 && this.inBudget()) this.queue.shift()!();
      } finally {
        // Also when a piece threw: the rest still goes in later turns.
        if (this.queue.length > 0) this.schedulePump();
      }
    });
  }
}
