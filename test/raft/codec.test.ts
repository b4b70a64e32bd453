import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeEntries,
  decodeHardState,
  decodeMessage,
  decodeSnapshotMeta,
  encodeEntries,
  encodeHardState,
  encodeMessage,
  encodeSnapshotMeta,
} from '../../src/raft/codec.js';
import { WireError } from '../../src/wire/wire-error.js';
import type { Entry, EntryType, Message, SnapshotMeta } from '../../src/raft/types.js';
import { wireErrorCodeOf } from '../support/wire.js';
import { entryRun, hardState, message, snapshotMeta } from '../support/raft-arbitraries.js';

test('messages round trip and encode deterministically', () => {
  fc.assert(
    fc.property(message, (m) => {
      const b = encodeMessage(m);
      assert.deepEqual(decodeMessage(b), m);
      assert.deepEqual(encodeMessage(decodeMessage(b)), b);
    }),
    { numRuns: 500 },
  );
});

test('entry runs, hard state and snapshot meta round trip', () => {
  fc.assert(
    fc.property(entryRun, hardState, snapshotMeta, (es, hs, meta) => {
      assert.deepEqual(decodeEntries(encodeEntries(es)), es);
      assert.deepEqual(decodeHardState(encodeHardState(hs)), hs);
      assert.deepEqual(decodeSnapshotMeta(encodeSnapshotMeta(meta)), meta);
    }),
    { numRuns: 300 },
  );
});

test('every strict prefix of a valid message is rejected as truncated input', () => {
  fc.assert(
    fc.property(message, (m) => {
      const b = encodeMessage(m);
      for (let n = 0; n < b.length; n++) {
        assert.throws(() => decodeMessage(b.subarray(0, n)), WireError);
      }
    }),
    { numRuns: 200 },
  );
});

const hb: Message = { type: 'heartbeat', from: 'a', to: 'b', term: 3, commit: 7, round: 9 };

