// How long the event loop went without running a timer: a 5 ms interval records the longest gap
// between two of its runs (`monitorEventLoopDelay`'s maximum agrees within a few ms). Tests and
// benchmarks use it to bound a pause of the loop; `onTick` samples something else as often.

export class EventLoopGaps {
  private longest = 0;
  private last = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(onTick?: () => void, intervalMs = 5) {
    this.timer = setInterval(() => {
      const now = performance.now();
      this.longest = Math.max(this.longest, now - this.last);
      this.last = now;
      onTick?.();
    }, intervalMs);
  }

  /** The longest gap so far, in ms. */
  get longestMs(): number {
    return this.longest;
  }

  /** Stops watching; the gap since the timer's last run counts too. Returns the longest gap. */
  stop(): number {
    clearInterval(this.timer);
    this.longest = Math.max(this.longest, performance.now() - this.last);
    return this.longest;
  }
}
