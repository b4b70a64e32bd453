// The liveness rules of one peer connection, on a hand-driven clock: pings only when this side is
// idle, teardown only after the timeout of silence, and never for bytes that are already waiting.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkLiveness, type LivenessClock } from '../../src/raft/link-liveness.js';

/** A clock whose interval timers and after-I/O callbacks run only when the test advances it. */
class ManualClock implements LivenessClock {
  t = 0;
  private intervals = new Map<number, { fn: () => void; ms: number; next: number }>();
  private pendingIo: Array<() => void> = [];
  private ids = 0;
  /** Work the "event loop" does between a timer and the after-I/O callbacks (reading sockets). */
  io: () => void = () => {};

  now(): number {
    return this.t;
  }
  setInterval(fn: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.intervals.set(id, { fn, ms, next: this.t + ms });
    return id;
  }
  clearInterval(handle: unknown): void {
    this.intervals.delete(handle as number);
  }
  afterPendingIo(fn: () => void): void {
    this.pendingIo.push(fn);
  }
  get timers(): number {
    return this.intervals.size;
  }

  /** Moves time forward in 1 ms steps, firing due timers, then the pending I/O, then the after-I/O callbacks. */
  advance(ms: number): void {
    for (const end = this.t + ms; this.t < end; ) {
      this.t++;
      for (const timer of [...this.intervals.values()]) {
        while (timer.next <= this.t) {
          timer.next += timer.ms;
          timer.fn();
        }
      }
      this.io();
      const callbacks = this.pendingIo;
      this.pendingIo = [];
      for (const fn of callbacks) fn();
    }
  }
}

function watch(timeoutMs: number, clock: ManualClock, opts: { canWrite?: () => boolean } = {}) {
  const events: string[] = [];
  const liveness = new LinkLiveness(
    timeoutMs,
    {
      ping: () => {
        if (opts.canWrite && !opts.canWrite()) return false;
        events.push(`ping@${clock.t}`);
        return true;
      },
      dead: (silentMs) => events.push(`dead@${clock.t} after ${silentMs}`),
    },
    clock,
  );
  return { liveness, events };
}

test('an idle side pings every third of the timeout; a side that sends needs no ping', () => {
  const clock = new ManualClock();
  const { liveness, events } = watch(300, clock);
  for (let i = 0; i < 6; i++) {
    clock.advance(50);
    liveness.heard();
  }
  assert.deepEqual(events, ['ping@100', 'ping@200', 'ping@300']);

  events.length = 0;
  for (let i = 0; i < 20; i++) {
    clock.advance(20);
    liveness.sent();
    liveness.heard();
  }
  assert.deepEqual(events, []);
});

test('a link that hears nothing for the timeout is declared dead once, within 7/6 of the timeout', () => {
  const clock = new ManualClock();
  const { events } = watch(300, clock);
  clock.advance(1000);
  assert.deepEqual(events, ['ping@100', 'ping@200', 'dead@300 after 300']);
  assert.equal(clock.timers, 0, 'the checks stop with the link');

  // Heard until 130: dead at the first check at or after 430, the one at 450.
  const late = new ManualClock();
  const { liveness, events: lateEvents } = watch(300, late);
  late.advance(130);
  liveness.heard();
  late.advance(1000);
  assert.deepEqual(lateEvents.filter((e) => e.startsWith('dead')), ['dead@450 after 320']);
});

test('bytes heard in time keep the link alive however long it lasts', () => {
  const clock = new ManualClock();
  const { liveness, events } = watch(300, clock);
  for (let i = 0; i < 100; i++) {
    clock.advance(290);
    liveness.heard();
  }
  assert.ok(!events.some((e) => e.startsWith('dead')), events.join());
});

test('bytes already waiting when the check fires (this process stalled) save the link', () => {
  const clock = new ManualClock();
  const { liveness, events } = watch(300, clock);
  // The peer's bytes are read by the event loop between the timer and the after-I/O callback.
  clock.io = () => {
    if (clock.t === 300) liveness.heard();
  };
  clock.advance(400);
  assert.ok(!events.some((e) => e.startsWith('dead')), events.join());
  clock.io = () => {};
  clock.advance(400);
  assert.deepEqual(events.filter((e) => e.startsWith('dead')), ['dead@600 after 300']);
});

test('a backed-up socket gets no ping; the ping goes out as soon as it can be written', () => {
  const clock = new ManualClock();
  let writable = false;
  const { liveness, events } = watch(300, clock, { canWrite: () => writable });
  clock.advance(150);
  liveness.heard();
  assert.deepEqual(events, []);
  writable = true;
  clock.advance(50);
  assert.deepEqual(events, ['ping@200']);
});

test('a stopped watch neither pings nor declares anything, and timeouts too short to be safe are refused', () => {
  const clock = new ManualClock();
  const { liveness, events } = watch(300, clock);
  liveness.stop();
  clock.advance(2000);
  assert.deepEqual(events, []);
  assert.equal(clock.timers, 0);
  assert.throws(() => watch(10, clock), RangeError);
});
