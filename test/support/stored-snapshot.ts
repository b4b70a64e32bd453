// Tests read a stored snapshot back whole, as `load` returned it before it was read in ranges.

import { sameBytes, snapshotDigest } from '../../src/raft/digest.js';
import type { HardState, Entry, Membership, RaftStorage, ReceivedSnapshot, Snapshot } from '../../src/raft/types.js';

export class StoredDigestMismatch extends Error {
  constructor(index: number) {
    super(`the stored snapshot at ${index} does not match its digest`);
    this.name = 'StoredDigestMismatch';
  }
}

/**
 * `storage.load()`, with the snapshot's data read through `readSnapshot` and checked against its
 * digest (unless `checkDigest` is false, for tests that store made-up digests).
 */
export async function loadWhole(storage: RaftStorage, checkDigest = true): Promise<{ hardState: HardState; snapshot: Snapshot | null; entries: Entry[]; initialMembership: Membership }> {
  const persisted = await storage.load();
  if (persisted.snapshot === null) return { ...persisted, snapshot: null };
  const { meta, size } = persisted.snapshot;
  const data = await storage.readSnapshot(meta.index, 0, size);
  if (checkDigest && !sameBytes(snapshotDigest(data), meta.digest)) throw new StoredDigestMismatch(meta.index);
  return { ...persisted, snapshot: { meta, data: data.slice() } };
}

/**
 * `snap` as a follower's driver hands a leader's snapshot to `save`: its data staged in `storage`
 * by a writer (in pieces of `pieceBytes`, as chunks arrive), ended.
 */
export async function staged(storage: RaftStorage, snap: Snapshot, pieceBytes = 7): Promise<ReceivedSnapshot> {
  const writer = storage.beginSnapshot();
  for (let at = 0; at < snap.data.length; at += pieceBytes) {
    if (!writer.write(snap.data.subarray(at, at + pieceBytes))) await writer.drained();
  }
  await writer.end();
  return { meta: snap.meta, size: snap.data.length, writer };
}
