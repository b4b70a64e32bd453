// Scenario tests of the mailbox rules, one behaviour each, with hand-computed expectations.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MailboxCommand, MailboxResult } from '../../src/mailbox/commands.js';
import { Mailbox } from '../../src/mailbox/mailbox.js';
import { DEFAULT_MAILBOX_OPTIONS, type MailboxOptions } from '../../src/mailbox/options.js';
import { DEFAULT_QUOTAS, QUOTA_CEILINGS, QUOTA_NAMES } from '../../src/mailbox/quotas.js';

const T0 = 1_700_000_000_000;

/** A mailbox plus a log position: each `run` is the next entry, `at` moves the leader clock. */
function harness(options: Partial<MailboxOptions> = {}) {
  const mailbox = new Mailbox(options);
  let index = 0;
  let time = T0;
  return {
    mailbox,
    at(t: number) {
      time = T0 + t;
    },
    run(cmd: MailboxCommand): MailboxResult {
      return mailbox.apply(cmd, { index: ++index, term: 1, time });
    },
    runAt(t: number, cmd: MailboxCommand): MailboxResult {
      time = T0 + t;
      return mailbox.apply(cmd, { index: ++index, term: 1, time });
    },
  };
}

const bytes = (...v: number[]) => new Uint8Array(v);
/** Receipt randomness as the leader draws it (96 bits, base64url). */
const NONCE_A = 'AAECAwQFBgcICQoL';
const NONCE_B = 'DA0ODxAREhMUFRYX';

function message(r: MailboxResult) {
  assert.equal(r.kind, 'message', `expected a message, got ${JSON.stringify(r)}`);
  return (r as Extract<MailboxResult, { kind: 'message' }>).message;
}

function errorCode(r: MailboxResult): string {
  assert.equal(r.kind, 'error', `expected an error, got ${JSON.stringify(r)}`);
  return (r as Extract<MailboxResult, { kind: 'error' }>).code;
}

function stats(h: ReturnType<typeof harness>, user: string, at: number) {
  const r = h.mailbox.query({ op: 'len', user }, T0 + at);
  assert.equal(r.kind, 'stats');
  return (r as Extract<MailboxResult, { kind: 'stats' }>).stats;
}

