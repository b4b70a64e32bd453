// Batches in the mailbox state machine: a consume with `max` and a batch put. All or none, per
// message ids, leases and receipts, a request id replaying the whole batch, and the bounds.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCommand, encodeCommand } from '../../src/mailbox/codec.js';
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
    run(cmd: MailboxCommand, t = 0): MailboxResult {
      return mailbox.apply(cmd, { index: ++index, term: 1, time: T0 + t });
    },
  };
}

const body = (n: number) => Uint8Array.from([n]);

function messages(r: MailboxResult) {
  assert.equal(r.kind, 'messages', `expected messages, got ${JSON.stringify(r)}`);
  return (r as Extract<MailboxResult, { kind: 'messages' }>).messages;
}

function puts(r: MailboxResult) {
  assert.equal(r.kind, 'puts', `expected puts, got ${JSON.stringify(r)}`);
  return (r as Extract<MailboxResult, { kind: 'puts' }>).puts;
}

function errorCode(r: MailboxResult): string {
  assert.equal(r.kind, 'error', `expected an error, got ${JSON.stringify(r)}`);
  return (r as Extract<MailboxResult, { kind: 'error' }>).code;
}

function fill(h: ReturnType<typeof harness>, n: number): void {
  for (let i = 1; i <= n; i++) h.run({ op: 'put', user: 'u', body: body(i) });
}

test('consume max takes up to max in seq order, then empty', () => {
  const h = harness();
  fill(h, 5);
  assert.deepEqual(messages(h.run({ op: 'consume', user: 'u', max: 3 })).map((m) => m.body[0]), [1, 2, 3]);
  assert.deepEqual(messages(h.run({ op: 'consume', user: 'u', max: 3 })).map((m) => m.body[0]), [4, 5]);
  assert.deepEqual(h.run({ op: 'consume', user: 'u', max: 3 }), { kind: 'empty' });
  // An idle batch poll is answered without the log, like a single one.
  assert.deepEqual(h.mailbox.consumeWithoutLog({ op: 'consume', user: 'u', max: 3 }, T0), { kind: 'empty' });
});

test('a leased batch leases each message under its own receipt', () => {
  const h = harness();
  fill(h, 3);
  const got = messages(h.run({ op: 'consume', user: 'u', max: 3, leaseMs: 1000, receiptNonce: NONCE }));
  const receipts = got.map((m) => m.receipt);
  assert.equal(new Set(receipts).size, 3);
  assert.deepEqual(h.run({ op: 'ack', user: 'u', receipt: receipts[1]! }), { kind: 'ok' });
  assert.deepEqual(h.run({ op: 'nack', user: 'u', receipt: receipts[0]! }), { kind: 'ok' });
  // The nacked one is back at the head; the third is still leased.
  assert.deepEqual(messages(h.run({ op: 'consume', user: 'u', max: 5 })).map((m) => m.body[0]), [1]);
  assert.equal(errorCode(h.run({ op: 'ack', user: 'u', receipt: receipts[2]! }, 2000)), 'LEASE_EXPIRED');
});

test('a rid replays the whole batch, and survives a snapshot', () => {
  const h = harness();
  fill(h, 4);
  const first = h.run({ op: 'consume', user: 'u', max: 3, requestId: 'r1' });
  assert.equal(messages(first).length, 3);
  const restored = new Mailbox();
  restored.restore(h.mailbox.snapshot());
  assert.deepEqual(h.run({ op: 'consume', user: 'u', max: 3, requestId: 'r1' }), first);
  assert.deepEqual(restored.apply({ op: 'consume', user: 'u', max: 3, requestId: 'r1' }, { index: 9, term: 1, time: T0 }), first);
  assert.deepEqual(messages(h.run({ op: 'consume', user: 'u', max: 3 })).map((m) => m.body[0]), [4]);
});

test('a remembered batch stops at the request table byte bound', () => {
  const h = harness({ maxBodyBytes: 4, requestCacheMaxBytes: 10 });
  for (let i = 0; i < 5; i++) h.run({ op: 'put', user: 'u', body: new Uint8Array(4) });
  // 10 bytes of room: two 4-byte bodies, not a third.
  assert.equal(messages(h.run({ op: 'consume', user: 'u', max: 5, requestId: 'r' })).length, 2);
  // No rid, no bound.
  assert.equal(messages(h.run({ op: 'consume', user: 'u', max: 5 })).length, 3);
});

test('max outside 1..maxBatch is refused', () => {
  const h = harness({ maxBatch: 4 });
  fill(h, 1);
  for (const max of [0, 5, 1.5]) assert.equal(errorCode(h.run({ op: 'consume', user: 'u', max })), 'BAD_REQUEST', `max ${max}`);
});

