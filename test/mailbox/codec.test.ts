// Wire codec: exact round trips, one encoding per value, and typed rejection of garbage.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MailboxDecodeError } from '../../src/mailbox/binary.js';
import { decodeCommand, decodeResult, encodeCommand, encodeResult, resultSize } from '../../src/mailbox/codec.js';
import type { DeliveredMessage, MailboxCommand, MailboxErrorCode, MailboxResult } from '../../src/mailbox/commands.js';

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const num = fc.oneof(fc.integer(), fc.double({ noNaN: true }));
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const time = fc.integer({ min: -1e15, max: 1e15 });
const body = fc.uint8Array({ maxLength: 300 });

function opt<K extends string, V>(key: K, arb: fc.Arbitrary<V>): fc.Arbitrary<Partial<Record<K, V>>> {
  return fc.option(arb, { nil: undefined }).map((v) => (v === undefined ? {} : ({ [key]: v } as Record<K, V>)));
}

const command: fc.Arbitrary<MailboxCommand> = fc.oneof(
  fc
    .tuple(text, body, opt('id', text), opt('ttlMs', num))
    .map(([user, body, id, ttl]) => ({ op: 'put' as const, user, body, ...id, ...ttl })),
  fc
    .tuple(text, opt('requestId', text), opt('leaseMs', num), opt('deadLetter', fc.constant(true as const)))
    .map(([user, r, l, d]) => ({ op: 'consume' as const, user, ...r, ...l, ...d })),
  fc.tuple(fc.constantFrom('ack' as const, 'nack' as const), text, text).map(([op, user, receipt]) => ({ op, user, receipt })),
  fc.tuple(text, opt('deadLetter', fc.constant(true as const))).map(([user, d]) => ({ op: 'purge' as const, user, ...d })),
  fc.constant({ op: 'expire' as const }),
);

const delivered: fc.Arbitrary<DeliveredMessage> = fc
  .tuple(text, count, body, time, time, fc.nat({ max: 0xffffffff }), fc.option(fc.tuple(text, time), { nil: undefined }))
  .map(([id, seq, body, enqueuedAt, expiresAt, deliveries, lease]) => ({
    id,
    seq,
    body,
    enqueuedAt,
    expiresAt,
    deliveries,
    ...(lease ? { receipt: lease[0], leaseExpiresAt: lease[1] } : {}),
  }));

const codes: MailboxErrorCode[] = ['BAD_USER', 'BAD_REQUEST', 'TOO_LARGE', 'MAILBOX_FULL', 'UNKNOWN_RECEIPT', 'LEASE_EXPIRED'];

const result: fc.Arbitrary<MailboxResult> = fc.oneof(
  fc.tuple(text, count, fc.boolean()).map(([id, seq, duplicate]) => ({ kind: 'put' as const, id, seq, duplicate })),
  delivered.map((message) => ({ kind: 'message' as const, message })),
  fc.constant({ kind: 'empty' as const }),
  fc.constant({ kind: 'ok' as const }),
  count.map((c) => ({ kind: 'purged' as const, count: c })),
  fc.tuple(count, count, count).map(([expired, deadLettered, leasesReturned]) => ({ kind: 'expired' as const, expired, deadLettered, leasesReturned })),
  fc
    .tuple(count, count, count, count, count)
    .map(([c, bytes, oldestAgeMs, inFlight, deadLetterCount]) => ({ kind: 'stats' as const, stats: { count: c, bytes, oldestAgeMs, inFlight, deadLetterCount } })),
  fc.tuple(fc.constantFrom(...codes), text).map(([code, message]) => ({ kind: 'error' as const, code, message })),
);

/** Plain data for comparison: decoders return plain Uint8Arrays, encoders may get any view. */
function normal(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? { bytes: Array.from(x) } : x)));
}

function expectDecodeError(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof MailboxDecodeError && e.code === 'DECODE_FAILED');
}