describe('put and consume', () => {
  test('per-user FIFO in commit order, users independent', () => {
    const h = harness();
    h.run({ op: 'put', user: 'alice', body: bytes(1) });
    h.run({ op: 'put', user: 'bob', body: bytes(9) });
    h.run({ op: 'put', user: 'alice', body: bytes(2) });
    assert.deepEqual(Array.from(message(h.run({ op: 'consume', user: 'alice' })).body), [1]);
    assert.deepEqual(Array.from(message(h.run({ op: 'consume', user: 'alice' })).body), [2]);
    assert.deepEqual(h.run({ op: 'consume', user: 'alice' }), { kind: 'empty' });
    assert.deepEqual(Array.from(message(h.run({ op: 'consume', user: 'bob' })).body), [9]);
  });

  test('derived ids are unique, reserved-prefixed and increase with seq', () => {
    const h = harness();
    const a = h.run({ op: 'put', user: 'alice', body: bytes() });
    const b = h.run({ op: 'put', user: 'bob', body: bytes() });
    assert.deepEqual(a, { kind: 'put', id: '@1', seq: 1, duplicate: false });
    assert.deepEqual(b, { kind: 'put', id: '@2', seq: 2, duplicate: false });
    assert.equal(errorCode(h.run({ op: 'put', user: 'alice', body: bytes(), id: '@3' })), 'BAD_REQUEST');
  });

  test('delivered message carries id, times and delivery count; body is its own copy', () => {
    const h = harness();
    const body = bytes(5, 6, 7);
    h.runAt(10, { op: 'put', user: 'alice', body, id: 'm-1', ttlMs: 5000 });
    body[0] = 99;
    const m = message(h.runAt(20, { op: 'consume', user: 'alice' }));
    assert.deepEqual(
      { id: m.id, seq: m.seq, body: Array.from(m.body), enqueuedAt: m.enqueuedAt, expiresAt: m.expiresAt, deliveries: m.deliveries },
      { id: 'm-1', seq: 1, body: [5, 6, 7], enqueuedAt: T0 + 10, expiresAt: T0 + 5010, deliveries: 1 },
    );
    assert.equal(m.receipt, undefined);
    // No stored internals (such as the body's ref in the store) among the own properties.
    assert.deepEqual(Object.keys(m).sort(), ['body', 'deliveries', 'enqueuedAt', 'expiresAt', 'id', 'seq']);
  });

  test('a duplicate id within the window returns the first result and enqueues nothing', () => {
    const h = harness({ dedupeWindowMs: 1000 });
    const first = h.runAt(0, { op: 'put', user: 'alice', body: bytes(1), id: 'x' });
    const again = h.runAt(999, { op: 'put', user: 'alice', body: bytes(2), id: 'x' });
    assert.deepEqual(again, { ...first, duplicate: true });
    assert.equal(stats(h, 'alice', 999).count, 1);
    // Same id for another user is another message.
    assert.equal((h.run({ op: 'put', user: 'bob', body: bytes(1), id: 'x' }) as { duplicate: boolean }).duplicate, false);
    // After the window the id is forgotten.
    const later = h.runAt(1000, { op: 'put', user: 'alice', body: bytes(3), id: 'x' });
    assert.deepEqual(later, { kind: 'put', id: 'x', seq: 3, duplicate: false });
    assert.equal(stats(h, 'alice', 1000).count, 2);
  });

  test('a full put id table refuses new ids rather than forget one inside its window', () => {
    const h = harness({ dedupeMaxEntries: 2, dedupeWindowMs: 600_000 });
    h.runAt(0, { op: 'put', user: 'u', body: bytes(), id: 'a' });
    h.runAt(1, { op: 'put', user: 'u', body: bytes(), id: 'b' });
    const before = h.mailbox.snapshot();
    const refused = h.runAt(599_999, { op: 'put', user: 'u', body: bytes(), id: 'c' });
    assert.equal(errorCode(refused), 'QUOTA_EXCEEDED');
    assert.match((refused as { message: string }).message, /put id table holds 2 ids/);
    assert.deepEqual(h.mailbox.snapshot(), before, 'a refused put changes nothing');
    // Retries of remembered ids still get their answer, and puts without an id are not affected.
    assert.deepEqual(h.runAt(599_999, { op: 'put', user: 'u', body: bytes(), id: 'a' }), { kind: 'put', id: 'a', seq: 1, duplicate: true });
    assert.equal(h.runAt(599_999, { op: 'put', user: 'u', body: bytes() }).kind, 'put');
    // Once "a" is out of its window there is room again; "b" is still remembered.
    assert.deepEqual(h.runAt(600_000, { op: 'put', user: 'u', body: bytes(), id: 'c' }), { kind: 'put', id: 'c', seq: 4, duplicate: false });
    assert.equal((h.runAt(600_000, { op: 'put', user: 'u', body: bytes(), id: 'b' }) as { duplicate: boolean }).duplicate, true);
  });

  test('dedupe window holds under load: every id put within the window is remembered to its end', () => {
    // 10 minutes at one id per second with room for all of them, then a burst past the bound.
    const window = 600_000;
    const h = harness({ dedupeMaxEntries: 600, dedupeWindowMs: window });
    for (let i = 0; i < 600; i++) h.runAt(i * 1000, { op: 'put', user: `u${i % 7}`, body: bytes(), id: `id-${i}`, principal: 'p' });
    for (let i = 0; i < 50; i++) assert.equal(errorCode(h.runAt(599_999, { op: 'put', user: 'u0', body: bytes(), id: `burst-${i}` })), 'QUOTA_EXCEEDED');
    for (let i = 0; i < 600; i++) {
      const retry = h.runAt(i * 1000 + window - 1, { op: 'put', user: `u${i % 7}`, body: bytes(), id: `id-${i}`, principal: 'p' });
      assert.deepEqual(retry, { kind: 'put', id: `id-${i}`, seq: i + 1, duplicate: true }, `id-${i} one ms before its window ends`);
    }
  });

  test('a consume retried with the same request id gets the same message, not the next', () => {
    const h = harness();
    h.run({ op: 'put', user: 'alice', body: bytes(1) });
    h.run({ op: 'put', user: 'alice', body: bytes(2) });
    const first = h.run({ op: 'consume', user: 'alice', requestId: 'req-1' });
    const retry = h.run({ op: 'consume', user: 'alice', requestId: 'req-1' });
    assert.equal(retry, first);
    assert.deepEqual(Array.from(message(first).body), [1]);
    assert.deepEqual(Array.from(message(h.run({ op: 'consume', user: 'alice', requestId: 'req-2' })).body), [2]);
    assert.deepEqual(h.run({ op: 'consume', user: 'alice', requestId: 'req-1' }), first);
  });

  test('request ids are remembered for the window only, and per user', () => {
    const h = harness({ requestWindowMs: 100 });
    h.run({ op: 'put', user: 'alice', body: bytes(1) });
    h.run({ op: 'put', user: 'alice', body: bytes(2) });
    h.runAt(0, { op: 'consume', user: 'alice', requestId: 'r' });
    assert.deepEqual(h.runAt(0, { op: 'consume', user: 'bob', requestId: 'r' }), { kind: 'empty' });
    assert.deepEqual(Array.from(message(h.runAt(100, { op: 'consume', user: 'alice', requestId: 'r' })).body), [2]);
  });

  test('a full request id table refuses new request ids rather than drop a result inside its window', () => {
    const h = harness({ requestCacheMaxEntries: 2, requestWindowMs: 1000 });
    for (let i = 0; i < 4; i++) h.run({ op: 'put', user: 'u', body: bytes(i) });
    const first = h.runAt(0, { op: 'consume', user: 'u', requestId: 'a' });
    h.runAt(1, { op: 'consume', user: 'u', requestId: 'b' });
    assert.equal(errorCode(h.runAt(999, { op: 'consume', user: 'u', requestId: 'c' })), 'QUOTA_EXCEEDED');
    assert.equal(h.runAt(999, { op: 'consume', user: 'u', requestId: 'a' }), first, 'a retry still gets its result');
    assert.deepEqual(Array.from(message(h.runAt(999, { op: 'consume', user: 'u' })).body), [2], 'consumes without rid go on');
    assert.deepEqual(Array.from(message(h.runAt(1000, { op: 'consume', user: 'u', requestId: 'c' })).body), [3]);
  });

  test('the request id table keeps room for one result of the largest body', () => {
    const h = harness({ maxBodyBytes: 4, requestCacheMaxBytes: 9 });
    for (let i = 0; i < 3; i++) h.run({ op: 'put', user: 'u', body: new Uint8Array(3).fill(i) });
    h.run({ op: 'consume', user: 'u', requestId: 'a' }); // 0 bytes held: 0 + 4 <= 9
    h.run({ op: 'consume', user: 'u', requestId: 'b' }); // 3 bytes held: 3 + 4 <= 9
    const before = h.mailbox.snapshot();
    assert.equal(errorCode(h.run({ op: 'consume', user: 'u', requestId: 'c' })), 'QUOTA_EXCEEDED'); // 6 + 4 > 9
    assert.deepEqual(h.mailbox.snapshot(), before, 'a refused consume changes nothing');
    assert.throws(() => new Mailbox({ maxBodyBytes: 4, requestCacheMaxBytes: 3 }), RangeError);
  });

});

