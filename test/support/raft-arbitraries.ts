// Arbitraries of valid Raft values (fast-check), shared by the codec's tests and the fuzz
// targets (test/fuzz/targets.ts): every value here encodes, and decodes back to itself.

import fc from 'fast-check';
import type { Entry, EntryType, HardState, Message, SnapshotMeta } from '../../src/raft/types.js';

// Plain objects (not null-prototype ones) so deepEqual compares against decoded values.
export function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

export const safeUint = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: 0, max: 2 ** 32 + 5 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35 - 1, 2 ** 49, 1_700_000_000_000),
);
export const nodeId = fc.string({ minLength: 1, maxLength: 16, unit: 'grapheme' }).filter((s) => {
  const n = new TextEncoder().encode(s).length;
  return n >= 1 && n <= 64;
});
const bytes = fc.uint8Array({ maxLength: 64 });
export const entry: fc.Arbitrary<Entry> = rec({
  term: safeUint,
  index: safeUint,
  type: fc.constantFrom(0, 1, 2).map((t) => t as EntryType),
  time: safeUint,
  data: bytes,
});
export const membership = rec({ voters: fc.array(nodeId, { maxLength: 5 }), learners: fc.array(nodeId, { maxLength: 3 }) });
export const snapshotMeta: fc.Arbitrary<SnapshotMeta> = rec({ index: safeUint, term: safeUint, membership, time: safeUint, digest: fc.uint8Array({ maxLength: 64 }) });
export const hardState: fc.Arbitrary<HardState> = rec({ term: safeUint, vote: fc.option(nodeId, { nil: null }), commit: safeUint });
const envelope = { from: nodeId, to: nodeId, term: safeUint };

export const message: fc.Arbitrary<Message> = fc.oneof(
  rec({ type: fc.constant('preVote' as const), ...envelope, lastLogIndex: safeUint, lastLogTerm: safeUint }),
  rec({ type: fc.constant('vote' as const), ...envelope, lastLogIndex: safeUint, lastLogTerm: safeUint, transfer: fc.boolean() }),
  rec({ type: fc.constant('voteResp' as const), ...envelope, preVote: fc.boolean(), granted: fc.boolean() }),
  rec({
    type: fc.constant('append' as const),
    ...envelope,
    prevLogIndex: safeUint,
    prevLogTerm: safeUint,
    entries: fc.array(entry, { maxLength: 5 }),
    commit: safeUint,
  }),
  rec({
    type: fc.constant('appendResp' as const),
    ...envelope,
    success: fc.boolean(),
    index: safeUint,
    conflictTerm: safeUint,
    conflictIndex: safeUint,
  }),
  rec({ type: fc.constant('heartbeat' as const), ...envelope, commit: safeUint, round: safeUint }),
  rec({ type: fc.constant('heartbeatResp' as const), ...envelope, round: safeUint }),
  rec({
    type: fc.constant('snapshot' as const),
    ...envelope,
    meta: snapshotMeta,
    offset: safeUint,
    total: safeUint,
    data: bytes,
    done: fc.boolean(),
  }),
  rec({ type: fc.constant('snapshotResp' as const), ...envelope, index: safeUint, offset: safeUint, success: fc.boolean() }),
  rec({ type: fc.constant('timeoutNow' as const), ...envelope }),
);

// Consecutive indexes from a random start, as a save or an AppendEntries carries them.
export const entryRun: fc.Arbitrary<Entry[]> = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 52 }), fc.array(entry, { maxLength: 6 }))
  .map(([first, es]) => es.map((e, i) => ({ ...e, index: first + i })));

