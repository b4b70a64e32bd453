// Model-based property test: random command sequences (time jumps and clock skew, leases with
// and without receipt nonces, acks/nacks/touches with live, stale, guessed and bogus receipts,
// delayed puts, nack delays and the default backoff, redrives, expiry
// sweeps, duplicate ids and request-id retries by the same and by other principals,
// dead-lettering, limits, cluster quotas set and reset, full id tables) go to the real Mailbox, to the encoded MailboxStateMachine and
// to the reference model; every result and every query must agree. At random points the real
// one is replaced by a restore of its own snapshot, which must change nothing that follows.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { MailboxCommand, MailboxQuery, MailboxResult } from '../../src/mailbox/commands.js';
import { Mailbox } from '../../src/mailbox/mailbox.js';
import { resolveMailboxOptions } from '../../src/mailbox/options.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { type PlainResult, ReferenceMailbox, plain } from './reference-model.js';

/** Tiny limits so that every limit, window and cache bound is reached within a short run. */
const options = resolveMailboxOptions({
  maxBodyBytes: 16,
  maxMessagesPerMailbox: 6,
  maxBytesPerMailbox: 40,
  defaultTtlMs: 100,
  maxTtlMs: 200,
  maxLeaseMs: 50,
  maxDeliveries: 2,
  maxDelayMs: 60,
  nackBackoffMs: 4,
  nackBackoffMaxMs: 10,
  dedupeWindowMs: 60,
  dedupeMaxEntries: 3,
  requestWindowMs: 60,
  requestCacheMaxEntries: 3,
  requestCacheMaxBytes: 20,
  maxIdLength: 8,
  maxBatch: 3,
});

type Step =
  | { type: 'cmd'; cmd: MailboxCommand; dt: number }
  /**
   * ack/nack/touch of one of the last receipts handed out (with its user), of that receipt guessed
   * (its `<seq>.<deliveries>` without the nonce) when `guess`, or of `bogus` when given; a nack
   * with `ms` as its delay (else the default backoff), a touch with `ms` as its lease.
   */
  | { type: 'settle'; op: 'ack' | 'nack' | 'touch'; pick: number; guess: boolean; bogus: string | null; ms: number | undefined; dt: number }
  | { type: 'query'; q: MailboxQuery; dt: number }
  | { type: 'restore' };

const user = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('a', 'b', 'c.d') },
  { weight: 1, arbitrary: fc.constantFrom('', '..', 'x/y', 'a*', '@a', 'ü') },
);
const body = fc.uint8Array({ minLength: 0, maxLength: 18 });
const token = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('x', 'y', 'z', 'w') },
  { weight: 1, arbitrary: fc.constantFrom('', '@x', 'toolongtoken', 'a\u0000') },
);
const duration = (max: number) =>
  fc.option(fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max }) }, { weight: 1, arbitrary: fc.constantFrom(0, -5, 1.5, max + 1) }), {
    nil: undefined,
  });
/** Mostly two principals and the anonymous one, so ids collide across principals; rarely an invalid one. */
const principal = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom<string | undefined>(undefined, '', 'alice', 'bob') },
  { weight: 1, arbitrary: fc.constantFrom('a/b', 'x'.repeat(65)) },
);
/** What the leader draws (96 bits of base64url), or none (an old entry); rarely a malformed one. */
const receiptNonce = fc.oneof(
  { weight: 20, arbitrary: fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{16}$/), { nil: undefined }) },
  { weight: 1, arbitrary: fc.constantFrom('short', 'has.dot.in.it.is.bad', '') },
);
const bogusReceipt = fc.oneof(
  { weight: 8, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom('', 'nope', '1.1', 'x'.repeat(9)) },
);
/** Mostly small steps forward; sometimes a big jump past every window; sometimes a leader clock behind. */
const dt = fc.oneof(
  { weight: 30, arbitrary: fc.integer({ min: 0, max: 15 }) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: -40, max: -1 }) },
);

/** A quota small enough to be reached in a short run, or left out; rarely an invalid one. */
const quota = (max: number) =>
  fc.option(fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max }) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, 2.5, 1e12) }), {
    nil: undefined,
  });