describe('time', () => {
  test('now never goes backwards: a lagging leader clock is ignored', () => {
    const h = harness();
    h.runAt(1000, { op: 'put', user: 'alice', body: bytes() });
    h.runAt(500, { op: 'put', user: 'alice', body: bytes(), ttlMs: 10 });
    const first = message(h.run({ op: 'consume', user: 'alice' }));
    assert.equal(first.enqueuedAt, T0 + 1000);
    const second = message(h.run({ op: 'consume', user: 'alice' }));
    assert.deepEqual([second.enqueuedAt, second.expiresAt], [T0 + 1000, T0 + 1010]);
  });

  test('expired messages are never delivered or peeked, and the sweep removes and counts them', () => {
    const h = harness();
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(1), ttlMs: 100 });
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(2), ttlMs: 1000 });
    h.runAt(0, { op: 'put', user: 'bob', body: bytes(3), ttlMs: 50 });
    assert.deepEqual(Array.from(message(h.mailbox.query({ op: 'peek', user: 'alice' }, T0 + 100)).body), [2]);
    assert.equal(stats(h, 'alice', 100).count, 1);
    assert.deepEqual(h.runAt(100, { op: 'expire' }), { kind: 'expired', expired: 2, deadLettered: 0, leasesReturned: 0 });
    assert.deepEqual(Array.from(message(h.run({ op: 'consume', user: 'alice' })).body), [2]);
    assert.deepEqual(h.run({ op: 'consume', user: 'bob' }), { kind: 'empty' });
  });

  test('consume skips expired heads without a sweep', () => {
    const h = harness();
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(1), ttlMs: 10 });
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(2) });
    assert.deepEqual(Array.from(message(h.runAt(10, { op: 'consume', user: 'alice' })).body), [2]);
  });

  test('default ttl is 24 hours', () => {
    const h = harness();
    const m = message((h.runAt(0, { op: 'put', user: 'a', body: bytes() }), h.run({ op: 'consume', user: 'a' })));
    assert.equal(m.expiresAt - m.enqueuedAt, DEFAULT_MAILBOX_OPTIONS.defaultTtlMs);
    assert.equal(DEFAULT_MAILBOX_OPTIONS.defaultTtlMs, 24 * 3600 * 1000);
  });

  test('stats report count, bytes, oldest age, in-flight and dead letters', () => {
    const h = harness();
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(1, 2) });
    h.runAt(30, { op: 'put', user: 'alice', body: bytes(3, 4, 5) });
    h.runAt(40, { op: 'put', user: 'alice', body: bytes(6) });
    h.runAt(50, { op: 'consume', user: 'alice', leaseMs: 1000 });
    assert.deepEqual(stats(h, 'alice', 100), { count: 2, bytes: 4, oldestAgeMs: 70, inFlight: 1, deadLetterCount: 0 });
    assert.deepEqual(stats(h, 'nobody', 100), { count: 0, bytes: 0, oldestAgeMs: 0, inFlight: 0, deadLetterCount: 0 });
  });
});

