// Scenario tests of delayed delivery and lease control (issue #12 items 4 and 5): put delayMs,
// touch, nack with a delay, the default nack backoff, redrive. Hand-computed expectations; time
// is the log entry's, so "visible at" is exact to the millisecond.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MailboxCommand, MailboxResult } from '../../src/mailbox/commands.js';
import { Mailbox } from '../../src/mailbox/mailbox.js';
import type { MailboxOptions } from '../../src/mailbox/options.js';

const T0 = 1_700_000_000_000;
const NONCE = 'AAECAwQFBgcICQoL';

function harness(options: Partial<MailboxOptions> = {}) {
  const mailbox = new Mailbox(options);
  let index = 0;
  return {
    mailbox,
    runAt(t: number, cmd: MailboxCommand): MailboxResult {
      return mailbox.apply(cmd, { index: ++index, term: 1, time: T0 + t });
    },
    len(t: number) {
      const r = mailbox.query({ op: 'len', user: 'u' }, T0 + t);
      assert.equal(r.kind, 'stats');
      return (r as Extract<MailboxResult, { kind: 'stats' }>).stats;
    },
    peekSeq(t: number): number | null {
      const r = mailbox.query({ op: 'peek', user: 'u' }, T0 + t);
      return r.kind === 'message' ? r.message.seq : null;
    },
  };
}

const put = (extra: Partial<Extract<MailboxCommand, { op: 'put' }>> = {}): MailboxCommand => ({ op: 'put', user: 'u', body: new Uint8Array([1]), ...extra });
const consume = (leaseMs?: number): MailboxCommand => ({ op: 'consume', user: 'u', ...(leaseMs ? { leaseMs, receiptNonce: NONCE } : {}) });

function seqOf(r: MailboxResult): number | null {
  return r.kind === 'message' ? r.message.seq : r.kind === 'empty' ? null : Number.NaN;
}

function receiptOf(r: MailboxResult): string {
  assert.equal(r.kind, 'message', JSON.stringify(r));
  return (r as Extract<MailboxResult, { kind: 'message' }>).message.receipt!;
}

describe('delayed delivery', () => {
  test('a delayed put is invisible (not consumed, peeked nor counted as waiting) until its exact replicated time', () => {
    const h = harness();
    h.runAt(0, put({ delayMs: 1000 }));
    assert.equal(h.peekSeq(999), null);
    assert.deepEqual(h.len(999), { count: 0, bytes: 0, oldestAgeMs: 0, inFlight: 0, deadLetterCount: 0, delayed: 1 });
    assert.equal(seqOf(h.runAt(999, consume())), null);
    assert.equal(h.peekSeq(1000), 1);
    assert.deepEqual(h.len(1000), { count: 1, bytes: 1, oldestAgeMs: 1000, inFlight: 0, deadLetterCount: 0 });
    assert.equal(seqOf(h.runAt(1000, consume())), 1);
    assert.equal(h.mailbox.state.users.size, 0);
  });

  test('FIFO by seq among visible messages: a delayed message that comes due goes before later puts', () => {
    const h = harness();
    h.runAt(0, put({ delayMs: 50 })); // seq 1
    h.runAt(10, put()); // seq 2
    h.runAt(60, put()); // seq 3
    assert.equal(seqOf(h.runAt(10, consume())), 1, 'time never goes back: 60 still');
    assert.equal(seqOf(h.runAt(70, consume())), 2);
    assert.equal(seqOf(h.runAt(70, consume())), 3);
  });

  test('a message whose delay is still running does not hide the visible ones behind it', () => {
    const h = harness();
    h.runAt(0, put({ delayMs: 500 }));
    h.runAt(1, put());
    assert.equal(seqOf(h.runAt(2, consume())), 2);
    assert.equal(seqOf(h.runAt(3, consume())), null);
  });

  test('a delay beyond maxDelayMs, or not a positive integer, is BAD_REQUEST and changes nothing', () => {
    const h = harness({ maxDelayMs: 1000 });
    const before = h.mailbox.snapshot();
    for (const delayMs of [1001, 0, -1, 1.5]) {
      const r = h.runAt(5, put({ delayMs }));
      assert.equal(r.kind === 'error' && r.code, 'BAD_REQUEST', `delay ${delayMs}`);
    }
    assert.deepEqual(h.mailbox.snapshot(), before);
  });

  test('the TTL runs from the put: a message expiring before its delay ends is never delivered and the sweep counts it expired', () => {
    const h = harness();
    h.runAt(0, put({ delayMs: 1000, ttlMs: 500 }));
    assert.equal(h.len(600).delayed, undefined);
    assert.deepEqual(h.runAt(600, { op: 'expire' }), { kind: 'expired', expired: 1, deadLettered: 0, leasesReturned: 0 });
    assert.equal(h.mailbox.state.users.size, 0);
  });

  test('delayed messages count toward the mailbox limit and are purged with it', () => {
    const h = harness({ maxMessagesPerMailbox: 2 });
    h.runAt(0, put({ delayMs: 100 }));
    h.runAt(0, put({ delayMs: 100 }));
    const full = h.runAt(0, put());
    assert.equal(full.kind === 'error' && full.code, 'MAILBOX_FULL');
    assert.deepEqual(h.runAt(1, { op: 'purge', user: 'u' }), { kind: 'purged', count: 2 });
    assert.equal(h.mailbox.state.users.size, 0);
  });

  test('the sweep moves due messages into the queue without changing what is delivered', () => {
    const h = harness();
    h.runAt(0, put({ delayMs: 10 }));
    h.runAt(20, { op: 'expire' });
    assert.equal(h.mailbox.state.users.get('u')!.delayed, null);
    assert.equal(h.mailbox.state.users.get('u')!.queue.size, 1);
    assert.equal(seqOf(h.runAt(21, consume())), 1);
  });
});

