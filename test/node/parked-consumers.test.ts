// The parking structure of long-poll consumes: FIFO per mailbox, wake N, re-park at its place,
// deadlines from one timer, release of all (leadership lost), capacity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParkedConsumers, type ParkedCallbacks, type ParkedTicket, type Timers } from '../../src/node/parked-consumers.js';

/** Timers under the test's control: `advance` fires what is due, in order. */
class FakeTimers implements Timers {
  time = 0;
  armed = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now = () => this.time;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.armed.set(id, { at: this.time + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown) => void this.armed.delete(h as number);
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.armed.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.armed.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = until;
  }
}

interface Seen {
  woken: ParkedTicket[];
  events: string[];
}

function consumer(name: string, seen: Seen): ParkedCallbacks {
  return {
    onWake: (t) => {
      seen.woken.push(t);
      seen.events.push(`wake ${name}`);
    },
    onDeadline: () => seen.events.push(`deadline ${name}`),
    onRelease: (e) => seen.events.push(`release ${name} ${String(e)}`),
  };
}

test('consumers of one mailbox are woken oldest first, N at a time; other mailboxes are left alone', () => {
  const timers = new FakeTimers();
  const parked = new ParkedConsumers(100, timers);
  const seen: Seen = { woken: [], events: [] };
  for (const name of ['a1', 'a2', 'a3']) parked.park('alice', 1000, consumer(name, seen));
  parked.park('bob', 1000, consumer('b1', seen));
  assert.equal(parked.size, 4);
  assert.equal(parked.wake('alice', 2), 2);
  assert.deepEqual(seen.events, ['wake a1', 'wake a2']);
  // Woken ones are not woken again while being tried.
  assert.equal(parked.wake('alice', 5), 1);
  assert.deepEqual(seen.events, ['wake a1', 'wake a2', 'wake a3']);
  assert.equal(parked.wake('carol', 1), 0);
  assert.equal(parked.parkedOn('bob'), 1);
});

test('a woken consumer that finds nothing waits again at its place, ahead of later ones', () => {
  const timers = new FakeTimers();
  const parked = new ParkedConsumers(100, timers);
  const seen: Seen = { woken: [], events: [] };
  parked.park('alice', 1000, consumer('a1', seen));
  parked.park('alice', 1000, consumer('a2', seen));
  parked.wake('alice', 1);
  parked.repark(seen.woken[0]!);
  assert.equal(parked.hasIdle('alice'), true);
  parked.wake('alice', 1);
  assert.deepEqual(seen.events, ['wake a1', 'wake a1'], 'a1 is still first in line');
  parked.finish(seen.woken[1]!);
  parked.wake('alice', 1);
  assert.deepEqual(seen.events, ['wake a1', 'wake a1', 'wake a2']);
  assert.equal(parked.parkedOn('alice'), 1);
});

test('deadlines: idle consumers are told when their wait ends, in deadline order, from one timer', () => {
  const timers = new FakeTimers();
  const parked = new ParkedConsumers(100, timers);
  const seen: Seen = { woken: [], events: [] };
  parked.park('alice', 300, consumer('late', seen));
  parked.park('bob', 100, consumer('early', seen));
  parked.park('alice', 200, consumer('middle', seen));
  assert.equal(timers.armed.size, 1, 'one timer for all of them');
  timers.advance(150);
  assert.deepEqual(seen.events, ['deadline early']);
  timers.advance(200);
  assert.deepEqual(seen.events, ['deadline early', 'deadline middle', 'deadline late']);
  assert.equal(parked.size, 0);
  assert.equal(timers.armed.size, 0, 'no timer left once nobody waits');
});

test('a consumer being tried at its deadline is told when it comes back to wait, not before', () => {
  const timers = new FakeTimers();
  const parked = new ParkedConsumers(100, timers);
  const seen: Seen = { woken: [], events: [] };
  parked.park('alice', 100, consumer('a1', seen));
  parked.wake('alice', 1);
  timers.advance(200);
  assert.deepEqual(seen.events, ['wake a1']);
  parked.repark(seen.woken[0]!);
  assert.deepEqual(seen.events, ['wake a1', 'deadline a1']);
  assert.equal(parked.size, 0);
});

test('a finished consumer leaves no deadline behind', () => {
  const timers = new FakeTimers();
  const parked = new ParkedConsumers(100, timers);
  const seen: Seen = { woken: [], events: [] };
  parked.park('alice', 100, consumer('a1', seen));
  parked.park('alice', 200, consumer('a2', seen));
  parked.wake('alice', 1);
  parked.finish(seen.woken[0]!);
  timers.advance(1000);
  assert.deepEqual(seen.events, ['wake a1', 'deadline a2']);
});

test('releaseAll tells every idle consumer at once; one being tried is told when it comes back to wait', () => {
  const timers = new FakeTimers();
  const parked = new ParkedConsumers(100, timers);
  const seen: Seen = { woken: [], events: [] };
  parked.park('alice', 1000, consumer('a1', seen));
  parked.park('alice', 1000, consumer('a2', seen));
  parked.park('bob', 1000, consumer('b1', seen));
  parked.wake('alice', 1);
  assert.equal(parked.releaseAll('NOT_LEADER'), 2);
  assert.deepEqual(seen.events, ['wake a1', 'release a2 NOT_LEADER', 'release b1 NOT_LEADER']);
  assert.equal(parked.size, 1, 'a1 is still being tried');
  parked.repark(seen.woken[0]!);
  assert.deepEqual(seen.events.at(-1), 'release a1 NOT_LEADER');
  assert.equal(parked.size, 0);
  timers.advance(2000);
  assert.equal(seen.events.length, 4, 'no deadline fires for released consumers');
});

test('capacity: one past it is refused, and room comes back as consumers leave', () => {
  const timers = new FakeTimers();
  const parked = new ParkedConsumers(2, timers);
  const seen: Seen = { woken: [], events: [] };
  assert.ok(parked.park('a', 100, consumer('1', seen)));
  assert.ok(parked.park('b', 100, consumer('2', seen)));
  assert.equal(parked.park('c', 100, consumer('3', seen)), null);
  timers.advance(100);
  assert.ok(parked.park('c', 100, consumer('3', seen)));
});

test('10,000 parked consumers with their deadlines: woken, finished and expired without a timer each', () => {
  const timers = new FakeTimers();
  const parked = new ParkedConsumers(20_000, timers);
  let deadlines = 0;
  const woken: ParkedTicket[] = [];
  for (let i = 0; i < 10_000; i++) {
    parked.park(`user${i % 100}`, 1000 + (i % 997), {
      onWake: (t) => woken.push(t),
      onDeadline: () => deadlines++,
      onRelease: () => assert.fail('not released'),
    });
  }
  assert.equal(timers.armed.size, 1);
  for (let u = 0; u < 100; u++) parked.wake(`user${u}`, 50);
  assert.equal(woken.length, 5000);
  for (const t of woken) parked.finish(t);
  timers.advance(5000);
  assert.equal(deadlines, 5000);
  assert.equal(parked.size, 0);
});