describe('leases', () => {
  test('ack deletes the leased message; a second ack is rejected', () => {
    const h = harness();
    h.run({ op: 'put', user: 'alice', body: bytes(1) });
    const m = message(h.run({ op: 'consume', user: 'alice', leaseMs: 1000 }));
    assert.equal(m.leaseExpiresAt, T0 + 1000);
    assert.deepEqual(h.run({ op: 'ack', user: 'alice', receipt: m.receipt! }), { kind: 'ok' });
    assert.equal(errorCode(h.run({ op: 'ack', user: 'alice', receipt: m.receipt! })), 'UNKNOWN_RECEIPT');
    assert.equal(errorCode(h.run({ op: 'ack', user: 'bob', receipt: m.receipt! })), 'UNKNOWN_RECEIPT');
    assert.deepEqual(stats(h, 'alice', 0), { count: 0, bytes: 0, oldestAgeMs: 0, inFlight: 0, deadLetterCount: 0 });
  });

  test('nack and lease expiry put the message back at the head, in seq order, counting deliveries', () => {
    const h = harness();
    for (const b of [1, 2, 3]) h.runAt(0, { op: 'put', user: 'alice', body: bytes(b) });
    const m1 = message(h.runAt(0, { op: 'consume', user: 'alice', leaseMs: 100 }));
    const m2 = message(h.runAt(0, { op: 'consume', user: 'alice', leaseMs: 500 }));
    assert.deepEqual(h.runAt(10, { op: 'nack', user: 'alice', receipt: m2.receipt! }), { kind: 'ok' });
    // m1's lease runs out at 100: it is back before m2 for peek and consume alike.
    const head = message(h.mailbox.query({ op: 'peek', user: 'alice' }, T0 + 100));
    assert.deepEqual([head.seq, head.deliveries], [m1.seq, 1]);
    const again = message(h.runAt(100, { op: 'consume', user: 'alice' }));
    assert.deepEqual([again.seq, again.deliveries], [m1.seq, 2]);
    const next = message(h.run({ op: 'consume', user: 'alice' }));
    assert.deepEqual([next.seq, next.deliveries], [m2.seq, 2]);
    assert.equal(message(h.run({ op: 'consume', user: 'alice' })).seq, 3);
  });

  test('a late ack after the lease ran out is rejected, and after redelivery the old receipt is unknown', () => {
    const h = harness();
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(1) });
    const first = message(h.runAt(0, { op: 'consume', user: 'alice', leaseMs: 100 }));
    assert.equal(errorCode(h.runAt(100, { op: 'ack', user: 'alice', receipt: first.receipt! })), 'LEASE_EXPIRED');
    const second = message(h.runAt(100, { op: 'consume', user: 'alice', leaseMs: 100 }));
    assert.notEqual(second.receipt, first.receipt);
    assert.equal(errorCode(h.run({ op: 'ack', user: 'alice', receipt: first.receipt! })), 'UNKNOWN_RECEIPT');
    assert.deepEqual(h.run({ op: 'ack', user: 'alice', receipt: second.receipt! }), { kind: 'ok' });
  });

  test('a receipt holds the nonce its consume carried: a guessed <seq>.<deliveries> is unknown, only the exact receipt settles', () => {
    const h = harness();
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(1) });
    const m = message(h.runAt(0, { op: 'consume', user: 'alice', leaseMs: 100, receiptNonce: NONCE_A }));
    assert.equal(m.receipt, `1.1.${NONCE_A}`);
    assert.equal(errorCode(h.run({ op: 'ack', user: 'alice', receipt: '1.1' })), 'UNKNOWN_RECEIPT');
    assert.equal(errorCode(h.run({ op: 'nack', user: 'alice', receipt: `1.1.${NONCE_B}` })), 'UNKNOWN_RECEIPT');
    assert.equal(errorCode(h.run({ op: 'ack', user: 'alice', receipt: `1.1.${NONCE_A}x` })), 'UNKNOWN_RECEIPT');
    assert.equal(stats(h, 'alice', 0).inFlight, 1, 'the guesses settled nothing');
    // The redelivery has its own nonce: the first holder's receipt does not settle it.
    const again = message(h.runAt(100, { op: 'consume', user: 'alice', leaseMs: 100, receiptNonce: NONCE_B }));
    assert.equal(again.receipt, `1.2.${NONCE_B}`);
    assert.equal(errorCode(h.run({ op: 'ack', user: 'alice', receipt: m.receipt! })), 'UNKNOWN_RECEIPT');
    assert.deepEqual(h.run({ op: 'ack', user: 'alice', receipt: again.receipt! }), { kind: 'ok' });
  });

  test('a leased consume without a nonce (an entry from before nonces) gets the old <seq>.<deliveries> receipt', () => {
    const h = harness();
    h.run({ op: 'put', user: 'alice', body: bytes(1) });
    assert.equal(message(h.run({ op: 'consume', user: 'alice', leaseMs: 100 })).receipt, '1.1');
    assert.deepEqual(h.run({ op: 'ack', user: 'alice', receipt: '1.1' }), { kind: 'ok' });
  });

  test('with the deliberate bug lease-receipt-reuse the redelivery keeps the receipt, so the old holder acks it', () => {
    const h = harness({ unsafeLeaseReceiptReuse: true });
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(1) });
    const first = message(h.runAt(0, { op: 'consume', user: 'alice', leaseMs: 100, receiptNonce: NONCE_A }));
    const second = message(h.runAt(100, { op: 'consume', user: 'alice', leaseMs: 100, receiptNonce: NONCE_B }));
    assert.equal(second.receipt, first.receipt);
    assert.deepEqual(h.run({ op: 'ack', user: 'alice', receipt: first.receipt! }), { kind: 'ok' });
    assert.equal(errorCode(h.run({ op: 'ack', user: 'alice', receipt: second.receipt! })), 'UNKNOWN_RECEIPT');
    // A snapshot keeps the bug's receipts, so a restored replica agrees with the others.
    const leased = harness({ unsafeLeaseReceiptReuse: true });
    leased.runAt(0, { op: 'put', user: 'alice', body: bytes(1) });
    leased.runAt(0, { op: 'consume', user: 'alice', leaseMs: 100, receiptNonce: NONCE_A });
    const again = message(leased.runAt(100, { op: 'consume', user: 'alice', leaseMs: 100, receiptNonce: NONCE_B }));
    const restored = new Mailbox({ unsafeLeaseReceiptReuse: true });
    restored.restore(leased.mailbox.snapshot());
    assert.deepEqual(restored.apply({ op: 'ack', user: 'alice', receipt: again.receipt! }, { index: 9, term: 1, time: T0 + 100 }), { kind: 'ok' });
  });

  test('after maxDeliveries the message goes to the dead-letter mailbox, which can be peeked, counted and consumed', () => {
    const h = harness({ maxDeliveries: 2 });
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(7) });
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(8) });
    const d1 = message(h.runAt(0, { op: 'consume', user: 'alice', leaseMs: 10 }));
    h.run({ op: 'nack', user: 'alice', receipt: d1.receipt! });
    const d2 = message(h.runAt(0, { op: 'consume', user: 'alice', leaseMs: 10 }));
    assert.equal(d2.deliveries, 2);
    assert.deepEqual(stats(h, 'alice', 10), { count: 1, bytes: 1, oldestAgeMs: 10, inFlight: 0, deadLetterCount: 1 });
    assert.deepEqual(h.runAt(10, { op: 'expire' }), { kind: 'expired', expired: 0, deadLettered: 1, leasesReturned: 0 });
    assert.deepEqual(Array.from(message(h.mailbox.query({ op: 'peek', user: 'alice', deadLetter: true }, T0 + 10)).body), [7]);
    assert.deepEqual(Array.from(message(h.run({ op: 'consume', user: 'alice' })).body), [8]);
    const dead = message(h.run({ op: 'consume', user: 'alice', deadLetter: true }));
    assert.deepEqual([Array.from(dead.body), dead.deliveries], [[7], 3]);
    assert.equal(errorCode(h.run({ op: 'consume', user: 'alice', deadLetter: true, leaseMs: 10 })), 'BAD_REQUEST');
  });

  test('the sweep returns ended leases and counts them', () => {
    const h = harness();
    h.runAt(0, { op: 'put', user: 'alice', body: bytes(1) });
    h.runAt(0, { op: 'consume', user: 'alice', leaseMs: 50 });
    assert.deepEqual(h.runAt(49, { op: 'expire' }), { kind: 'expired', expired: 0, deadLettered: 0, leasesReturned: 0 });
    assert.deepEqual(h.runAt(50, { op: 'expire' }), { kind: 'expired', expired: 0, deadLettered: 0, leasesReturned: 1 });
    assert.deepEqual(stats(h, 'alice', 50).count, 1);
  });
});