const command: fc.Arbitrary<MailboxCommand> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc
      .record({ user, body, id: fc.option(token, { nil: undefined }), ttlMs: duration(200), delayMs: duration(60), principal })
      .map(({ user, body, id, ttlMs, delayMs, principal }) => ({
        op: 'put' as const,
        user,
        body,
        ...(id !== undefined ? { id } : {}),
        ...(ttlMs !== undefined ? { ttlMs } : {}),
        ...(delayMs !== undefined ? { delayMs } : {}),
        ...(principal !== undefined ? { principal } : {}),
      })),
  },
  {
    weight: 20,
    arbitrary: fc
      .record({
        user,
        requestId: fc.option(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 20 }).map((n) => `r${n}`) }, { weight: 1, arbitrary: fc.constant('') }), {
          nil: undefined,
        }),
        leaseMs: duration(50),
        deadLetter: fc.boolean(),
        principal,
        receiptNonce,
        strayNonce: fc.nat(40),
        // Mostly a batch within maxBatch (3), rarely out of range.
        max: fc.option(fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 4) }), { nil: undefined }),
      })
      .map(({ user, requestId, leaseMs, deadLetter, principal, receiptNonce, strayNonce, max }) => ({
        op: 'consume' as const,
        user,
        ...(max !== undefined ? { max } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
        ...(leaseMs !== undefined ? { leaseMs } : {}),
        ...(deadLetter && leaseMs === undefined ? { deadLetter } : {}),
        ...(principal !== undefined ? { principal } : {}),
        // A nonce comes with leases; now and then one without a lease, which is refused.
        ...(receiptNonce !== undefined && (leaseMs !== undefined || strayNonce === 0) ? { receiptNonce } : {}),
      })),
  },
  {
    weight: 8,
    arbitrary: fc
      .record({
        user,
        principal,
        messages: fc.array(
          fc.record({ body, id: fc.option(token, { nil: undefined }), ttlMs: duration(200) }).map(({ body, id, ttlMs }) => ({
            body,
            ...(id !== undefined ? { id } : {}),
            ...(ttlMs !== undefined ? { ttlMs } : {}),
          })),
          { minLength: 0, maxLength: 4 },
        ),
      })
      .map(({ user, principal, messages }) => ({ op: 'putBatch' as const, user, messages, ...(principal !== undefined ? { principal } : {}) })),
  },
  { weight: 1, arbitrary: fc.record({ user, deadLetter: fc.boolean() }).map(({ user, deadLetter }) => ({ op: 'purge' as const, user, deadLetter })) },
  { weight: 5, arbitrary: fc.constant({ op: 'expire' as const }) },
  {
    weight: 4,
    arbitrary: fc
      .record({ user, max: fc.option(fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5) }), { nil: undefined }) })
      .map(({ user, max }) => ({ op: 'redrive' as const, user, ...(max !== undefined ? { max } : {}) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ maxMessages: quota(14), maxBytes: quota(90), maxMailboxes: quota(3), maxPutIds: quota(3), maxConsumeResults: quota(3) })
      .map((q) => ({
        op: 'setQuotas' as const,
        ...(q.maxMessages !== undefined ? { maxMessages: q.maxMessages } : {}),
        ...(q.maxBytes !== undefined ? { maxBytes: q.maxBytes } : {}),
        ...(q.maxMailboxes !== undefined ? { maxMailboxes: q.maxMailboxes } : {}),
        ...(q.maxPutIds !== undefined ? { maxPutIds: q.maxPutIds } : {}),
        ...(q.maxConsumeResults !== undefined ? { maxConsumeResults: q.maxConsumeResults } : {}),
      })),
  },
);

const query: fc.Arbitrary<MailboxQuery> = fc.oneof(
  fc.record({ user, deadLetter: fc.boolean() }).map(({ user, deadLetter }) => ({ op: 'peek' as const, user, deadLetter })),
  user.map((user) => ({ op: 'len' as const, user })),
);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 14, arbitrary: fc.record({ cmd: command, dt }).map(({ cmd, dt }) => ({ type: 'cmd' as const, cmd, dt })) },
  {
    weight: 5,
    arbitrary: fc
      .record({
        op: fc.constantFrom('ack' as const, 'nack' as const, 'touch' as const),
        pick: fc.nat(),
        guess: fc.boolean(),
        bogus: bogusReceipt,
        ms: fc.oneof(duration(60), fc.constant(0)),
        dt,
      })
      .map((r) => ({ type: 'settle' as const, ...r })),
  },
  { weight: 4, arbitrary: fc.record({ q: query, dt: fc.integer({ min: 0, max: 80 }) }).map(({ q, dt }) => ({ type: 'query' as const, q, dt })) },
  { weight: 1, arbitrary: fc.constant({ type: 'restore' as const }) },
);

