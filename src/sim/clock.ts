// Simulated time. Everything that happens in a simulation (a tick, a message delivered, a disk
// write completing, a driver's deferred work or timeout) is an event at an integer time on one
// queue, run in (time, order of scheduling) order, so a run is fixed by its seed.
//
// The driver is asynchronous (it awaits its disk), and promise continuations run as microtasks,
// which a synchronous loop never lets run. So after running the events due now, `settle` yields
// one macrotask turn (setImmediate), by which point Node has run every microtask queued; events
// those continuations scheduled for now run next, until nothing is due. Only this simulation
// schedules anything (no real timers or I/O are involved), so the microtask order, and with it
// the run, is the same every time.

import type { Scheduler, TimerHandle } from '../raft/scheduler.js';

/** One incarnation of a node: when it crashes, its pending timers and deferred work die with it. */
export class Process {
  alive = true;
}

interface Timer {
  cancelled: boolean;
}

interface SimEvent {
  fn: () => void;
  owner: Process | null;
  timer: Timer | null;
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class SimClock {
  now = 0;
  private readonly due = new Map<number, SimEvent[]>();

  /** Runs `fn` at `time` (not before now), unless `owner` has crashed by then. */
  at(time: number, fn: () => void, owner: Process | null = null, timer: Timer | null = null): void {
    const t = Math.max(this.now, Math.ceil(time));
    let list = this.due.get(t);
    if (!list) this.due.set(t, (list = []));
    list.push({ fn, owner, timer });
  }

  /**
   * Moves time forward by one unit and runs everything due, promise continuations included. Work
   * the simulation itself scheduled for now since the last settle (a client request deferring the
   * driver's loop) runs first.
   */
  async advance(): Promise<void> {
    if (this.due.has(this.now)) await this.settle();
    this.now++;
    await this.settle();
  }

  /** Runs everything due now, and what that schedules for now, until nothing is left. */
  async settle(): Promise<void> {
    for (;;) {
      const list = this.due.get(this.now);
      if (list) {
        // Events scheduled for now while these run are appended to `list` and run in this pass.
        for (let i = 0; i < list.length; i++) {
          const ev = list[i]!;
          if ((ev.owner === null || ev.owner.alive) && (ev.timer === null || !ev.timer.cancelled)) ev.fn();
        }
        this.due.delete(this.now);
      }
      await yieldTurn();
      if (!this.due.has(this.now)) return;
    }
  }

  /**
   * The Scheduler a process's driver runs on. `tickFires` decides, for each tick period, whether
   * the tick happens (a skipped tick is a slow clock). `wall` is the node's wall clock (skewed,
   * jumping) given the simulated time; its monotonic clock is simulated time from `monoOrigin`.
   */
  scheduler(owner: Process, tickFires: () => boolean, wall: (now: number) => number = (now) => now, monoOrigin = 0): Scheduler {
    return {
      now: () => wall(this.now),
      monotonic: () => monoOrigin + this.now,
      after: (ms, fn) => {
        const timer: Timer = { cancelled: false };
        this.at(this.now + ms, fn, owner, timer);
        return timer;
      },
      every: (ms, fn) => {
        const timer: Timer = { cancelled: false };
        const period = Math.max(1, ms);
        const fire = () => {
          this.at(this.now + period, fire, owner, timer);
          if (tickFires()) fn();
        };
        this.at(this.now + period, fire, owner, timer);
        return timer;
      },
      cancel: (handle: TimerHandle) => {
        (handle as Timer).cancelled = true;
      },
      defer: (fn) => this.at(this.now, fn, owner),
    };
  }
}