describe('purge', () => {
  test('purges queued and in-flight messages, or the dead letters, separately', () => {
    const h = harness({ maxDeliveries: 1 });
    for (const b of [1, 2, 3]) h.run({ op: 'put', user: 'alice', body: bytes(b) });
    const m = message(h.run({ op: 'consume', user: 'alice', leaseMs: 10 }));
    h.run({ op: 'nack', user: 'alice', receipt: m.receipt! }); // dead-lettered at once
    h.run({ op: 'consume', user: 'alice', leaseMs: 10 });
    assert.deepEqual(h.run({ op: 'purge', user: 'alice' }), { kind: 'purged', count: 2 });
    assert.deepEqual(stats(h, 'alice', 0), { count: 0, bytes: 0, oldestAgeMs: 0, inFlight: 0, deadLetterCount: 1 });
    assert.deepEqual(h.run({ op: 'purge', user: 'alice', deadLetter: true }), { kind: 'purged', count: 1 });
    assert.deepEqual(h.run({ op: 'purge', user: 'nobody' }), { kind: 'purged', count: 0 });
  });
});

describe('limits: explicit errors and no state change', () => {
  function rejects(h: ReturnType<typeof harness>, cmd: MailboxCommand, code: string) {
    const before = h.mailbox.snapshot();
    assert.equal(errorCode(h.runAt(999_999, cmd)), code, JSON.stringify(cmd));
    assert.deepEqual(h.mailbox.snapshot(), before, `state changed by rejected ${JSON.stringify(cmd)}`);
  }

  test('user id syntax', () => {
    const h = harness();
    for (const user of ['', '..', '.', 'a/b', 'a*', '$x', 'a#', 'a?', '@a', 'a b', 'ü', 'x'.repeat(129)]) {
      rejects(h, { op: 'put', user, body: bytes() }, 'BAD_USER');
      rejects(h, { op: 'consume', user }, 'BAD_USER');
      assert.equal(errorCode(h.mailbox.query({ op: 'len', user }, 0)), 'BAD_USER');
    }
    assert.equal(h.run({ op: 'put', user: 'x'.repeat(128), body: bytes() }).kind, 'put');
    assert.equal(h.run({ op: 'put', user: 'A-z_0.9', body: bytes() }).kind, 'put');
  });

  test('body size, message count and byte count', () => {
    const h = harness({ maxBodyBytes: 4, maxMessagesPerMailbox: 2, maxBytesPerMailbox: 6 });
    rejects(h, { op: 'put', user: 'a', body: new Uint8Array(5) }, 'TOO_LARGE');
    h.run({ op: 'put', user: 'a', body: new Uint8Array(4) });
    rejects(h, { op: 'put', user: 'a', body: new Uint8Array(3) }, 'MAILBOX_FULL');
    h.run({ op: 'put', user: 'a', body: new Uint8Array(2) });
    rejects(h, { op: 'put', user: 'a', body: new Uint8Array(0) }, 'MAILBOX_FULL');
    // In-flight messages still count: they may come back.
    h.run({ op: 'consume', user: 'a', leaseMs: 100 });
    rejects(h, { op: 'put', user: 'a', body: new Uint8Array(0) }, 'MAILBOX_FULL');
  });

  test('id, request id, receipt, ttl and lease bounds', () => {
    const h = harness({ maxIdLength: 4, defaultTtlMs: 1000, maxTtlMs: 1000, maxLeaseMs: 100 });
    h.run({ op: 'put', user: 'a', body: bytes() });
    rejects(h, { op: 'put', user: 'a', body: bytes(), id: '12345' }, 'BAD_REQUEST');
    rejects(h, { op: 'put', user: 'a', body: bytes(), id: '' }, 'BAD_REQUEST');
    rejects(h, { op: 'put', user: 'a', body: bytes(), ttlMs: 0 }, 'BAD_REQUEST');
    rejects(h, { op: 'put', user: 'a', body: bytes(), ttlMs: 1001 }, 'BAD_REQUEST');
    rejects(h, { op: 'put', user: 'a', body: bytes(), ttlMs: 1.5 }, 'BAD_REQUEST');
    rejects(h, { op: 'put', user: 'a', body: 'text' as unknown as Uint8Array }, 'BAD_REQUEST');
    rejects(h, { op: 'consume', user: 'a', requestId: '12345' }, 'BAD_REQUEST');
    rejects(h, { op: 'consume', user: 'a', leaseMs: 101 }, 'BAD_REQUEST');
    rejects(h, { op: 'consume', user: 'a', leaseMs: -1 }, 'BAD_REQUEST');
    rejects(h, { op: 'ack', user: 'a', receipt: '' }, 'BAD_REQUEST');
    // Receipts are the mailbox's own: bounded by the key space's 128, not by maxIdLength.
    rejects(h, { op: 'nack', user: 'a', receipt: 'x'.repeat(129) }, 'BAD_REQUEST');
    rejects(h, { op: 'ack', user: 'a', receipt: '12345' }, 'UNKNOWN_RECEIPT');
    rejects(h, { op: 'ack', user: 'a', receipt: '1.1' }, 'UNKNOWN_RECEIPT');
    for (const principal of ['a/b', 'x'.repeat(65), 'a b']) {
      rejects(h, { op: 'put', user: 'a', body: bytes(), principal }, 'BAD_REQUEST');
      rejects(h, { op: 'consume', user: 'a', principal }, 'BAD_REQUEST');
    }
    for (const receiptNonce of ['', 'short', 'a.b'.repeat(6), 'x'.repeat(44)]) {
      rejects(h, { op: 'consume', user: 'a', leaseMs: 10, receiptNonce }, 'BAD_REQUEST');
    }
    rejects(h, { op: 'consume', user: 'a', receiptNonce: NONCE_A }, 'BAD_REQUEST'); // a nonce comes only with a lease
    rejects(h, { op: 'launch' } as unknown as MailboxCommand, 'BAD_REQUEST');
  });

  test('queries do not change state', () => {
    const h = harness();
    h.runAt(0, { op: 'put', user: 'a', body: bytes(1), ttlMs: 10 });
    h.runAt(0, { op: 'consume', user: 'a', leaseMs: 5 });
    const before = h.mailbox.snapshot();
    h.mailbox.query({ op: 'peek', user: 'a' }, T0 + 100);
    h.mailbox.query({ op: 'len', user: 'a' }, T0 + 100);
    h.mailbox.query({ op: 'peek', user: 'a', deadLetter: true }, T0 + 100);
    assert.deepEqual(h.mailbox.snapshot(), before);
  });
});

