// SweepSchedule: mailboxes come out in due-time order, only once due, and only through their live
// entry; and the sweep built on it visits only what is due, however many mailboxes there are.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Mailbox } from '../../src/mailbox/mailbox.js';
import { StoredMessage } from '../../src/mailbox/seq-queue.js';
import { UserBox } from '../../src/mailbox/state.js';
import { SweepSchedule, sweepDueAt } from '../../src/mailbox/sweep-schedule.js';

/** A mailbox holding one queued message that expires at `expiresAt`. */
function boxExpiringAt(expiresAt: number): UserBox {
  const box = new UserBox('u');
  box.queue.push(new StoredMessage(1, null, 0, 1, 0, expiresAt, 0));
  box.minExpiry = expiresAt;
  return box;
}

test('due mailboxes come out in time order, each once, and none before its time', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 200 }), fc.integer({ min: 0, max: 1000 }), (times, now) => {
      const boxes = new Map<string, UserBox>();
      const schedule = new SweepSchedule();
      times.forEach((t, i) => {
        const box = boxExpiringAt(t);
        boxes.set(`u${i}`, box);
        schedule.schedule(`u${i}`, box);
      });
      const out: number[] = [];
      for (let due = schedule.takeDue(now, boxes); due !== undefined; due = schedule.takeDue(now, boxes)) {
        out.push(due[1].minExpiry);
        assert.equal(due[1].sweepAt, Infinity, 'taken off the schedule');
      }
      assert.deepEqual(out, times.filter((t) => t <= now).sort((a, b) => a - b));
    }),
  );
});

test('a later due time keeps the earlier entry; a dropped or replaced mailbox is skipped; an empty one is due at once', () => {
  const boxes = new Map<string, UserBox>();
  const schedule = new SweepSchedule();
  const a = boxExpiringAt(10);
  boxes.set('a', a);
  schedule.schedule('a', a);
  a.minExpiry = 50;
  schedule.schedule('a', a);
  assert.equal(a.sweepAt, 10, 'the earlier entry stays: the sweep visits early, never late');
  assert.equal(schedule.size, 1);
  assert.deepEqual(schedule.takeDue(10, boxes), ['a', a]);

  const b = boxExpiringAt(20);
  boxes.set('b', b);
  schedule.schedule('b', b);
  boxes.set('b', boxExpiringAt(20));
  boxes.delete('a');
  assert.equal(schedule.takeDue(100, boxes), undefined, 'the entry of a replaced mailbox is stale');

  const empty = new UserBox('e');
  assert.equal(sweepDueAt(empty), -Infinity);
  boxes.set('e', empty);
  schedule.schedule('e', empty);
  assert.deepEqual(schedule.takeDue(0, boxes), ['e', empty]);
});

test('a sweep visits only the mailboxes due: 100,000 mailboxes with TTLs, one due', () => {
  const m = new Mailbox();
  const T0 = 1_000_000;
  let index = 0;
  for (let i = 0; i < 100_000; i++) {
    index++;
    m.apply({ op: 'put', user: `user-${i}`, body: new Uint8Array(1), ttlMs: i === 500 ? 5 : 60_000 }, { index, term: 1, time: T0 });
  }
  const schedule = m.state.sweeps;
  const before = schedule.size;
  index++;
  const swept = m.apply({ op: 'expire' }, { index, term: 1, time: T0 + 1000 });
  assert.deepEqual(swept, { kind: 'expired', expired: 1, deadLettered: 0, leasesReturned: 0 });
  assert.equal(schedule.size, before - 1, 'one entry taken, nothing rescheduled: the mailbox it emptied is gone');
  assert.equal(m.state.users.has('user-500'), false);
  assert.equal(m.state.users.size, 99_999);
});