describe('commands', () => {
  test('round trip exactly, with a single encoding per command', () => {
    fc.assert(
      fc.property(command, (cmd) => {
        const bytes = encodeCommand(cmd);
        const back = decodeCommand(bytes);
        assert.deepEqual(normal(back), normal(cmd));
        assert.deepEqual(encodeCommand(back), bytes);
      }),
      { numRuns: 500 },
    );
  });

  test('a decoded body owns no more than the entry it came from', () => {
    const entry = encodeCommand({ op: 'put', user: 'a', body: new Uint8Array([1, 2, 3]) });
    const cmd = decodeCommand(entry);
    assert.equal(cmd.op, 'put');
    assert.equal((cmd as { body: Uint8Array }).body.buffer, entry.buffer);
  });

  test('every truncation of a valid encoding is rejected with a typed error', () => {
    fc.assert(
      fc.property(command, (cmd) => {
        const bytes = encodeCommand(cmd);
        for (let n = 0; n < bytes.length; n++) expectDecodeError(() => decodeCommand(bytes.subarray(0, n)));
      }),
      { numRuns: 100 },
    );
  });

  test('random bytes either decode to a command or fail with MailboxDecodeError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeCommand(bytes);
        } catch (e) {
          assert.ok(e instanceof MailboxDecodeError, String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('specific garbage is rejected', () => {
    const valid = encodeCommand({ op: 'put', user: 'alice', body: new Uint8Array([1]) });
    const patched = (at: number, ...b: number[]) => {
      const copy = valid.slice();
      copy.set(b, at);
      return copy;
    };
    expectDecodeError(() => decodeCommand(new Uint8Array()));
    expectDecodeError(() => decodeCommand(patched(0, 2))); // unknown version
    expectDecodeError(() => decodeCommand(patched(1, 77))); // unknown op
    expectDecodeError(() => decodeCommand(patched(2, 0xff, 0xff))); // user length past the end and the bound
    expectDecodeError(() => decodeCommand(patched(9, 0x80))); // unknown flag bit
    expectDecodeError(() => decodeCommand(patched(10, 0xff, 0xff, 0xff, 0xff))); // 4 GiB body claimed
    expectDecodeError(() => decodeCommand(patched(4, 0xc3, 0x28))); // invalid UTF-8 in user
    expectDecodeError(() => decodeCommand(new Uint8Array([...valid, 0]))); // trailing byte
    const big = encodeCommand({ op: 'put', user: 'a', body: new Uint8Array(64 * 1024 * 1024 + 1) });
    expectDecodeError(() => decodeCommand(big)); // over the wire body ceiling
  });
});

describe('results', () => {
  test('round trip exactly, with a single encoding per result', () => {
    fc.assert(
      fc.property(result, (res) => {
        const bytes = encodeResult(res);
        assert.equal(resultSize(res), bytes.length);
        const back = decodeResult(bytes);
        assert.deepEqual(normal(back), normal(res));
        assert.deepEqual(Array.from(encodeResult(back)), Array.from(bytes));
      }),
      { numRuns: 500 },
    );
  });

  test('truncations, random bytes and out-of-range fields are rejected with a typed error', () => {
    fc.assert(
      fc.property(result, (res) => {
        const bytes = encodeResult(res);
        for (let n = 0; n < bytes.length; n++) expectDecodeError(() => decodeResult(bytes.subarray(0, n)));
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeResult(bytes);
        } catch (e) {
          assert.ok(e instanceof MailboxDecodeError, String(e));
        }
      }),
      { numRuns: 2000 },
    );
    const purged = encodeResult({ kind: 'purged', count: 1 });
    const negative = purged.slice();
    new DataView(negative.buffer).setFloat64(2, -1, true);
    expectDecodeError(() => decodeResult(negative));
    const fraction = purged.slice();
    new DataView(fraction.buffer).setFloat64(2, 0.5, true);
    expectDecodeError(() => decodeResult(fraction));
    const err = encodeResult({ kind: 'error', code: 'BAD_USER', message: '' });
    expectDecodeError(() => decodeResult(new Uint8Array([err[0]!, err[1]!, 99, 0, 0]))); // unknown error code
    const dup = encodeResult({ kind: 'put', id: 'x', seq: 1, duplicate: true });
    const badBool = dup.slice();
    badBool[badBool.length - 1] = 2;
    expectDecodeError(() => decodeResult(badBool));
  });
});

// Golden bytes: commands live in the Raft log on disk, so a refactor must leave every byte as it is
// (a change of format bumps WIRE_VERSION instead).
test('golden bytes: a command of each op encodes exactly as before', () => {
  const golden: [MailboxCommand, string][] = [
    [{ op: 'put', user: 'ann', body: Uint8Array.from([0, 0x80, 0xff, 0x41]), id: 'm-1', ttlMs: 60000 }, '01010300616e6e0303006d2d3100000000004ced40040000000080ff41'],
    [{ op: 'put', user: 'bo', body: new Uint8Array(0), id: 'idé' }, '01010200626f0104006964c3a900000000'],
    [{ op: 'put', user: 'cy', body: Uint8Array.from([7]), ttlMs: 1.5 }, '01010200637902000000000000f83f0100000007'],
    [{ op: 'consume', user: 'ann', requestId: 'r1', leaseMs: 1500, deadLetter: true }, '01020300616e6e07020072310000000000709740'],
    [{ op: 'consume', user: 'bo' }, '01020200626f00'],
    [{ op: 'ack', user: 'ann', receipt: '12.1' }, '01030300616e6e040031322e31'],
    [{ op: 'nack', user: 'ann', receipt: '12.2' }, '01040300616e6e040031322e32'],
    [{ op: 'purge', user: 'bo', deadLetter: true }, '01050200626f01'],
    [{ op: 'purge', user: 'bo' }, '01050200626f00'],
    [{ op: 'expire' }, '0106'],
  ];
  for (const [cmd, hex] of golden) {
    const bytes = encodeCommand(cmd);
    assert.equal(Buffer.from(bytes).toString('hex'), hex, cmd.op);
    assert.deepEqual(normal(decodeCommand(bytes)), normal(cmd));
  }
});