test('options are validated; keys that are not mailbox options are ignored', () => {
  assert.throws(() => new Mailbox({ maxDeliveries: 0 }), RangeError);
  assert.throws(() => new Mailbox({ defaultTtlMs: 10, maxTtlMs: 5 }), RangeError);
  assert.throws(() => new Mailbox({ maxBodyBytes: 1.5 }), RangeError);
  const m = new Mailbox({ maxDeliveries: 3, expireIntervalMs: 1000 } as Partial<MailboxOptions>);
  assert.deepEqual(m.options, { ...DEFAULT_MAILBOX_OPTIONS, maxDeliveries: 3 });
});

test('a zero dedupe window turns duplicate suppression off', () => {
  const h = harness({ dedupeWindowMs: 0 });
  h.run({ op: 'put', user: 'a', body: bytes(), id: 'x' });
  assert.deepEqual(h.run({ op: 'put', user: 'a', body: bytes(), id: 'x' }), { kind: 'put', id: 'x', seq: 2, duplicate: false });
});

describe('put ids and request ids are remembered per principal', () => {
  test('two principals using the same put id each enqueue their own message; a retry gets its own first result', () => {
    const h = harness();
    assert.deepEqual(h.run({ op: 'put', user: 'u', body: bytes(1), id: 'x', principal: 'alice' }), { kind: 'put', id: 'x', seq: 1, duplicate: false });
    assert.deepEqual(h.run({ op: 'put', user: 'u', body: bytes(2), id: 'x', principal: 'bob' }), { kind: 'put', id: 'x', seq: 2, duplicate: false });
    assert.deepEqual(h.run({ op: 'put', user: 'u', body: bytes(3), id: 'x' }), { kind: 'put', id: 'x', seq: 3, duplicate: false });
    assert.deepEqual(h.run({ op: 'put', user: 'u', body: bytes(9), id: 'x', principal: 'bob' }), { kind: 'put', id: 'x', seq: 2, duplicate: true });
    assert.deepEqual(h.run({ op: 'put', user: 'u', body: bytes(9), id: 'x', principal: 'alice' }), { kind: 'put', id: 'x', seq: 1, duplicate: true });
    // The anonymous principal is '' or absent alike.
    assert.deepEqual(h.run({ op: 'put', user: 'u', body: bytes(9), id: 'x', principal: '' }), { kind: 'put', id: 'x', seq: 3, duplicate: true });
    // Consumers see the client's id as given, whoever sent it.
    const seen = [1, 2, 3].map(() => message(h.run({ op: 'consume', user: 'u' })));
    assert.deepEqual(seen.map((m) => [m.id, Array.from(m.body)]), [['x', [1]], ['x', [2]], ['x', [3]]]);
  });

  test("a request id replays only its own principal's result: another principal with the same id takes its own message", () => {
    const h = harness();
    for (const b of [1, 2]) h.run({ op: 'put', user: 'u', body: bytes(b) });
    const alice = message(h.run({ op: 'consume', user: 'u', requestId: 'r', principal: 'alice', leaseMs: 100, receiptNonce: NONCE_A }));
    const bob = message(h.run({ op: 'consume', user: 'u', requestId: 'r', principal: 'bob', leaseMs: 100, receiptNonce: NONCE_B }));
    assert.deepEqual([alice.seq, bob.seq], [1, 2]);
    assert.notEqual(bob.receipt, alice.receipt);
    // Retries (each with fresh leader randomness) replay the first result, receipt included.
    const retry = message(h.run({ op: 'consume', user: 'u', requestId: 'r', principal: 'alice', leaseMs: 100, receiptNonce: NONCE_B }));
    assert.deepEqual([retry.seq, retry.receipt], [1, alice.receipt]);
    assert.deepEqual(h.run({ op: 'consume', user: 'u', requestId: 'r' }), { kind: 'empty' }, 'the anonymous principal has its own r');
    assert.deepEqual(h.run({ op: 'ack', user: 'u', receipt: bob.receipt! }), { kind: 'ok' });
    assert.deepEqual(h.run({ op: 'ack', user: 'u', receipt: retry.receipt! }), { kind: 'ok' });
  });
});