test('a batch put enqueues in order with per-message ids; a known id reports duplicate while the others enqueue', () => {
  const h = harness();
  h.run({ op: 'put', user: 'u', body: body(0), id: 'a' });
  const got = puts(
    h.run({
      op: 'putBatch',
      user: 'u',
      messages: [{ body: body(1), id: 'a' }, { body: body(2), id: 'b' }, { body: body(3) }, { body: body(4), id: 'b' }],
    }),
  );
  assert.deepEqual(got, [
    { id: 'a', seq: 1, duplicate: true },
    { id: 'b', seq: 2, duplicate: false },
    { id: '@3', seq: 3, duplicate: false },
    { id: 'b', seq: 2, duplicate: true },
  ]);
  assert.deepEqual(messages(h.run({ op: 'consume', user: 'u', max: 10 })).map((m) => m.body[0]), [0, 2, 3]);
});

test('a batch put is all or none: any refusal leaves the state as it was', () => {
  const h = harness({ maxBodyBytes: 8, maxMessagesPerMailbox: 3, maxBatch: 4 });
  h.run({ op: 'put', user: 'u', body: body(0) });
  const before = h.mailbox.snapshot();
  const refused: Array<[string, MailboxCommand]> = [
    ['TOO_LARGE', { op: 'putBatch', user: 'u', messages: [{ body: body(1) }, { body: new Uint8Array(9) }] }],
    ['TOO_LARGE', { op: 'putBatch', user: 'u', messages: [{ body: new Uint8Array(5) }, { body: new Uint8Array(5) }] }],
    ['BAD_REQUEST', { op: 'putBatch', user: 'u', messages: [{ body: body(1) }, { body: body(2), id: '@x' }] }],
    ['BAD_REQUEST', { op: 'putBatch', user: 'u', messages: [{ body: body(1), ttlMs: 0 }] }],
    ['BAD_REQUEST', { op: 'putBatch', user: 'u', messages: [] }],
    ['BAD_REQUEST', { op: 'putBatch', user: 'u', messages: Array.from({ length: 5 }, () => ({ body: body(1) })) }],
    ['MAILBOX_FULL', { op: 'putBatch', user: 'u', messages: [{ body: body(1) }, { body: body(2) }, { body: body(3) }] }],
    ['BAD_USER', { op: 'putBatch', user: 'a/b', messages: [{ body: body(1) }] }],
  ];
  for (const [code, cmd] of refused) {
    assert.equal(errorCode(h.run(cmd)), code, JSON.stringify(cmd).slice(0, 80));
    assert.deepEqual(h.mailbox.snapshot(), before, `${code} changed nothing`);
  }
  h.mailbox.apply({ op: 'setQuotas', maxMessages: 2 }, { index: 100, term: 1, time: T0 });
  const atQuota = h.mailbox.snapshot();
  assert.equal(errorCode(h.run({ op: 'putBatch', user: 'v', messages: [{ body: body(1) }, { body: body(2) }] })), 'QUOTA_EXCEEDED');
  assert.deepEqual(h.mailbox.snapshot(), atQuota);
});

test('the id table bound counts the batch: no new id is taken past it', () => {
  const h = harness({ dedupeMaxEntries: 2 });
  assert.equal(
    errorCode(h.run({ op: 'putBatch', user: 'u', messages: [{ body: body(1), id: 'a' }, { body: body(2), id: 'b' }, { body: body(3), id: 'c' }] })),
    'QUOTA_EXCEEDED',
  );
  assert.equal(puts(h.run({ op: 'putBatch', user: 'u', messages: [{ body: body(1), id: 'a' }, { body: body(2), id: 'b' }] })).length, 2);
});

test('batch commands round-trip the codec; bad counts are refused by the decoder', () => {
  const cmds: MailboxCommand[] = [
    { op: 'consume', user: 'u', max: 16, requestId: 'r', leaseMs: 5, receiptNonce: NONCE, principal: 'p' },
    { op: 'putBatch', user: 'u', principal: 'p', messages: [{ body: body(1), id: 'a', ttlMs: 9 }, { body: new Uint8Array(0) }] },
  ];
  for (const cmd of cmds) assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
  // A consume without max is byte for byte as before (no flag 32).
  assert.deepEqual(Array.from(encodeCommand({ op: 'consume', user: 'u' })), [2, 2, 1, 0, 117, 0]);
  const tooMany = encodeCommand({ op: 'putBatch', user: 'u', messages: [{ body: body(1) }] });
  const countAt = 2 + 2 + 1 + 1; // version, op, user "u", flags
  new DataView(tooMany.buffer).setUint16(countAt, 1025, true);
  assert.throws(() => decodeCommand(tooMany), /over 1024/);
});