test('specific garbage gets specific error codes', () => {
  const good = encodeMessage(hb);
  assert.equal(wireErrorCodeOf(() => decodeMessage(new Uint8Array([99]))), 'UNKNOWN_TAG');
  assert.equal(wireErrorCodeOf(() => decodeMessage(new Uint8Array([...good, 0]))), 'TRAILING_BYTES');
  assert.equal(wireErrorCodeOf(() => decodeMessage(good.subarray(0, good.length - 1))), 'TRUNCATED');
  assert.equal(wireErrorCodeOf(() => decodeMessage(new Uint8Array())), 'TRUNCATED');
  // A length prefix claiming 2^40 bytes for the from field.
  assert.equal(wireErrorCodeOf(() => decodeMessage(new Uint8Array([6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]))), 'TOO_LARGE');
  // Varint beyond 2^53.
  const big = new Uint8Array([1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
  assert.equal(wireErrorCodeOf(() => decodeHardState(big)), 'BAD_INTEGER');
  const overSafe = new Uint8Array([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10]);
  assert.equal(wireErrorCodeOf(() => decodeHardState(overSafe)), 'BAD_INTEGER');
  // Non-shortest varint (0 encoded in two bytes).
  assert.equal(wireErrorCodeOf(() => decodeHardState(new Uint8Array([1, 0x80, 0x00, 0, 0]))), 'BAD_INTEGER');
  assert.equal(wireErrorCodeOf(() => decodeHardState(new Uint8Array([2, 0, 0, 0]))), 'BAD_VERSION');
  assert.equal(wireErrorCodeOf(() => decodeHardState(new Uint8Array([1, 0, 0, 2]))), 'BAD_BOOLEAN');
  // Invalid UTF-8 in a node id.
  assert.equal(wireErrorCodeOf(() => decodeHardState(new Uint8Array([1, 0, 0, 1, 2, 0xc3, 0x28]))), 'BAD_UTF8');
  assert.equal(wireErrorCodeOf(() => decodeHardState(new Uint8Array([1, 0, 0, 1, 0]))), 'INVALID');
  assert.equal(wireErrorCodeOf(() => decodeEntries(new Uint8Array([1, 1, 1, 1, 3, 0, 0]))), 'UNKNOWN_TAG');
  assert.equal(wireErrorCodeOf(() => decodeEntries(new Uint8Array([2, 0]))), 'BAD_VERSION');
  // A count the bytes present cannot hold (each entry takes at least 5).
  assert.equal(wireErrorCodeOf(() => decodeEntries(new Uint8Array([1, 3, 1, 1, 0, 0, 0, 1, 2, 0, 0]))), 'TOO_LARGE');
  // Two entries, indexes 1 and 3.
  assert.equal(wireErrorCodeOf(() => decodeEntries(new Uint8Array([1, 2, 1, 1, 0, 0, 0, 1, 3, 0, 0, 0]))), 'INVALID');
  assert.equal(wireErrorCodeOf(() => decodeEntries(new Uint8Array([1, 2, 1, 1, 0, 0, 0, 1, 2, 0, 0, 0]))), 'NO_ERROR');
  const gap = [1, 3].map((index) => ({ term: 1, index, type: 0 as EntryType, time: 0, data: new Uint8Array() }));
  assert.equal(wireErrorCodeOf(() => encodeEntries(gap)), 'INVALID');
  assert.equal(wireErrorCodeOf(() => decodeHardState(encodeHardState({ term: 2 ** 53, vote: null, commit: 0 }))), 'BAD_INTEGER');
});

test('decoders enforce the configured limits', () => {
  const append: Message = {
    type: 'append',
    from: 'a',
    to: 'b',
    term: 1,
    prevLogIndex: 0,
    prevLogTerm: 0,
    commit: 0,
    entries: [1, 2, 3].map((index) => ({ term: 1, index, type: 0 as EntryType, time: 0, data: new Uint8Array(100) })),
  };
  const b = encodeMessage(append);
  assert.equal(wireErrorCodeOf(() => decodeMessage(b, { maxEntriesPerMessage: 2 })), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => decodeMessage(b, { maxEntryDataBytes: 99 })), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => decodeMessage(b, { maxMessageBytes: b.length - 1 })), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => encodeMessage(append, { maxEntriesPerMessage: 2 })), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => encodeMessage({ ...hb, from: 'x'.repeat(65) })), 'INVALID');
  assert.equal(wireErrorCodeOf(() => decodeMessage(encodeMessage(hb, { maxNodeIdBytes: 200 }), { maxNodeIdBytes: 0 })), 'TOO_LARGE');
  const chunk: Message = {
    type: 'snapshot',
    from: 'a',
    to: 'b',
    term: 1,
    meta: { index: 5, term: 1, membership: { voters: ['a', 'b', 'c'], learners: [] }, time: 0, digest: new Uint8Array(32) },
    offset: 0,
    total: 10,
    data: new Uint8Array(10),
    done: true,
  };
  assert.equal(wireErrorCodeOf(() => decodeMessage(encodeMessage(chunk), { maxChunkBytes: 9 })), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => decodeMessage(encodeMessage(chunk), { maxMembers: 2 })), 'TOO_LARGE');
});

test('encoders refuse what the limits forbid before allocating for it', () => {
  const big = { term: 1, index: 1, type: 0 as EntryType, time: 0, data: new Uint8Array(101) };
  assert.equal(wireErrorCodeOf(() => encodeEntries([big], { maxEntryDataBytes: 100 })), 'TOO_LARGE');
  const append: Message = { type: 'append', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, commit: 0, entries: [big] };
  assert.equal(wireErrorCodeOf(() => encodeMessage(append, { maxEntryDataBytes: 100 })), 'TOO_LARGE');
  const size = encodeMessage(append).length;
  assert.equal(wireErrorCodeOf(() => encodeMessage(append, { maxMessageBytes: size - 1 })), 'TOO_LARGE');
  assert.equal(wireErrorCodeOf(() => encodeMessage(append, { maxMessageBytes: size })), 'NO_ERROR');
  assert.equal(wireErrorCodeOf(() => encodeMessage({ ...hb, commit: -1 })), 'BAD_INTEGER');
  assert.equal(wireErrorCodeOf(() => encodeMessage({ ...hb, commit: 2 ** 53 })), 'BAD_INTEGER');
  assert.equal(wireErrorCodeOf(() => encodeMessage({ ...hb, round: Number.POSITIVE_INFINITY })), 'BAD_INTEGER');
  assert.equal(wireErrorCodeOf(() => encodeMessage({ ...hb, round: 1.5 })), 'BAD_INTEGER');
});

