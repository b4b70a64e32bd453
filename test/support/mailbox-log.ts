// Logs of mailbox commands for property tests (fast-check): few users, ids, request ids and
// nonces, so that commands meet each other (duplicates, leases settled, quotas reached), mixed
// with undecodable entries and a replicated time that sometimes goes backwards.

import fc from 'fast-check';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { ApplyMeta, MailboxCommand } from '../../src/mailbox/commands.js';

export const options = { maxMessagesPerMailbox: 8, maxDeliveries: 2, defaultTtlMs: 500, dedupeMaxEntries: 4, requestCacheMaxEntries: 4, nackBackoffMs: 10, nackBackoffMaxMs: 40 };

export interface LogEntry {
  data: Uint8Array;
  meta: ApplyMeta;
}

/** Users, more of them than commands need, so that a state holds several mailboxes. */
const user = fc.constantFrom('ann', 'bo', 'cy', 'di', 'ed');
/** Principals scope remembered ids: the same id from two of them is two entries. */
const principal = fc.constantFrom<string | undefined>(undefined, 'p1', 'p2');
/** Leader randomness for leased consumes, from a small set so that acks can quote it; or none (an old entry). */
export const NONCES = ['n1n1n1n1n1n1n1n1', 'n2n2n2n2n2n2n2n2'];
const nonce = fc.constantFrom<string | undefined>(undefined, ...NONCES);
export const command: fc.Arbitrary<MailboxCommand> = fc.oneof(
  fc
    .record({
      user,
      body: fc.uint8Array({ maxLength: 12 }),
      id: fc.option(fc.constantFrom('i1', 'i2', 'i3'), { nil: undefined }),
      ttl: fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
      principal,
      delay: fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined }),
    })
    .map(({ user, body, id, ttl, principal, delay }) => ({
      op: 'put' as const,
      user,
      body,
      ...(id ? { id } : {}),
      ...(ttl ? { ttlMs: ttl } : {}),
      ...(principal ? { principal } : {}),
      ...(delay ? { delayMs: delay } : {}),
    })),
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
    .record({
      user,
      s: fc.integer({ min: 1, max: 30 }),
      d: fc.integer({ min: 1, max: 3 }),
      op: fc.constantFrom('ack' as const, 'nack' as const, 'touch' as const),
      ms: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
      nonce,
    })
    .map(({ user, s, d, op, ms, nonce }): MailboxCommand => {
      const receipt = nonce ? `${s}.${d}.${nonce}` : `${s}.${d}`;
      if (op === 'touch') return { op, user, receipt, leaseMs: (ms ?? 0) + 1 };
      if (op === 'nack') return { op, user, receipt, ...(ms === undefined ? {} : { delayMs: ms }) };
      return { op, user, receipt };
    }),
  fc.record({ user, max: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }) }).map(({ user, max }) => ({ op: 'redrive' as const, user, ...(max ? { max } : {}) })),
  fc.constant({ op: 'expire' as const }),
  user.map((u) => ({ op: 'purge' as const, user: u })),
  fc
    .record({
      maxMessages: fc.integer({ min: 1, max: 20 }),
      maxMailboxes: fc.integer({ min: 1, max: 3 }),
      maxPutIds: fc.integer({ min: 1, max: 6 }),
      maxConsumeResults: fc.integer({ min: 1, max: 6 }),
    })
    .map((q) => ({ op: 'setQuotas' as const, ...q })),
);

export const log: fc.Arbitrary<LogEntry[]> = fc
  .array(fc.tuple(fc.oneof(command, fc.uint8Array({ maxLength: 8 })), fc.integer({ min: -20, max: 60 })), { minLength: 1, maxLength: 200, size: 'max' })
  .map((items) => {
    let time = 1_000_000;
    return items.map(([c, dt], i) => {
      time += dt;
      return { data: c instanceof Uint8Array ? c : encodeCommand(c), meta: { index: i + 1, term: 1 + (i >> 5), time } };
    });
  });

