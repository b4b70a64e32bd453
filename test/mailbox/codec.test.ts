// Wire codec: exact round trips, one encoding per value, and typed rejection of garbage.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeCommand, encodeCommand } from '../../src/mailbox/codec.js';
import type { MailboxCommand } from '../../src/mailbox/commands.js';
import { WireError, type WireErrorCode } from '../../src/wire/wire-error.js';

import { command } from '../support/mailbox-arbitraries.js';

/** Plain data for comparison: decoders return plain Uint8Arrays, encoders may get any view. */
function normal(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? { bytes: Array.from(x) } : x)));
}

function expectDecodeError(fn: () => unknown, code?: WireErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof WireError && (code === undefined || e.code === code));
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

  test('specific garbage is rejected', () => {
    const valid = encodeCommand({ op: 'put', user: 'alice', body: new Uint8Array([1]) });
    const patched = (at: number, ...b: number[]) => {
      const copy = valid.slice();
      copy.set(b, at);
      return copy;
    };
    expectDecodeError(() => decodeCommand(new Uint8Array()), 'TRUNCATED');
    expectDecodeError(() => decodeCommand(patched(0, 3)), 'BAD_VERSION');
    expectDecodeError(() => decodeCommand(patched(0, 0)), 'BAD_VERSION');
    expectDecodeError(() => decodeCommand(patched(1, 77)), 'UNKNOWN_TAG'); // unknown op
    expectDecodeError(() => decodeCommand(patched(2, 0xff, 0xff)), 'TOO_LARGE'); // user length past the end and the bound
    expectDecodeError(() => decodeCommand(patched(9, 0x80)), 'UNKNOWN_TAG'); // unknown flag bit
    expectDecodeError(() => decodeCommand(patched(10, 0xff, 0xff, 0xff, 0xff)), 'TOO_LARGE'); // 4 GiB body claimed
    expectDecodeError(() => decodeCommand(patched(4, 0xc3, 0x28)), 'BAD_UTF8'); // invalid UTF-8 in user
    expectDecodeError(() => decodeCommand(new Uint8Array([...valid, 0])), 'TRAILING_BYTES');
    expectDecodeError(() => decodeCommand(patched(0, 1, 1, 5, 0, 0x61, 0x6c, 0x69, 0x63, 0x65, 4)), 'UNKNOWN_TAG'); // a principal in a version-1 put
    // A principal flagged but empty: the empty principal is written as absent, so this is a second encoding.
    expectDecodeError(() => decodeCommand(Uint8Array.from([2, 1, 1, 0, 0x61, 4, 0, 0, 0, 0, 0, 0])), 'INVALID');
    expectDecodeError(() => decodeCommand(Uint8Array.from([2, 7, 32])), 'UNKNOWN_TAG'); // setQuotas with an unknown flag bit
    expectDecodeError(() => decodeCommand(Uint8Array.from([2, 7, 8])), 'TRUNCATED'); // maxPutIds flagged, not there
    expectDecodeError(() => decodeCommand(Uint8Array.from([1, 7, 0])), 'UNKNOWN_TAG'); // setQuotas in a version-1 entry
    const big = encodeCommand({ op: 'put', user: 'a', body: new Uint8Array(64 * 1024 * 1024 + 1) });
    expectDecodeError(() => decodeCommand(big), 'TOO_LARGE'); // over the wire body ceiling
  });
});

// Golden bytes: commands live in the Raft log on disk, so a refactor must leave every byte as it is
// (a change of format bumps WIRE_VERSION instead), and entries of earlier versions still decode.
test('golden bytes: a command of each op encodes exactly as before', () => {
  const golden: [MailboxCommand, string][] = [
    [{ op: 'put', user: 'ann', body: Uint8Array.from([0, 0x80, 0xff, 0x41]), id: 'm-1', ttlMs: 60000, principal: 'svc' }, '02010300616e6e0703006d2d3100000000004ced4003007376630400000000' + '80ff41'],
    [{ op: 'put', user: 'bo', body: new Uint8Array(0), id: 'idé' }, '02010200626f0104006964c3a900000000'],
    [{ op: 'put', user: 'cy', body: Uint8Array.from([7]), ttlMs: 1.5 }, '02010200637902000000000000f83f0100000007'],
    [
      { op: 'consume', user: 'ann', requestId: 'r1', leaseMs: 1500, principal: 'alice-app', receiptNonce: 'AAECAwQFBgcICQoL' },
      '02020300616e6e1b0200723100000000007097400900616c6963652d617070100041414543417751464267634943516f4c',
    ],
    [{ op: 'consume', user: 'ann', requestId: 'r1', leaseMs: 1500, deadLetter: true }, '02020300616e6e07020072310000000000709740'],
    [{ op: 'consume', user: 'bo' }, '02020200626f00'],
    [{ op: 'ack', user: 'ann', receipt: '12.1.AAECAwQFBgcICQoL' }, '02030300616e6e150031322e312e41414543417751464267634943516f4c'],
    [{ op: 'nack', user: 'ann', receipt: '12.2' }, '02040300616e6e040031322e32'],
    [{ op: 'purge', user: 'bo', deadLetter: true }, '02050200626f01'],
    [{ op: 'purge', user: 'bo' }, '02050200626f00'],
    [{ op: 'expire' }, '0206'],
    [{ op: 'setQuotas', maxMessages: 1000, maxMailboxes: 2 }, '0207050000000000408f400000000000000040'],
    [{ op: 'setQuotas' }, '020700'],
    // The id tables' quotas came later: flags 8 and 16, after the first three's bits.
    [{ op: 'setQuotas', maxMailboxes: 2, maxPutIds: 4, maxConsumeResults: 8 }, '02071c' + '0000000000000040' + '0000000000001040' + '0000000000002040'],
    [{ op: 'put', user: 'cy', body: Uint8Array.from([7]), delayMs: 1000 }, '02010200637908000000000040' + '8f400100000007'],
    [{ op: 'touch', user: 'ann', receipt: '12.2', leaseMs: 1500 }, '02090300616e6e040031322e320000000000709740'],
    [{ op: 'redrive', user: 'bo' }, '020a0200626f00'],
    [{ op: 'redrive', user: 'bo', max: 2 }, '020a0200626f010000000000000040'],
    [{ op: 'nack', user: 'ann', receipt: '12.2', delayMs: 0 }, '020b0300616e6e040031322e320000000000000000'],
  ];
  for (const [cmd, hex] of golden) {
    const bytes = encodeCommand(cmd);
    assert.equal(Buffer.from(bytes).toString('hex'), hex, cmd.op);
    assert.deepEqual(normal(decodeCommand(bytes)), normal(cmd));
  }
});

test('golden bytes: version-1 entries (before principals and receipt nonces) still decode', () => {
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
    assert.deepEqual(normal(decodeCommand(Buffer.from(hex, 'hex'))), normal(cmd), cmd.op);
  }
});