// Pins the wire format: these bytes must not change without a protocol version bump.
test('an append message encodes to the documented bytes', () => {
  const m: Message = {
    type: 'append',
    from: 'n1',
    to: 'n2',
    term: 300,
    prevLogIndex: 2 ** 32,
    prevLogTerm: 299,
    commit: 7,
    entries: [
      { term: 300, index: 2 ** 32 + 1, type: 0 as EntryType, time: 1_700_000_000_000, data: new Uint8Array([0xde, 0xad]) },
      { term: 300, index: 2 ** 32 + 2, type: 1 as EntryType, time: 0, data: new Uint8Array() },
    ],
  };
  const hex = Buffer.from(encodeMessage(m)).toString('hex');
  assert.equal(
    hex,
    '04' + '026e31' + '026e32' + 'ac02' + '8080808010' + 'ab02' + '07' + '02' +
      'ac02' + '8180808010' + '00' + '80d095ffbc31' + '02dead' +
      'ac02' + '8280808010' + '01' + '00' + '00',
  );
  assert.deepEqual(decodeMessage(Buffer.from(hex, 'hex')), m);
});

test('integers above 2^32 survive the round trip', () => {
  const m: Message = { type: 'appendResp', from: 'a', to: 'b', term: 2 ** 40 + 3, success: false, index: 2 ** 52, conflictTerm: 2 ** 33, conflictIndex: 1 };
  assert.deepEqual(decodeMessage(encodeMessage(m)), m);
});

test('entry data decoded from a Node Buffer are plain arrays that do not share the input', () => {
  const entries = [1, 2, 3].map((index) => ({ term: 1, index, type: 0 as EntryType, time: 5, data: new Uint8Array([index, 9, 9]) }));
  const m: Message = { type: 'append', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, commit: 0, entries };
  for (const [frame, decode] of [
    [Buffer.from(encodeMessage(m)), (b: Uint8Array) => (decodeMessage(b) as typeof m).entries],
    [Buffer.from(encodeEntries(entries)), (b: Uint8Array) => decodeEntries(b)],
  ] as const) {
    const decoded = decode(frame);
    for (const e of decoded) {
      assert.equal(Object.getPrototypeOf(e.data), Uint8Array.prototype);
      assert.notEqual(e.data.buffer, frame.buffer);
    }
    frame.fill(0);
    assert.deepEqual(decoded, entries);
  }
});

test('byte fields decoded from a Node Buffer are plain copies', () => {
  const m: Message = { type: 'snapshot', from: 'a', to: 'b', term: 1, meta: { index: 1, term: 1, membership: { voters: ['a'], learners: [] }, time: 0, digest: new Uint8Array(32) }, offset: 0, total: 3, data: new Uint8Array([1, 2, 3]), done: true };
  const frame = Buffer.from(encodeMessage(m));
  const decoded = decodeMessage(frame);
  assert.equal(Object.getPrototypeOf(decoded.type === 'snapshot' && decoded.data), Uint8Array.prototype);
  frame.fill(0);
  assert.deepEqual(decoded, m);
});

