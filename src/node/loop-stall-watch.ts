// Reports each event-loop stall longer than a threshold, with the garbage collection that fell
// inside it. A stalled loop sends no heartbeats and answers no clients: a leader stalled past the
// election timeout loses its leadership. The longest-pause gauge says that one happened; this
// says when, how long, and whether the collector accounts for it (etcd warns the same way about a
// leader that could not send its heartbeats on time).
//
// How: a timer every `intervalMs` notes the gap since its last run; a gap over `thresholdMs` is a
// stall from the last run to this one. GC entries arrive from a PerformanceObserver a little
// after the GC, so a stall is reported one timer period later, with the collections that started
// inside it summed.

import { PerformanceObserver } from 'node:perf_hooks';

export interface LoopStall {
  /** The gap between two runs of the watch's timer, ms (the stall plus at most one interval). */
  stallMs: number;
  /** Garbage collections that began inside the gap: how many, and their pauses summed, ms. */
  gcCount: number;
  gcMs: number;
  /** When the gap began and ended (performance.now() ms). */
  from: number;
  to: number;
}

export interface LoopStallWatchOptions {
  thresholdMs: number;
  intervalMs: number;
  onStall: (stall: LoopStall) => void;
}

/** Collections kept for matching: far more than fit in a stall report's delay. */
const GC_KEPT = 256;

export class LoopStallWatch {
  private readonly gcs: Array<{ start: number; duration: number }> = [];
  private readonly observer: PerformanceObserver;
  private readonly timer: NodeJS.Timeout;
  private last = performance.now();
  private readonly pending = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly opts: LoopStallWatchOptions) {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.gcs.push({ start: e.startTime, duration: e.duration });
      if (this.gcs.length > GC_KEPT) this.gcs.splice(0, this.gcs.length - GC_KEPT);
    });
    this.observer.observe({ entryTypes: ['gc'] });
    this.timer = setInterval(() => this.tick(), opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    this.observer.disconnect();
  }

  private tick(): void {
    const now = performance.now();
    const from = this.last;
    this.last = now;
    if (now - from <= this.opts.thresholdMs) return;
    // The observer delivers the stall's GC entries after this tick: report once they are in.
    const t = setTimeout(() => {
      this.pending.delete(t);
      if (this.stopped) return;
      const inside = this.gcs.filter((g) => g.start >= from && g.start < now);
      this.opts.onStall({ stallMs: now - from, gcCount: inside.length, gcMs: inside.reduce((a, g) => a + g.duration, 0), from, to: now });
    }, this.opts.intervalMs);
    t.unref();
    this.pending.add(t);
  }
}