describe('touch', () => {
  test('a touched lease outlives its first deadline, keeps its receipt and can be acked after it', () => {
    const h = harness();
    h.runAt(0, put());
    const receipt = receiptOf(h.runAt(0, consume(100)));
    assert.deepEqual(h.runAt(90, { op: 'touch', user: 'u', receipt, leaseMs: 100 }), { kind: 'ok' });
    assert.equal(seqOf(h.runAt(150, consume())), null, 'still leased past the first deadline (100)');
    assert.equal(h.len(150).inFlight, 1);
    assert.deepEqual(h.runAt(189, { op: 'ack', user: 'u', receipt }), { kind: 'ok' });
    assert.equal(h.mailbox.state.users.size, 0);
  });

  test('a touched lease still ends at its new deadline and the message comes back', () => {
    const h = harness();
    h.runAt(0, put());
    const receipt = receiptOf(h.runAt(0, consume(100)));
    h.runAt(50, { op: 'touch', user: 'u', receipt, leaseMs: 200 });
    assert.equal(h.len(249).inFlight, 1);
    assert.equal(h.len(250).count, 1);
    assert.equal(seqOf(h.runAt(250, consume())), 1);
  });

  test('touch of an ended lease is LEASE_EXPIRED, of an unknown receipt UNKNOWN_RECEIPT, beyond maxLeaseMs BAD_REQUEST; none changes anything', () => {
    const h = harness({ maxLeaseMs: 1000 });
    h.runAt(0, put());
    const receipt = receiptOf(h.runAt(0, consume(100)));
    const before = h.mailbox.snapshot();
    const code = (r: MailboxResult) => (r.kind === 'error' ? r.code : r.kind);
    assert.equal(code(h.runAt(10, { op: 'touch', user: 'u', receipt, leaseMs: 1001 })), 'BAD_REQUEST');
    assert.equal(code(h.runAt(10, { op: 'touch', user: 'u', receipt: 'nope', leaseMs: 10 })), 'UNKNOWN_RECEIPT');
    assert.equal(code(h.runAt(100, { op: 'touch', user: 'u', receipt, leaseMs: 10 })), 'LEASE_EXPIRED');
    assert.deepEqual(h.mailbox.snapshot(), before);
  });
});