// Golden bytes: today's exact encodings of fixed values. The formats are on disk and on the wire
// between versions, so a refactor of the codec must leave every byte as it is (a change of format
// bumps its version byte instead).
const goldenEntries: Entry[] = [
  { term: 3, index: 200, type: 0 as EntryType, time: 1_700_000_000_123, data: Uint8Array.from([0, 1, 0x7f, 0x80, 0xff]) },
  { term: 3, index: 201, type: 1 as EntryType, time: 127, data: new Uint8Array(0) },
  { term: 2 ** 32 + 5, index: 202, type: 2 as EntryType, time: 0, data: new TextEncoder().encode('conf') },
];
const goldenMeta: SnapshotMeta = { index: 2 ** 28, term: 2 ** 31, membership: { voters: ['n1', 'nöde-2', 'n3'], learners: ['n4'] }, time: 1_700_000_000_123, digest: Uint8Array.from([0xab, 0xcd]) };
const goldenMessages: Message[] = [
  { type: 'preVote', from: 'n1', to: 'n2', term: 5, lastLogIndex: 1000, lastLogTerm: 4 },
  { type: 'vote', from: 'n1', to: 'n2', term: 128, lastLogIndex: 2 ** 28 - 1, lastLogTerm: 127, transfer: true },
  { type: 'voteResp', from: 'n2', to: 'n1', term: 128, preVote: false, granted: true },
  { type: 'append', from: 'n1', to: 'nöde-2', term: 3, prevLogIndex: 199, prevLogTerm: 3, entries: goldenEntries.slice(0, 2), commit: 198 },
  { type: 'appendResp', from: 'n2', to: 'n1', term: 3, success: false, index: 300, conflictTerm: 2, conflictIndex: 150 },
  { type: 'heartbeat', from: 'n1', to: 'n2', term: 3, commit: 2 ** 35 - 1, round: 77 },
  { type: 'heartbeatResp', from: 'n2', to: 'n1', term: 3, round: 77 },
  { type: 'snapshot', from: 'n1', to: 'n3', term: 4, meta: goldenMeta, offset: 65536, total: 200_000, data: Uint8Array.from([1, 2, 3]), done: false },
  { type: 'snapshotResp', from: 'n3', to: 'n1', term: 4, index: 2 ** 28, offset: 65539, success: true },
  { type: 'timeoutNow', from: 'nöde-2', to: 'n1', term: Number.MAX_SAFE_INTEGER },
];
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('golden bytes: every message type, entries, hard state and snapshot meta encode exactly as before', () => {
  const expected: Record<Message['type'], string> = {
    preVote: '01026e31026e3205e80704',
    vote: '02026e31026e328001ffffff7f7f01',
    voteResp: '03026e32026e3180010001',
    append: '04026e31076ec3b664652d3203c70103c6010203c80100fbd095ffbc310500017f80ff03c901017f00',
    appendResp: '05026e32026e310300ac02029601',
    heartbeat: '06026e31026e3203ffffffff7f4d',
    heartbeatResp: '07026e32026e31034d',
    snapshot: '08026e31026e33048080808001808080800803026e31076ec3b664652d32026e3301026e34fbd095ffbc3102abcd808004c09a0c0301020300',
    snapshotResp: '09026e33026e3104808080800183800401',
    timeoutNow: '0a076ec3b664652d32026e31ffffffffffffff0f',
  };
  for (const m of goldenMessages) {
    const b = encodeMessage(m);
    assert.equal(hex(b), expected[m.type], m.type);
    assert.deepEqual(decodeMessage(b), m);
  }
  assert.equal(hex(encodeEntries(goldenEntries)), '010303c80100fbd095ffbc310500017f80ff03c901017f008580808010ca01020004636f6e66');
  assert.deepEqual(decodeEntries(encodeEntries(goldenEntries)), goldenEntries);
  assert.equal(hex(encodeHardState({ term: 7, vote: 'n2', commit: 199 })), '0107c70101026e32');
  assert.equal(hex(encodeHardState({ term: Number.MAX_SAFE_INTEGER, vote: null, commit: 0 })), '01ffffffffffffff0f0000');
  assert.equal(hex(encodeSnapshotMeta(goldenMeta)), '028080808001808080800803026e31076ec3b664652d32026e3301026e34fbd095ffbc3102abcd');
  assert.deepEqual(decodeSnapshotMeta(encodeSnapshotMeta(goldenMeta)), goldenMeta);
  // Version 1 (before snapshots carried their entry time and digest) still reads, as time 0 with an
  // empty digest (LevelStorage seals migrated snapshots with the digest of their data).
  assert.deepEqual(decodeSnapshotMeta(Buffer.from('018080808001808080800803026e31076ec3b664652d32026e3301026e34', 'hex')), {
    ...goldenMeta,
    time: 0,
    digest: new Uint8Array(0),
  });
});