describe('cluster quotas', () => {
  /** The mailbox's answer to setQuotas. */
  function setQuotas(h: ReturnType<typeof harness>, q: Omit<Extract<MailboxCommand, { op: 'setQuotas' }>, 'op'>) {
    const r = h.run({ op: 'setQuotas', ...q });
    assert.equal(r.kind, 'quotas', JSON.stringify(r));
    return r as Extract<MailboxResult, { kind: 'quotas' }>;
  }

  function refusedWith(h: ReturnType<typeof harness>, cmd: MailboxCommand, pattern: RegExp) {
    const before = h.mailbox.snapshot();
    const r = h.run(cmd);
    assert.equal(errorCode(r), 'QUOTA_EXCEEDED');
    assert.match((r as { message: string }).message, pattern);
    assert.deepEqual(h.mailbox.snapshot(), before, 'a refused put changes nothing');
  }

  test('defaults, and setQuotas changes only the quotas it names', () => {
    const h = harness();
    assert.deepEqual(h.mailbox.quotas(), DEFAULT_QUOTAS);
    h.run({ op: 'put', user: 'a', body: bytes(1, 2) });
    const r = setQuotas(h, { maxBytes: 100 });
    assert.deepEqual(r.quotas, { ...DEFAULT_QUOTAS, maxBytes: 100 });
    assert.deepEqual(r.usage, { messages: 1, bytes: 2, mailboxes: 1 });
    for (const bad of [0, -1, 1.5, Number.NaN, QUOTA_CEILINGS.maxBytes + 1]) {
      const before = h.mailbox.snapshot();
      assert.equal(errorCode(h.run({ op: 'setQuotas', maxBytes: bad })), 'BAD_REQUEST');
      assert.deepEqual(h.mailbox.snapshot(), before);
    }
  });

  test('the ceilings (16,000,000 messages, 16 GiB of bodies, 4,000,000 mailboxes, 4,000,000 put ids, 2,000,000 consume results) may be set and survive a snapshot; one more may not be set', () => {
    assert.deepEqual(QUOTA_CEILINGS, { maxMessages: 16_000_000, maxBytes: 16 * 1024 ** 3, maxMailboxes: 4_000_000, maxPutIds: 4_000_000, maxConsumeResults: 2_000_000 });
    const h = harness();
    assert.deepEqual(setQuotas(h, { ...QUOTA_CEILINGS }).quotas, QUOTA_CEILINGS);
    const copy = harness();
    copy.mailbox.restore(h.mailbox.snapshot());
    assert.deepEqual(copy.mailbox.quotas(), QUOTA_CEILINGS);
    for (const name of QUOTA_NAMES) {
      assert.equal(errorCode(h.run({ op: 'setQuotas', [name]: QUOTA_CEILINGS[name] + 1 })), 'BAD_REQUEST', name);
    }
    assert.deepEqual(h.mailbox.quotas(), QUOTA_CEILINGS);
  });

  test('the id tables are bounded by cluster quotas: raised, a sustained rate of new ids that filled them is taken; they survive a snapshot', () => {
    // 500 consumes a second, each with a new rid, over empty mailboxes: what pollers through
    // MailboxClient send. At the default bound (100,000 in the 10-minute window) they fill the
    // table at the 200th second; with 300,000 (the rate times the window) none is refused.
    const poll = (h: ReturnType<typeof harness>, seconds: number): { refusedFrom: number | null } => {
      for (let i = 0; i < seconds * 500; i++) {
        const r = h.runAt(i * 2, { op: 'consume', user: `u${i % 1000}`, requestId: `r${i}` });
        if (r.kind === 'error') {
          assert.match(r.message, /cluster quota maxConsumeResults reached/);
          return { refusedFrom: i };
        }
      }
      return { refusedFrom: null };
    };
    assert.deepEqual(poll(harness(), 700), { refusedFrom: 100_000 });
    const raised = harness();
    assert.equal(setQuotas(raised, { maxConsumeResults: 300_000 }).quotas.maxConsumeResults, 300_000);
    assert.deepEqual(poll(raised, 700), { refusedFrom: null });
    // Puts with ids: the same, through maxPutIds.
    const puts = harness();
    setQuotas(puts, { maxPutIds: 2 });
    puts.run({ op: 'put', user: 'a', body: bytes(1), id: 'p1' });
    puts.run({ op: 'put', user: 'a', body: bytes(2), id: 'p2' });
    refusedWith(puts, { op: 'put', user: 'a', body: bytes(3), id: 'p3' }, /cluster quota maxPutIds reached/);
    setQuotas(puts, { maxPutIds: 3 });
    assert.equal(puts.run({ op: 'put', user: 'a', body: bytes(3), id: 'p3' }).kind, 'put');
    const copy = harness();
    copy.mailbox.restore(puts.mailbox.snapshot());
    assert.equal(copy.mailbox.quotas().maxPutIds, 3);
    refusedWith(copy, { op: 'put', user: 'a', body: bytes(4), id: 'p4' }, /maxPutIds reached/);
  });

  test('total messages: puts are refused, consumes, acks, nacks and purges go on and drain', () => {
    const h = harness();
    setQuotas(h, { maxMessages: 3 });
    h.run({ op: 'put', user: 'a', body: bytes(1) });
    h.run({ op: 'put', user: 'b', body: bytes(2) });
    h.run({ op: 'put', user: 'b', body: bytes(3) });
    refusedWith(h, { op: 'put', user: 'c', body: bytes(4) }, /maxMessages reached: 3 messages held, limit 3/);
    // A leased message still counts (it may come back); acking it makes room.
    const leased = message(h.run({ op: 'consume', user: 'b', leaseMs: 1000 }));
    refusedWith(h, { op: 'put', user: 'a', body: bytes(5) }, /maxMessages/);
    assert.equal(h.run({ op: 'nack', user: 'b', receipt: leased.receipt! }).kind, 'ok');
    const again = message(h.run({ op: 'consume', user: 'b', leaseMs: 1000 }));
    assert.equal(h.run({ op: 'ack', user: 'b', receipt: again.receipt! }).kind, 'ok');
    assert.equal(h.run({ op: 'put', user: 'c', body: bytes(4) }).kind, 'put');
    assert.deepEqual(h.mailbox.usage(), { messages: 3, bytes: 3, mailboxes: 3 });
    assert.deepEqual(h.run({ op: 'purge', user: 'b' }), { kind: 'purged', count: 1 });
    assert.equal(message(h.run({ op: 'consume', user: 'a' })).body[0], 1);
    assert.deepEqual(h.mailbox.usage(), { messages: 1, bytes: 1, mailboxes: 1 });
  });

  test('total bytes, and a quota set below the usage refuses puts until enough is taken out', () => {
    const h = harness();
    h.run({ op: 'put', user: 'a', body: new Uint8Array(6) });
    h.run({ op: 'put', user: 'b', body: new Uint8Array(4) });
    assert.deepEqual(setQuotas(h, { maxBytes: 8 }).usage, { messages: 2, bytes: 10, mailboxes: 2 });
    refusedWith(h, { op: 'put', user: 'a', body: new Uint8Array(0) }, /maxBytes reached: 10 bytes held, limit 8, this message 0 bytes/);
    h.run({ op: 'consume', user: 'b' });
    refusedWith(h, { op: 'put', user: 'a', body: new Uint8Array(3) }, /maxBytes reached: 6 bytes held, limit 8/);
    assert.equal(h.run({ op: 'put', user: 'a', body: new Uint8Array(2) }).kind, 'put');
  });

  test('mailboxes: a put to a new mailbox is refused, one to an existing mailbox is not', () => {
    const h = harness();
    setQuotas(h, { maxMailboxes: 2 });
    h.run({ op: 'put', user: 'a', body: bytes() });
    h.run({ op: 'put', user: 'b', body: bytes() });
    refusedWith(h, { op: 'put', user: 'c', body: bytes() }, /maxMailboxes reached: 2 mailboxes hold messages, limit 2/);
    assert.equal(h.run({ op: 'put', user: 'a', body: bytes() }).kind, 'put');
    h.run({ op: 'consume', user: 'b' });
    assert.equal(h.run({ op: 'put', user: 'c', body: bytes() }).kind, 'put');
  });

  test('expiry frees quota: the sweep, leases ending and dead letters keep the totals right', () => {
    const h = harness({ defaultTtlMs: 100, maxDeliveries: 1 });
    setQuotas(h, { maxMessages: 2 });
    h.runAt(0, { op: 'put', user: 'a', body: bytes(1) });
    h.runAt(0, { op: 'put', user: 'a', body: bytes(2), ttlMs: 1000 });
    h.runAt(0, { op: 'consume', user: 'a', leaseMs: 10 });
    refusedWith(h, { op: 'put', user: 'b', body: bytes() }, /maxMessages/);
    // The lease ends at 10 and the message, delivered once, is dead-lettered: still held.
    h.runAt(50, { op: 'expire' });
    assert.deepEqual(h.mailbox.usage(), { messages: 2, bytes: 2, mailboxes: 1 });
    // At 100 the dead letter expires, and the sweep frees its place.
    h.runAt(100, { op: 'expire' });
    assert.deepEqual(h.mailbox.usage(), { messages: 1, bytes: 1, mailboxes: 1 });
    assert.equal(h.runAt(100, { op: 'put', user: 'b', body: bytes() }).kind, 'put');
  });

  test('a duplicate put is answered at the quota: it adds nothing', () => {
    const h = harness();
    h.run({ op: 'put', user: 'a', body: bytes(), id: 'x' });
    setQuotas(h, { maxMessages: 1 });
    assert.deepEqual(h.run({ op: 'put', user: 'a', body: bytes(), id: 'x' }), { kind: 'put', id: 'x', seq: 1, duplicate: true });
  });
});