describe('nack with a delay, and the default backoff', () => {
  test('nack?delay returns the message only once the delay has passed', () => {
    const h = harness();
    h.runAt(0, put());
    const receipt = receiptOf(h.runAt(0, consume(100)));
    assert.deepEqual(h.runAt(10, { op: 'nack', user: 'u', receipt, delayMs: 300 }), { kind: 'ok' });
    assert.equal(h.len(309).delayed, 1);
    assert.equal(seqOf(h.runAt(309, consume())), null);
    const again = h.runAt(310, consume(100));
    assert.equal(seqOf(again), 1);
    assert.equal((again as Extract<MailboxResult, { kind: 'message' }>).message.deliveries, 2);
  });

  test('nack with delay 0 returns the message at once, even with a default backoff', () => {
    const h = harness({ nackBackoffMs: 1000 });
    h.runAt(0, put());
    const receipt = receiptOf(h.runAt(0, consume(100)));
    h.runAt(1, { op: 'nack', user: 'u', receipt, delayMs: 0 });
    assert.equal(seqOf(h.runAt(1, consume())), 1);
  });

  test('the default backoff doubles with each delivery and stops at its cap', () => {
    const h = harness({ nackBackoffMs: 100, nackBackoffMaxMs: 300, maxDeliveries: 10 });
    h.runAt(0, put());
    let t = 0;
    const gaps: number[] = [];
    for (let i = 0; i < 4; i++) {
      const receipt = receiptOf(h.runAt(t, consume(1000)));
      h.runAt(t, { op: 'nack', user: 'u', receipt });
      const stats = h.len(t);
      assert.equal(stats.delayed, 1);
      // Find the visible time: the first ms at which a peek sees it.
      const visibleAt = h.mailbox.state.users.get('u')!.delayed!.nextVisibleAt - T0;
      assert.equal(h.peekSeq(visibleAt - 1), null);
      assert.equal(h.peekSeq(visibleAt), 1);
      gaps.push(visibleAt - t);
      t = visibleAt;
    }
    assert.deepEqual(gaps, [100, 200, 300, 300]);
  });

  test('a nack at maxDeliveries dead-letters at once, delay or not', () => {
    const h = harness({ maxDeliveries: 1, nackBackoffMs: 100 });
    h.runAt(0, put());
    const receipt = receiptOf(h.runAt(0, consume(100)));
    h.runAt(1, { op: 'nack', user: 'u', receipt, delayMs: 500 });
    assert.equal(h.len(1).deadLetterCount, 1);
    assert.equal(h.len(1).delayed, undefined);
  });

  test('a nack delay beyond maxDelayMs is BAD_REQUEST and the lease stays', () => {
    const h = harness({ maxDelayMs: 1000 });
    h.runAt(0, put());
    const receipt = receiptOf(h.runAt(0, consume(100)));
    const before = h.mailbox.snapshot();
    const r = h.runAt(1, { op: 'nack', user: 'u', receipt, delayMs: 1001 });
    assert.equal(r.kind === 'error' && r.code, 'BAD_REQUEST');
    assert.deepEqual(h.mailbox.snapshot(), before);
  });

  test('with a backoff on, its cap may not exceed maxDelayMs', () => {
    assert.throws(() => new Mailbox({ maxDelayMs: 1000, nackBackoffMs: 10, nackBackoffMaxMs: 1001 }), RangeError);
  });
});

