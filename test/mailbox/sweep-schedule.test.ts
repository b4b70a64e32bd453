// The indexes the mailbox keeps beside its maps so that no sweep or scrape walks every mailbox:
// IndexedHeap (one entry per item, keys moved and items removed in place), the sweep schedule and
// the oldest-queued index built on it; checked against walks over every mailbox on random logs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeCommand } from '../../src/mailbox/codec.js';
import { IndexedHeap } from '../../src/mailbox/indexed-heap.js';
import { Mailbox } from '../../src/mailbox/mailbox.js';
import { sweepDueAt } from '../../src/mailbox/sweep-schedule.js';
import { log, options } from '../support/mailbox-log.js';

interface Item {
  pos: number;
  id: number;
}

test('an indexed heap gives the least key through sets, moves and deletes, one entry per item', () => {
  const op = fc.tuple(fc.constantFrom('set', 'delete'), fc.integer({ min: 0, max: 30 }), fc.integer({ min: -50, max: 50 }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const items = Array.from({ length: 31 }, (_, id): Item => ({ pos: -1, id }));
      const keys = new Map<Item, number>();
      const heap = new IndexedHeap<Item>({ get: (t) => t.pos, set: (t, i) => (t.pos = i) });
      for (const [kind, id, key] of ops) {
        const item = items[id]!;
        if (kind === 'set') {
          heap.set(item, key);
          keys.set(item, key);
        } else {
          heap.delete(item);
          keys.delete(item);
          assert.equal(item.pos, -1);
        }
        assert.equal(heap.size, keys.size, 'one entry per item');
        const least = Math.min(...keys.values());
        assert.equal(heap.peekKey(), least);
        if (keys.size > 0) assert.equal(keys.get(heap.peek()!), least);
      }
    }),
    { numRuns: 300 },
  );
});

test('after every command, the sweep schedule holds exactly the mailboxes with something ahead, by due time, and the oldest-queued index the oldest head', () => {
  fc.assert(
    fc.property(log, (entries) => {
      // maxDeliveries 1: every lease that ends dead-letters, so dead letters come and go.
      const m = new Mailbox({ ...options, maxDeliveries: 1 });
      for (const e of entries) {
        let cmd;
        try {
          cmd = decodeCommand(e.data);
        } catch {
          continue; // the undecodable entries of the log
        }
        m.apply(cmd, e.meta);
        const s = m.state;
        let scheduled = 0;
        let oldest = Infinity;
        let dead = 0;
        let deadBytes = 0;
        for (const box of s.users.values()) {
          if (sweepDueAt(box) !== Infinity) scheduled++;
          else assert.equal(box.sweepPos, -1);
          oldest = Math.min(oldest, box.queue.headEnqueuedAt());
          dead += box.dead?.size ?? 0;
          deadBytes += box.dead?.bytes ?? 0;
        }
        assert.equal(s.sweeps.size, scheduled, 'one entry per mailbox with something ahead, none for dropped ones');
        assert.equal(m.oldestQueuedAt(), oldest === Infinity ? null : oldest);
        assert.deepEqual([s.deadMessages, s.deadBytes], [dead, deadBytes], 'dead-letter running totals');
      }
    }),
    { numRuns: 200 },
  );
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
  assert.equal(schedule.size, 100_000);
  index++;
  const swept = m.apply({ op: 'expire' }, { index, term: 1, time: T0 + 1000 });
  assert.deepEqual(swept, { kind: 'expired', expired: 1, deadLettered: 0, leasesReturned: 0 });
  assert.equal(schedule.size, 99_999, 'the mailbox it emptied left the schedule');
  assert.equal(m.state.users.has('user-500'), false);
  assert.equal(m.state.users.size, 99_999);
});
