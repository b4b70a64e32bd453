// Arbitraries of valid mailbox commands (fast-check), shared by the codec's tests and the fuzz
// targets (test/fuzz/targets.ts): every command here encodes, and decodes back to itself.

import fc from 'fast-check';
import type { MailboxCommand } from '../../src/mailbox/commands.js';

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const num = fc.oneof(fc.integer(), fc.double({ noNaN: true }));
const body = fc.uint8Array({ maxLength: 300 });

function opt<K extends string, V>(key: K, arb: fc.Arbitrary<V>): fc.Arbitrary<Partial<Record<K, V>>> {
  return fc.option(arb, { nil: undefined }).map((v) => (v === undefined ? {} : ({ [key]: v } as Record<K, V>)));
}

/** An empty principal is the anonymous one and is not written: it decodes as absent. */
const principal = opt('principal', text.filter((t) => t !== ''));

export const command: fc.Arbitrary<MailboxCommand> = fc.oneof(
  fc
    .tuple(text, body, opt('id', text), opt('ttlMs', num), principal, opt('delayMs', num))
    .map(([user, body, id, ttl, p, delay]) => ({ op: 'put' as const, user, body, ...id, ...ttl, ...p, ...delay })),
  fc
    .tuple(
      text,
      opt('requestId', text),
      opt('leaseMs', num),
      opt('deadLetter', fc.constant(true as const)),
      principal,
      opt('receiptNonce', text),
      opt('max', fc.integer({ min: 1, max: 1024 })),
    )
    .map(([user, r, l, d, p, n, m]) => ({ op: 'consume' as const, user, ...r, ...l, ...d, ...p, ...n, ...m })),
  fc
    .tuple(
      text,
      principal,
      fc.array(
        fc.tuple(body, opt('id', text), opt('ttlMs', num)).map(([body, id, ttl]) => ({ body, ...id, ...ttl })),
        { minLength: 1, maxLength: 5 },
      ),
    )
    .map(([user, p, messages]) => ({ op: 'putBatch' as const, user, messages, ...p })),
  fc.tuple(fc.constantFrom('ack' as const, 'nack' as const), text, text).map(([op, user, receipt]) => ({ op, user, receipt })),
  fc.tuple(text, text, num).map(([user, receipt, delayMs]) => ({ op: 'nack' as const, user, receipt, delayMs })),
  fc.tuple(text, text, num).map(([user, receipt, leaseMs]) => ({ op: 'touch' as const, user, receipt, leaseMs })),
  fc.tuple(text, opt('max', num)).map(([user, max]) => ({ op: 'redrive' as const, user, ...max })),
  fc.tuple(text, opt('deadLetter', fc.constant(true as const))).map(([user, d]) => ({ op: 'purge' as const, user, ...d })),
  fc.constant({ op: 'expire' as const }),
  fc
    .tuple(opt('maxMessages', num), opt('maxBytes', num), opt('maxMailboxes', num), opt('maxPutIds', num), opt('maxConsumeResults', num))
    .map(([m, b, x, p, c]) => ({ op: 'setQuotas' as const, ...m, ...b, ...x, ...p, ...c })),
);

