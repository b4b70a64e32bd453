// Replicas that apply the same log end byte-identical, whether they applied all of it or
// restored a snapshot part-way; snapshots are versioned, re-snapshot to the same bytes, and a
// damaged image is refused with a typed error without touching the state.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { ApplyMeta, MailboxCommand, MailboxResult } from '../../src/mailbox/commands.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { snapshotSize } from '../../src/mailbox/snapshot.js';
import { WireError } from '../../src/wire/wire-error.js';

const options = { maxMessagesPerMailbox: 8, maxDeliveries: 2, defaultTtlMs: 500, dedupeMaxEntries: 4, requestCacheMaxEntries: 4 };

interface LogEntry {
  data: Uint8Array;
  meta: ApplyMeta;
}

/** A result as plain data, body bytes included (a delivered message's body is an accessor). */
function plain(r: MailboxResult | undefined): unknown {
  return r?.kind === 'message' ? { ...r, message: { ...r.message, body: Array.from(r.message.body) } } : r;
}

const user = fc.constantFrom('ann', 'bo', 'cy');
/** Principals scope remembered ids: the same id from two of them is two entries. */
const principal = fc.constantFrom<string | undefined>(undefined, 'p1', 'p2');
/** Leader randomness for leased consumes, from a small set so that acks can quote it; or none (an old entry). */
const NONCES = ['n1n1n1n1n1n1n1n1', 'n2n2n2n2n2n2n2n2'];
const nonce = fc.constantFrom<string | undefined>(undefined, ...NONCES);
const command: fc.Arbitrary<MailboxCommand> = fc.oneof(
  fc
    .record({ user, body: fc.uint8Array({ maxLength: 12 }), id: fc.option(fc.constantFrom('i1', 'i2', 'i3'), { nil: undefined }), ttl: fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }), principal })
    .map(({ user, body, id, ttl, principal }) => ({ op: 'put' as const, user, body, ...(id ? { id } : {}), ...(ttl ? { ttlMs: ttl } : {}), ...(principal ? { principal } : {}) })),
  fc
    .record({ user, requestId: fc.option(fc.constantFrom('q1', 'q2'), { nil: undefined }), leaseMs: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }), principal, nonce })
    .map(({ user, requestId, leaseMs, principal, nonce }) => ({
      op: 'consume' as const,
      user,
      ...(requestId ? { requestId } : {}),
      ...(leaseMs ? { leaseMs, ...(nonce ? { receiptNonce: nonce } : {}) } : {}),
      ...(principal ? { principal } : {}),
    })),
  fc.record({ user, deadLetter: fc.boolean() }).map(({ user, deadLetter }) => ({ op: 'consume' as const, user, deadLetter })),
  fc
    .record({ user, s: fc.integer({ min: 1, max: 30 }), d: fc.integer({ min: 1, max: 3 }), nack: fc.boolean(), nonce })
    .map(({ user, s, d, nack, nonce }) => ({ op: nack ? ('nack' as const) : ('ack' as const), user, receipt: nonce ? `${s}.${d}.${nonce}` : `${s}.${d}` })),
  fc.constant({ op: 'expire' as const }),
  user.map((u) => ({ op: 'purge' as const, user: u })),
  fc
    .record({ maxMessages: fc.integer({ min: 1, max: 20 }), maxMailboxes: fc.integer({ min: 1, max: 3 }) })
    .map(({ maxMessages, maxMailboxes }) => ({ op: 'setQuotas' as const, maxMessages, maxMailboxes })),
);

const log: fc.Arbitrary<LogEntry[]> = fc
  .array(fc.tuple(fc.oneof(command, fc.uint8Array({ maxLength: 8 })), fc.integer({ min: -20, max: 60 })), { minLength: 1, maxLength: 200, size: 'max' })
  .map((items) => {
    let time = 1_000_000;
    return items.map(([c, dt], i) => {
      time += dt;
      return { data: c instanceof Uint8Array ? c : encodeCommand(c), meta: { index: i + 1, term: 1 + (i >> 5), time } };
    });
  });

test('three replicas applying the same log produce identical results and byte-identical snapshots', () => {
  fc.assert(
    fc.property(log, fc.nat(), (entries, cut) => {
      const replicas = [new MailboxStateMachine(options), new MailboxStateMachine(options), new MailboxStateMachine(options)];
      const split = cut % (entries.length + 1);
      for (const [i, e] of entries.entries()) {
        if (i === split) {
          // The third replica catches up from the first one's snapshot, as a lagging follower would.
          replicas[2] = new MailboxStateMachine(options);
          replicas[2].restore(replicas[0]!.snapshot());
        }
        const results = replicas.map((r) => r.apply(e.data, e.meta));
        assert.deepEqual(plain(results[1]), plain(results[0]), `entry ${i}`);
        assert.deepEqual(plain(results[2]), plain(results[0]), `entry ${i}`);
      }
      // The running totals the quotas count agree with each other and with a recount from the mailboxes.
      const recount = { messages: 0, bytes: 0, mailboxes: replicas[0]!.mailbox.state.users.size };
      for (const box of replicas[0]!.mailbox.state.users.values()) {
        recount.messages += box.held;
        recount.bytes += box.heldBytes;
      }
      for (const r of replicas) assert.deepEqual(r.mailbox.usage(), recount);
      const [a, b, c] = replicas.map((r) => r.snapshot());
      assert.equal(snapshotSize(replicas[0]!.mailbox.state), a!.length, 'size computed ahead of writing');
      assert.deepEqual(b, a);
      assert.deepEqual(c, a);
      const again = new MailboxStateMachine(options);
      again.restore(a!);
      assert.deepEqual(again.snapshot(), a);
    }),
    { numRuns: 60 },
  );
});

test('snapshot carries magic and version, and damaged images are refused without touching state', () => {
  const sm = new MailboxStateMachine();
  sm.apply(encodeCommand({ op: 'put', user: 'ann', body: new Uint8Array([1, 2, 3]), id: 'm' }), { index: 1, term: 1, time: 5 });
  sm.apply(encodeCommand({ op: 'consume', user: 'ann', leaseMs: 100, requestId: 'r', principal: 'p1', receiptNonce: NONCES[0] }), { index: 2, term: 1, time: 6 });
  sm.apply(encodeCommand({ op: 'put', user: 'bo', body: new Uint8Array([4]) }), { index: 3, term: 1, time: 7 });
  const image = sm.snapshot();
  assert.deepEqual(Array.from(image.subarray(0, 6)), [0x46, 0x4d, 0x42, 0x58, 3, 0]);

  const target = new MailboxStateMachine();
  target.apply(encodeCommand({ op: 'put', user: 'cy', body: new Uint8Array([9]) }), { index: 1, term: 1, time: 1 });
  const before = target.snapshot();
  const refuse = (data: Uint8Array) => {
    assert.throws(() => target.restore(data), WireError);
    assert.deepEqual(target.snapshot(), before);
  };
  for (let n = 0; n < image.length; n++) refuse(image.subarray(0, n));
  refuse(new Uint8Array([...image, 0]));
  const badMagic = image.slice();
  badMagic[0] = 0x47;
  refuse(badMagic);
  const badVersion = image.slice();
  badVersion[4] = 4;
  refuse(badVersion);
  const hugeCount = image.slice();
  hugeCount.set([0xff, 0xff, 0xff, 0xff], 46); // user count (after now, lastSeq, three quotas) claims 4 billion entries
  refuse(hugeCount);

  target.restore(image);
  assert.deepEqual(target.snapshot(), image);
});