/** Error messages are free text: only the code is compared. */
function comparable(r: MailboxResult): PlainResult {
  return r.kind === 'error' ? { kind: 'error', code: r.code } : plain(r);
}

function comparablePlain(r: PlainResult): PlainResult {
  return r.kind === 'error' ? { kind: 'error', code: r.code } : r;
}

function run(steps: Step[], opts = options): void {
  let real = new Mailbox(opts);
  const encoded = new MailboxStateMachine(opts);
  const model = new ReferenceMailbox(opts);
  let time = 1_000;
  let index = 0;
  const receipts: { user: string; receipt: string }[] = [];
  for (const [i, s] of steps.entries()) {
    const where = `step ${i} ${JSON.stringify(s, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v))}`;
    if (s.type === 'restore') {
      const image = real.snapshot();
      real = new Mailbox(opts);
      real.restore(image);
      assert.deepEqual(real.snapshot(), image, `${where}: re-snapshot differs`);
      continue;
    }
    if (s.type === 'query') {
      const at = time + s.dt;
      assert.deepEqual(comparable(real.query(s.q, at)), model.query(s.q, at), `${where}: query`);
      continue;
    }
    let cmd: MailboxCommand;
    if (s.type === 'settle') {
      const issued = receipts[receipts.length - 1 - (s.pick % Math.min(3, Math.max(1, receipts.length)))];
      const receipt = issued === undefined ? 'none' : s.guess ? issued.receipt.split('.').slice(0, 2).join('.') : issued.receipt;
      const target = { user: issued?.user ?? 'a', receipt: s.bogus ?? receipt };
      if (s.op === 'touch') cmd = { op: 'touch', ...target, leaseMs: s.ms ?? 30 };
      else if (s.op === 'nack') cmd = { op: 'nack', ...target, ...(s.ms !== undefined ? { delayMs: s.ms } : {}) };
      else cmd = { op: 'ack', ...target };
    } else {
      cmd = s.cmd;
    }
    time += s.dt;
    const meta = { index: ++index, term: 1, time };
    const before = real.snapshot();
    // What the node answers without a log entry (an idle poll), asked before the consume is applied.
    const withoutLog = cmd.op === 'consume' ? real.consumeWithoutLog(cmd, time) : null;
    const got = real.apply(cmd, meta);
    if (withoutLog !== null) {
      assert.deepEqual(comparable(withoutLog), comparable(got), `${where}: a consume answered without the log, unlike applying it`);
    } else if (cmd.op === 'consume') {
      assert.ok(got.kind === 'message' || got.kind === 'messages' || cmd.requestId !== undefined, `${where}: an idle consume without request id went through the log`);
    }
    const fromBytes = encoded.apply(encodeCommand(cmd), meta);
    const expected = model.apply(cmd, meta);
    if (cmd.op === 'consume' && got.kind === 'message' && got.message.receipt !== undefined) {
      receipts.push({ user: cmd.user, receipt: got.message.receipt });
    }
    if (cmd.op === 'consume' && got.kind === 'messages') {
      for (const m of got.messages) if (m.receipt !== undefined) receipts.push({ user: cmd.user, receipt: m.receipt });
    }
    assert.deepEqual(comparable(got), comparablePlain(expected), `${where}: result vs model`);
    assert.deepEqual(comparable(fromBytes), comparable(got), `${where}: encoded path vs typed path`);
    assert.deepEqual(real.usage(), model.usage(), `${where}: cluster totals`);
    if (got.kind === 'error') assert.deepEqual(real.snapshot(), before, `${where}: rejected command changed state`);
  }
  assert.deepEqual(encoded.snapshot(), real.snapshot(), 'encoded replica diverged from typed replica');
}

test('mailbox agrees with the reference model on random command sequences', () => {
  fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 150, size: 'max' }), (steps) => run(steps)), { numRuns: 150 });
});

test('mailbox agrees with the reference model when every ended lease dead-letters (maxDeliveries 1), so that redrives move messages', () => {
  const deadly = { ...options, maxDeliveries: 1 };
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 150, size: 'max' }), (steps) => run(steps, deadly)),
    { numRuns: 100 },
  );
});
