// MemoryStorage's staged snapshot writes, as the simulator's crashes see them: each staged batch is
// a write of its own that a crash loses until it lands, the snapshot changes only when the commit
// lands, and what a dead writer staged is dropped when the disk is opened again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDisk, MemoryStorage } from '../../src/raft/memory-storage.js';
import type { Entry, EntryType, Snapshot, SnapshotMeta } from '../../src/raft/types.js';
import { loadWhole } from '../support/stored-snapshot.js';

function entry(index: number): Entry {
  return { index, term: 1, type: 0 as EntryType, time: index, data: Uint8Array.of(index) };
}

function meta(index: number): SnapshotMeta {
  return { index, term: 1, membership: { voters: ['a'], learners: [] }, time: index, digest: new Uint8Array(32) };
}

/** A storage whose writes land only when the test says so. */
function manual(disk: MemoryDisk, snapshotBatchBytes: number): { storage: MemoryStorage; land: () => number } {
  const waiting: Array<() => void> = [];
  const storage = new MemoryStorage(disk, { delay: (done) => waiting.push(done), snapshotBatchBytes });
  const land = () => {
    const n = waiting.length;
    for (const done of waiting.splice(0)) done();
    return n;
  };
  return { storage, land };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Lets the writes issued so far land, turn after turn, until `done()`. */
async function landUntil(land: () => number, done: () => boolean): Promise<void> {
  for (let turns = 0; !done(); turns++) {
    if (turns > 100) assert.fail('never happened');
    await settle();
    land();
  }
}

const stagedBytes = (disk: MemoryDisk) => [...disk.staged.values()].flat().reduce((n, b) => n + b.length, 0);

test('a crash before the commit lands leaves the old snapshot and log; reopening drops the staged batches', async () => {
  const disk = new MemoryDisk();
  const { storage, land } = manual(disk, 4);
  const saved = storage.save({ hardState: { term: 1, vote: 'a', commit: 6 }, entries: [1, 2, 3, 4, 5, 6].map(entry), snapshot: null });
  land();
  await saved;
  const old: Snapshot = { meta: meta(2), data: Uint8Array.of(9, 9) };
  const first = storage.beginSnapshot();
  first.write(old.data);
  const committed = first.commit(old.meta);
  await landUntil(land, () => disk.snapshot !== null);
  await committed;

  const writer = storage.beginSnapshot();
  assert.equal(writer.write(Uint8Array.of(1, 2, 3, 4, 5)), true, 'one batch in flight');
  assert.equal(writer.write(Uint8Array.of(6, 7, 8, 9)), false, 'a second batch waits behind it: the producer is held back');
  await landUntil(land, () => stagedBytes(disk) === 8);
  await writer.drained();
  writer.write(Uint8Array.of(10));
  void writer.commit(meta(5));
  await settle();
  storage.crash(); // the last batch and the commit never land
  assert.equal(stagedBytes(disk), 8, 'the landed batches are on the disk, staged');

  assert.deepEqual(disk.snapshot, old);
  assert.deepEqual(disk.entries.map((e) => e.index), [3, 4, 5, 6]);
  const reopened = new MemoryStorage(disk);
  assert.equal(disk.staged.size, 0);
  assert.deepEqual((await loadWhole(reopened, false)).snapshot, old);
});

test('once the commit lands the new image is the snapshot and the log is compacted behind it', async () => {
  const disk = new MemoryDisk();
  const { storage, land } = manual(disk, 3);
  const saved = storage.save({ hardState: null, entries: [1, 2, 3, 4, 5, 6, 7].map(entry), snapshot: null });
  land();
  await saved;
  const writer = storage.beginSnapshot();
  const image = Uint8Array.from({ length: 11 }, (_, i) => i * 3);
  for (let at = 0; at < image.length; at += 2) {
    if (!writer.write(image.subarray(at, at + 2))) {
      let drained = false;
      const waiting = writer.drained().then(() => (drained = true));
      await landUntil(land, () => drained);
      await waiting;
    }
  }
  const committed = writer.commit(meta(5));
  // Batches land one after another; the commit is issued once the last one did.
  await landUntil(land, () => disk.snapshot !== null);
  await committed;
  assert.deepEqual(disk.snapshot, { meta: meta(5), data: image });
  assert.deepEqual(disk.entries.map((e) => e.index), [6, 7]);
  assert.equal(disk.staged.size, 0);
});

test('an aborted writer drops what it staged', async () => {
  const disk = new MemoryDisk();
  const storage = new MemoryStorage(disk, { snapshotBatchBytes: 2 });
  await storage.save({ hardState: null, entries: [entry(1), entry(2)], snapshot: null });
  const writer = storage.beginSnapshot();
  writer.write(Uint8Array.of(1, 2, 3));
  await writer.drained();
  assert.equal(disk.staged.size, 1);
  writer.abort();
  await settle();
  assert.equal(disk.staged.size, 0);
  assert.equal(disk.snapshot, null);
  assert.throws(() => writer.write(Uint8Array.of(4)), /aborted/);
});