describe('redrive', () => {
  /** Dead-letters seqs 1..n (maxDeliveries 1), in the order `order` of their leases ending. */
  function deadLettered(n: number, order: number[]) {
    const h = harness({ maxDeliveries: 1 });
    for (let i = 0; i < n; i++) h.runAt(0, put());
    const receipts = new Map<number, string>();
    for (let i = 0; i < n; i++) {
      const r = h.runAt(0, consume(100));
      receipts.set(seqOf(r)!, receiptOf(r));
    }
    for (const seq of order) h.runAt(1, { op: 'nack', user: 'u', receipt: receipts.get(seq)! });
    assert.equal(h.len(1).deadLetterCount, n);
    return h;
  }

  test('redrive of all restores seq order, resets the delivery count, and empties the dead letters', () => {
    const h = deadLettered(3, [3, 1, 2]);
    h.runAt(2, put()); // seq 4, in the main mailbox already
    assert.deepEqual(h.runAt(3, { op: 'redrive', user: 'u' }), { kind: 'redriven', count: 3 });
    assert.equal(h.len(3).deadLetterCount, 0);
    const got: Array<[number, number]> = [];
    for (let i = 0; i < 4; i++) {
      const r = h.runAt(4, consume(100));
      got.push([seqOf(r)!, (r as Extract<MailboxResult, { kind: 'message' }>).message.deliveries]);
    }
    assert.deepEqual(got, [[1, 1], [2, 1], [3, 1], [4, 1]]);
  });

  test('redrive of up to N moves the N lowest seqs', () => {
    const h = deadLettered(3, [2, 3, 1]);
    assert.deepEqual(h.runAt(2, { op: 'redrive', user: 'u', max: 2 }), { kind: 'redriven', count: 2 });
    assert.equal(h.len(2).deadLetterCount, 1);
    assert.equal(h.len(2).count, 2);
    assert.equal(seqOf(h.runAt(3, consume())), 1);
    assert.equal(seqOf(h.runAt(3, consume())), 2);
    assert.equal(seqOf(h.runAt(3, consume())), null);
    assert.equal(seqOf(h.runAt(3, { op: 'consume', user: 'u', deadLetter: true })), 3);
  });

  test('redrive of an empty or unknown mailbox moves nothing; a bad max is BAD_REQUEST and changes nothing', () => {
    const h = deadLettered(1, [1]);
    assert.deepEqual(h.runAt(2, { op: 'redrive', user: 'other' }), { kind: 'redriven', count: 0 });
    const before = h.mailbox.snapshot();
    for (const max of [0, -1, 1.5]) {
      const r = h.runAt(2, { op: 'redrive', user: 'u', max });
      assert.equal(r.kind === 'error' && r.code, 'BAD_REQUEST');
    }
    assert.deepEqual(h.mailbox.snapshot(), before);
  });

  test('expired dead letters are dropped by redrive, not moved, and not counted', () => {
    const h = harness({ maxDeliveries: 1 });
    h.runAt(0, put({ ttlMs: 50 }));
    h.runAt(0, put());
    const a = receiptOf(h.runAt(0, consume(10)));
    const b = receiptOf(h.runAt(0, consume(10)));
    h.runAt(1, { op: 'nack', user: 'u', receipt: a });
    h.runAt(1, { op: 'nack', user: 'u', receipt: b });
    assert.deepEqual(h.runAt(60, { op: 'redrive', user: 'u' }), { kind: 'redriven', count: 1 });
    assert.equal(seqOf(h.runAt(60, consume())), 2);
    assert.equal(h.mailbox.state.users.size, 0);
  });
});

describe('nextVisibleAt (when a long poll looks again)', () => {
  test('the next delay end or lease end after now, never now or before; Infinity when nothing will show by time', () => {
    const h = harness({ nackBackoffMs: 40, nackBackoffMaxMs: 40 });
    const next = (t: number) => h.mailbox.nextVisibleAt('u', T0 + t);
    assert.equal(next(0), Infinity, 'no mailbox');
    h.runAt(0, put());
    assert.equal(next(0), Infinity, 'a visible message shows by no time');
    h.runAt(0, put({ delayMs: 100 }));
    h.runAt(0, put({ delayMs: 30 }));
    assert.equal(next(0), T0 + 30);
    assert.equal(next(30), T0 + 100, 'the due one is visible already');
    assert.equal(next(100), Infinity);
    const r = receiptOf(h.runAt(0, consume(50)));
    assert.equal(next(0), T0 + 30);
    assert.equal(next(40), T0 + 50, 'the lease ends before the later delay');
    h.runAt(10, { op: 'nack', user: 'u', receipt: r });
    assert.equal(next(10), T0 + 30, 'back at 10 + 40 ms of backoff: the 30 ms delay still comes first');
    assert.equal(next(30), T0 + 50);
  });

  test('a touched lease: its new end, once the old bound has passed', () => {
    const h = harness();
    h.runAt(0, put());
    const r = receiptOf(h.runAt(0, consume(20)));
    h.runAt(5, { op: 'touch', user: 'u', receipt: r, leaseMs: 100 });
    const early = h.mailbox.nextVisibleAt('u', T0 + 5);
    assert.ok(early > T0 + 5 && early <= T0 + 105, 'never later than the lease end, never now');
    assert.equal(h.mailbox.nextVisibleAt('u', T0 + 20), T0 + 105, 'exact once the lower bound has passed');
  });
});
