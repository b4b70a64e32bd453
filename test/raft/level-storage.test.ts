import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Level } from 'level';
import fc from 'fast-check';
import { LevelStorage, seal, StorageError } from '../../src/raft/level-storage.js';
import { encodeEntries, encodeHardState, encodeSnapshotMeta } from '../../src/raft/codec.js';
import { ByteWriter } from '../../src/wire/writer.js';
import { snapshotDigest } from '../../src/raft/digest.js';
import type { Entry, EntryType, RaftStorage, Snapshot } from '../../src/raft/types.js';
import { loadWhole, staged } from '../support/stored-snapshot.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'level-storage-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: 0 as EntryType, time: 1_700_000_000_000 + index, data: new TextEncoder().encode(text) };
}

function range(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
}

function snapshot(index: number, term: number, size: number): Snapshot {
  const data = new Uint8Array(size).map((_, i) => (i * 7 + index) & 0xff);
  return { meta: { index, term, membership: { voters: ['a', 'b', 'c'], learners: ['d'] }, time: 0, digest: snapshotDigest(data) }, data };
}

/** Stores a snapshot taken locally, in one go: the writer, fed the whole image, then committed. */
async function compact(s: RaftStorage, snap: Snapshot): Promise<void> {
  const writer = s.beginSnapshot();
  writer.write(snap.data);
  await writer.commit(snap.meta);
}

function indexes(entries: Entry[]): number[] {
  return entries.map((e) => e.index);
}

function segmentKey(first: number): string {
  return `g/${first.toString(16).padStart(16, '0')}`;
}

async function rawKeys(dir: string): Promise<string[]> {
  const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  const keys = await raw.keys().all();
  await raw.close();
  return keys;
}

async function rawWrite(dir: string, ops: Array<{ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }>): Promise<void> {
  const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await raw.batch(ops);
  await raw.close();
}

test('a fresh store loads defaults', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    assert.deepEqual(await loadWhole(s), {
      hardState: { term: 0, vote: null, commit: 0 },
      snapshot: null,
      entries: [],
      initialMembership: { voters: [], learners: [] },
    });
    await s.close();
  });
});

test('saved hard state and entries survive close and reopen', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: { term: 2, vote: 'b', commit: 0 }, entries: range(1, 3, 1), snapshot: null });
    await s.save({ hardState: { term: 2, vote: 'b', commit: 3 }, entries: range(4, 6, 2), snapshot: null });
    await s.save({ hardState: null, entries: [entry(7, 2)], snapshot: null });
    await s.close();
    const reopened = await LevelStorage.open(dir);
    const loaded = await loadWhole(reopened);
    assert.deepEqual(loaded.hardState, { term: 2, vote: 'b', commit: 3 });
    assert.deepEqual(loaded.entries, [...range(1, 3, 1), ...range(4, 7, 2)]);
    assert.equal(loaded.snapshot, null);
    await reopened.close();
  });
});

test('entries starting inside the log replace the conflicting suffix', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 10, 1), snapshot: null });
    await s.save({ hardState: null, entries: range(6, 7, 3), snapshot: null });
    assert.deepEqual((await loadWhole(s)).entries, [...range(1, 5, 1), ...range(6, 7, 3)]);
    await s.close();
    // The in-memory last index must have followed the truncation: appending 8 is legal, 10 is not.
    const again = await LevelStorage.open(dir);
    await again.save({ hardState: null, entries: [entry(8, 3)], snapshot: null });
    await assert.rejects(again.save({ hardState: null, entries: [entry(10, 3)], snapshot: null }), (e: unknown) => e instanceof StorageError && e.code === 'INVALID_ARGUMENT');
    assert.deepEqual(indexes((await loadWhole(again)).entries), [1, 2, 3, 4, 5, 6, 7, 8]);
    await again.close();
  });
});

test('bad saves are refused and change nothing', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: { term: 1, vote: null, commit: 0 }, entries: range(1, 3, 1), snapshot: null });
    const before = await loadWhole(s);
    const refused = (e: unknown) => e instanceof StorageError && e.code === 'INVALID_ARGUMENT';
    await assert.rejects(s.save({ hardState: { term: 9, vote: null, commit: 0 }, entries: [entry(5, 1)], snapshot: null }), refused);
    await assert.rejects(s.save({ hardState: { term: 9, vote: null, commit: 0 }, entries: [entry(4, 1), entry(6, 1)], snapshot: null }), refused);
    await assert.rejects(s.save({ hardState: null, entries: [entry(0, 1)], snapshot: null }), refused);
    assert.deepEqual(await loadWhole(s), before);
    await s.close();
  });
});

test('compaction keeps the snapshot and the entries after it, across restart', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir, { chunkBytes: 100 });
    await s.save({ hardState: { term: 3, vote: 'a', commit: 8 }, entries: range(1, 10, 3), snapshot: null });
    const snap = snapshot(6, 3, 1050); // 11 chunks of 100 bytes
    await compact(s, snap);
    const loaded = await loadWhole(s);
    assert.deepEqual(loaded.snapshot, snap);
    assert.deepEqual(loaded.entries, range(7, 10, 3));
    await assert.rejects(compact(s, snapshot(5, 3, 10)), (e: unknown) => e instanceof StorageError && e.code === 'STALE_SNAPSHOT');
    await s.close();

    const reopened = await LevelStorage.open(dir, { chunkBytes: 100 });
    assert.deepEqual(await loadWhole(reopened), { ...loaded });
    // A smaller later snapshot must not read back stale chunks of the bigger one.
    const smaller = snapshot(9, 3, 150);
    await compact(reopened, smaller);
    await reopened.close();
    // The one segment (1..10) straddles the snapshot, so it stays; load skips its entries up to 9.
    // The first image (generation 0) is gone; the second is generation 1.
    assert.deepEqual(await rawKeys(dir), ['d/00000001/00000000', 'd/00000001/00000001', 'format', segmentKey(1), 'h', 's']);
    const last = await LevelStorage.open(dir, { chunkBytes: 100 });
    const final = await loadWhole(last);
    assert.deepEqual(final.snapshot, smaller);
    assert.deepEqual(final.entries, [entry(10, 3)]);
    await last.close();
  });
});

test('compaction past the last entry leaves an empty log that continues after the snapshot', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 4, 1), snapshot: null });
    await compact(s, snapshot(6, 2, 10));
    assert.deepEqual((await loadWhole(s)).entries, []);
    await s.save({ hardState: null, entries: [entry(7, 2)], snapshot: null });
    assert.deepEqual((await loadWhole(s)).entries, [entry(7, 2)]);
    await s.close();
  });
});

test('a snapshot received from the leader replaces the whole log', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 8, 2), snapshot: null });
    const installed = snapshot(5, 2, 20);
    await s.save({ hardState: { term: 3, vote: null, commit: 5 }, entries: [], snapshot: await staged(s, installed) });
    let loaded = await loadWhole(s);
    assert.deepEqual(loaded.snapshot, installed);
    assert.deepEqual(loaded.entries, []);
    // Entries in the same save continue the log after the snapshot.
    const next = snapshot(7, 4, 20);
    await s.save({ hardState: { term: 4, vote: null, commit: 7 }, entries: [entry(8, 4)], snapshot: await staged(s, next) });
    await assert.rejects(
      s.save({ hardState: null, entries: [entry(7, 4)], snapshot: null }),
      (e: unknown) => e instanceof StorageError && e.code === 'INVALID_ARGUMENT',
    );
    await assert.rejects(s.save({ hardState: null, entries: [], snapshot: await staged(s, snapshot(6, 4, 1)) }), (e: unknown) => e instanceof StorageError && e.code === 'STALE_SNAPSHOT');
    await s.close();
    const reopened = await LevelStorage.open(dir);
    loaded = await loadWhole(reopened);
    assert.deepEqual(loaded.snapshot, next);
    assert.deepEqual(loaded.entries, [entry(8, 4)]);
    assert.deepEqual(loaded.hardState, { term: 4, vote: null, commit: 7 });
    await reopened.close();
  });
});

test('segments a crash left below the snapshot are ignored on load and removed on open', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 3, 1), snapshot: null });
    await s.save({ hardState: null, entries: range(4, 6, 1), snapshot: null });
    await compact(s, snapshot(4, 1, 10));
    await s.close();
    // Segment 1 (1..3) was dropped, segment 4 straddles the snapshot and stays.
    assert.deepEqual((await rawKeys(dir)).filter((k) => k.startsWith('g/')), [segmentKey(4)]);
    // Simulate a crash between the snapshot batch and the removal.
    await rawWrite(dir, [{ type: 'put', key: segmentKey(1), value: seal(segmentKey(1), encodeEntries(range(1, 3, 1))) }]);
    const reopened = await LevelStorage.open(dir);
    assert.deepEqual(indexes((await loadWhole(reopened)).entries), [5, 6]);
    await reopened.close();
    assert.deepEqual((await rawKeys(dir)).filter((k) => k.startsWith('g/')), [segmentKey(4)]);
  });
});

test('a hole in the stored log is reported as corruption', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 2, 1), snapshot: null });
    await s.save({ hardState: null, entries: range(3, 4, 1), snapshot: null });
    await s.save({ hardState: null, entries: range(5, 6, 1), snapshot: null });
    await s.close();
    await rawWrite(dir, [{ type: 'del', key: segmentKey(3) }]);
    const reopened = await LevelStorage.open(dir);
    await assert.rejects(loadWhole(reopened), (e: unknown) => e instanceof StorageError && e.code === 'CORRUPT');
    await reopened.close();
  });
});

test('damaged segments are reported as corruption', { timeout: 10_000 }, async () => {
  const corrupt = (e: unknown) => e instanceof StorageError && e.code === 'CORRUPT';
  // Sealed with a valid checksum (a bug, not bit rot): the structural checks still catch them.
  const damaged: Array<[string, (key: string) => Uint8Array]> = [
    ['garbage bytes', () => new Uint8Array([1, 2, 3])],
    ['sealed garbage', (key) => seal(key, new Uint8Array([1, 2, 3]))],
    ['a segment whose entries start elsewhere than its key says', (key) => seal(key, encodeEntries(range(4, 5, 1)))],
    ['an empty segment', (key) => seal(key, encodeEntries([]))],
  ];
  for (const [what, valueFor] of damaged) {
    await withDir(async (dir) => {
      const s = await LevelStorage.open(dir);
      await s.save({ hardState: null, entries: range(1, 2, 1), snapshot: null });
      await s.save({ hardState: null, entries: range(3, 4, 1), snapshot: null });
      await s.close();
      // The first segment is read only by load, the last one also by open.
      await rawWrite(dir, [{ type: 'put', key: segmentKey(1), value: valueFor(segmentKey(1)) }]);
      const reopened = await LevelStorage.open(dir);
      await assert.rejects(loadWhole(reopened), corrupt, what);
      await reopened.close();
      await rawWrite(dir, [{ type: 'put', key: segmentKey(3), value: valueFor(segmentKey(3)) }]);
      await assert.rejects(LevelStorage.open(dir), corrupt, what);
    });
  }
  // A key not in the canonical lower-case form would give an index a second key.
  await withDir(async (dir) => {
    await (await LevelStorage.open(dir)).close();
    await rawWrite(dir, [{ type: 'put', key: 'g/000000000000000A', value: seal('g/000000000000000A', encodeEntries([entry(10, 1)])) }]);
    await assert.rejects(LevelStorage.open(dir), corrupt);
  });
});

test('a store in another layout is refused', { timeout: 10_000 }, async () => {
  const unsupported = (e: unknown) => e instanceof StorageError && e.code === 'UNSUPPORTED_FORMAT';
  await withDir(async (dir) => {
    // Layout 1 kept one value per entry and had no format key.
    await rawWrite(dir, [{ type: 'put', key: `e/${(1).toString(16).padStart(16, '0')}`, value: new Uint8Array([1, 1, 1, 0, 0, 0]) }]);
    await assert.rejects(LevelStorage.open(dir), unsupported);
  });
  await withDir(async (dir) => {
    await (await LevelStorage.open(dir)).close();
    await rawWrite(dir, [{ type: 'put', key: 'format', value: Uint8Array.of(5) }]);
    await assert.rejects(LevelStorage.open(dir), unsupported);
  });
});

async function flipByte(dir: string, key: string, at: (length: number) => number): Promise<void> {
  const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  const value = (await raw.get(key))!.slice();
  value[at(value.length)]! ^= 0x20;
  await raw.put(key, value, { sync: true });
  await raw.close();
}

/** Rejects with CORRUPT, naming the store and the key (what an operator needs to act). */
const corruptAt = (dir: string, key: string) => (e: unknown) =>
  e instanceof StorageError && e.code === 'CORRUPT' && e.message.includes(dir) && e.message.includes(JSON.stringify(key));

test('a flipped byte in a log segment, the hard state or a snapshot on disk is detected and named', { timeout: 20_000 }, async () => {
  const cases: Array<[string, string, (length: number) => number]> = [
    ['a log entry in the middle segment', segmentKey(3), (n) => Math.floor(n / 2)],
    ['the last segment (read by open)', segmentKey(5), (n) => n - 12],
    ['a segment checksum', segmentKey(3), (n) => n - 1],
    ['the hard state', 'h', () => 1],
    ['the first snapshot chunk', 'd/00000000/00000000', () => 3],
    ['the last snapshot chunk', 'd/00000000/00000001', (n) => n - 9],
    ['the snapshot record', 's', () => 2],
  ];
  for (const [what, key, at] of cases) {
    await withDir(async (dir) => {
      const s = await LevelStorage.open(dir, { chunkBytes: 8 });
      await s.save({ hardState: { term: 1, vote: 'a', commit: 2 }, entries: range(1, 2, 1), snapshot: null });
      await s.save({ hardState: null, entries: range(3, 4, 1), snapshot: null });
      await s.save({ hardState: null, entries: range(5, 6, 1), snapshot: null });
      await compact(s, snapshot(2, 1, 12));
      await s.close();
      const clean = await LevelStorage.open(dir, { chunkBytes: 8 });
      await loadWhole(clean);
      await clean.close();
      await flipByte(dir, key, at);
      let opened: LevelStorage | null = null;
      await assert.rejects(
        (async () => {
          opened = await LevelStorage.open(dir, { chunkBytes: 8 });
          await loadWhole(opened);
        })(),
        corruptAt(dir, key),
        what,
      );
      await (opened as LevelStorage | null)?.close();
    });
  }
});

test('a layout-2 store (no checksums) is migrated on open: same state, sealed afterwards', { timeout: 20_000 }, async () => {
  await withDir(async (dir) => {
    const snap = snapshot(2, 1, 12);
    // Snapshot metadata version 1 had no time and no digest: version 2's bytes without its last two
    // fields, time 0 and an empty digest (one byte each).
    const metaV2 = encodeSnapshotMeta({ ...snap.meta, time: 0, digest: new Uint8Array(0) });
    const metaV1 = Uint8Array.of(1, ...metaV2.subarray(1, -2));
    const record = new ByteWriter();
    record.u8(1);
    record.varBytes(metaV1);
    record.uint(snap.data.length);
    record.uint(2);
    await rawWrite(dir, [
      { type: 'put', key: 'format', value: Uint8Array.of(2) },
      { type: 'put', key: 'h', value: encodeHardState({ term: 3, vote: 'b', commit: 4 }) },
      { type: 'put', key: 's', value: record.finish() },
      { type: 'put', key: 'd/00000000', value: snap.data.subarray(0, 8) },
      { type: 'put', key: 'd/00000001', value: snap.data.subarray(8) },
      { type: 'put', key: segmentKey(1), value: encodeEntries(range(1, 4, 1)) },
      { type: 'put', key: segmentKey(5), value: encodeEntries(range(5, 6, 3)) },
    ]);
    const s = await LevelStorage.open(dir, { chunkBytes: 8 });
    assert.equal(s.migratedFrom, 2);
    const state = await loadWhole(s);
    assert.deepEqual(state.hardState, { term: 3, vote: 'b', commit: 4 });
    assert.deepEqual(state.snapshot, snap, 'the snapshot comes back with the digest of its data');
    assert.deepEqual(state.entries, [...range(3, 4, 1), ...range(5, 6, 3)]);
    await s.close();
    const again = await LevelStorage.open(dir, { chunkBytes: 8 });
    assert.equal(again.migratedFrom, null);
    assert.deepEqual(await loadWhole(again), state);
    await again.close();
    // Sealed now: a flipped byte is caught.
    await flipByte(dir, segmentKey(5), () => 4);
    await assert.rejects(LevelStorage.open(dir, { chunkBytes: 8 }), corruptAt(dir, segmentKey(5)));
  });
});

test('a truncation deletes the segments after it and the fold cuts the one it lands in', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 5, 1), snapshot: null });
    await s.save({ hardState: null, entries: range(6, 10, 1), snapshot: null });
    await s.save({ hardState: null, entries: range(11, 15, 1), snapshot: null });
    await s.save({ hardState: null, entries: range(8, 9, 2), snapshot: null });
    const expected = [...range(1, 7, 1), ...range(8, 9, 2)];
    assert.deepEqual((await loadWhole(s)).entries, expected);
    await s.close();
    assert.deepEqual((await rawKeys(dir)).filter((k) => k.startsWith('g/')), [segmentKey(1), segmentKey(6), segmentKey(8)]);
    const again = await LevelStorage.open(dir);
    assert.deepEqual((await loadWhole(again)).entries, expected);
    // Replacing from exactly a segment's first index overwrites that segment.
    await again.save({ hardState: null, entries: range(6, 6, 3), snapshot: null });
    assert.deepEqual((await loadWhole(again)).entries, [...range(1, 5, 1), entry(6, 3)]);
    await assert.rejects(again.save({ hardState: null, entries: [entry(8, 3)], snapshot: null }), (e: unknown) => e instanceof StorageError && e.code === 'INVALID_ARGUMENT');
    await again.close();
    assert.deepEqual((await rawKeys(dir)).filter((k) => k.startsWith('g/')), [segmentKey(1), segmentKey(6)]);
  });
});

test('a save carrying more than segmentBytes of data is split into several segments', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    // Entry data is `e<index>t1`: 4 bytes up to index 9, 5 after; a segment takes entries while
    // they fit in 20 bytes: 1..5 (20), 6..9 (16, entry 10 would make 21), 10..12.
    const s = await LevelStorage.open(dir, { segmentBytes: 20 });
    await s.save({ hardState: null, entries: range(1, 12, 1), snapshot: null });
    await s.close();
    assert.deepEqual((await rawKeys(dir)).filter((k) => k.startsWith('g/')), [1, 6, 10].map(segmentKey));
    const again = await LevelStorage.open(dir, { segmentBytes: 20 });
    assert.deepEqual((await loadWhole(again)).entries, range(1, 12, 1));
    await again.save({ hardState: null, entries: range(5, 6, 2), snapshot: null });
    assert.deepEqual((await loadWhole(again)).entries, [...range(1, 4, 1), ...range(5, 6, 2)]);
    await again.close();
    assert.deepEqual((await rawKeys(dir)).filter((k) => k.startsWith('g/')), [1, 5].map(segmentKey));
  });
});

// Random saves (appends and truncations, some split into several segments), leader snapshots,
// local compactions and reopenings, checked after each step against a plain in-memory log.
test('any sequence of saves, snapshots and reopenings loads back as the model log', { timeout: 60_000 }, async () => {
  const step = fc.record({
    kind: fc.constantFrom('append', 'append', 'append', 'truncate', 'truncate', 'install', 'compact', 'reopen'),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 6 }),
    withEntries: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), fc.integer({ min: 4, max: 40 }), async (steps, segmentBytes) => {
      await withDir(async (dir) => {
        const open = () => LevelStorage.open(dir, { segmentBytes, chunkBytes: 7 });
        let s = await open();
        let snap: Snapshot | null = null;
        let log: Entry[] = [];
        let term = 1;
        const snapIndex = () => snap?.meta.index ?? 0;
        const lastIndex = () => snapIndex() + log.length;
        try {
          for (const { kind, at, count, withEntries } of steps) {
            term++;
            if (kind === 'append' || kind === 'truncate') {
              // Appends continue the log; truncations start anywhere inside it.
              const first = kind === 'append' || log.length === 0 ? lastIndex() + 1 : snapIndex() + 1 + (at % log.length);
              const entries = range(first, first + count - 1, term);
              await s.save({ hardState: { term, vote: null, commit: 0 }, entries, snapshot: null });
              log = [...log.slice(0, first - snapIndex() - 1), ...entries];
            } else if (kind === 'install') {
              const installed = snapshot(snapIndex() + 1 + (at % (log.length + 3)), term, at % 20);
              const entries = withEntries ? range(installed.meta.index + 1, installed.meta.index + count, term) : [];
              await s.save({ hardState: null, entries, snapshot: await staged(s, installed) });
              snap = installed;
              log = entries;
            } else if (kind === 'compact') {
              const taken = snapshot(snapIndex() + 1 + (at % (log.length + 2)), term, at % 20);
              await compact(s, taken);
              log = log.slice(Math.min(log.length, taken.meta.index - snapIndex()));
              snap = taken;
            } else {
              await s.close();
              s = await open();
            }
            const loaded = await loadWhole(s);
            assert.deepEqual(loaded.snapshot, snap);
            assert.deepEqual(loaded.entries, log);
          }
          // The in-memory bookkeeping agrees with the disk: appending right after the last entry works.
          await s.save({ hardState: null, entries: [entry(lastIndex() + 1, term)], snapshot: null });
          assert.deepEqual(indexes((await loadWhole(s)).entries).at(-1), lastIndex() + 1);
        } finally {
          await s.close();
        }
      });
    }),
    { numRuns: 25 },
  );
});

test('operations after close fail with CLOSED', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.close();
    await s.close();
    await assert.rejects(s.save({ hardState: null, entries: [entry(1, 1)], snapshot: null }), (e: unknown) => e instanceof StorageError && e.code === 'CLOSED');
  });
});

// The child appends 5 entries per synced save and prints "ack <last index>" after each one resolves.
const CRASH_CHILD = `
const { LevelStorage } = await import(process.argv[1]);
const storage = await LevelStorage.open(process.argv[2]);
for (let last = 0; ; last += 5) {
  const entries = [1, 2, 3, 4, 5].map((i) => ({ term: 1, index: last + i, type: 0, time: last + i, data: new TextEncoder().encode('entry-' + (last + i)) }));
  await storage.save({ hardState: { term: 1, vote: 'n1', commit: last }, entries, snapshot: null });
  process.stdout.write('ack ' + (last + 5) + '\\n');
}
`;

test('every acknowledged save survives kill -9', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const modulePath = new URL('../../src/raft/level-storage.js', import.meta.url).href;
    const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', CRASH_CHILD, modulePath, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let acked = 0;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    for await (const line of createInterface({ input: child.stdout! })) {
      acked = Number(line.split(' ')[1]);
      if (acked >= 200) {
        child.kill('SIGKILL');
        break;
      }
    }
    await exited;
    assert.ok(acked >= 200, `child acknowledged only ${acked} entries`);
    const s = await LevelStorage.open(dir);
    const loaded = await loadWhole(s);
    await s.close();
    assert.ok(loaded.entries.length >= acked, `lost acknowledged entries: ${loaded.entries.length} < ${acked}`);
    loaded.entries.forEach((e, i) => {
      assert.equal(e.index, i + 1);
      assert.equal(new TextDecoder().decode(e.data), `entry-${i + 1}`);
    });
    assert.ok(loaded.hardState.commit >= acked - 5);
  });
});

test('readSnapshot: byte ranges of the current snapshot across chunks, refused once a newer one replaced it', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir, { chunkBytes: 8 });
    await s.save({ hardState: null, entries: range(1, 6, 1), snapshot: null });
    const first = snapshot(3, 1, 29);
    await compact(s, first);
    for (const [offset, length] of [[0, 29], [0, 8], [5, 3], [7, 2], [6, 19], [24, 5], [28, 1], [10, 0]] as const) {
      assert.deepEqual(await s.readSnapshot(3, offset, length), first.data.subarray(offset, offset + length), `${offset}+${length}`);
    }
    const invalid = (e: unknown) => e instanceof StorageError && e.code === 'INVALID_ARGUMENT';
    await assert.rejects(s.readSnapshot(3, 20, 10), invalid, 'past the end');
    await assert.rejects(s.readSnapshot(3, -1, 2), invalid);
    const stale = (e: unknown) => e instanceof StorageError && e.code === 'STALE_SNAPSHOT';
    await assert.rejects(s.readSnapshot(2, 0, 1), stale, 'not the stored one');
    // A read under way when a newer snapshot commits fails cleanly instead of mixing the two.
    const during = s.readSnapshot(3, 0, 29);
    const second = snapshot(5, 1, 17);
    await compact(s, second);
    await during.then(
      (data) => assert.deepEqual(data, first.data, 'read before the switch: the whole old image'),
      (e: unknown) => assert.ok(stale(e), String(e)),
    );
    await assert.rejects(s.readSnapshot(3, 0, 8), stale);
    assert.deepEqual(await s.readSnapshot(5, 3, 14), second.data.subarray(3, 17));
    await s.close();
    await assert.rejects(s.readSnapshot(5, 0, 1), (e: unknown) => e instanceof StorageError && e.code === 'CLOSED');
  });
});

test('readSnapshot: a snapshot stored with another chunk size is read by its own', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir, { chunkBytes: 8 });
    await s.save({ hardState: null, entries: range(1, 4, 1), snapshot: null });
    const snap = snapshot(4, 1, 37);
    await compact(s, snap);
    await s.close();
    const reopened = await LevelStorage.open(dir, { chunkBytes: 5 });
    const { snapshot: stored } = await reopened.load();
    assert.deepEqual(stored, { meta: snap.meta, size: 37 }, 'load hands out the metadata and size, not the data');
    for (const [offset, length] of [[0, 37], [9, 9], [31, 6]] as const) {
      assert.deepEqual(await reopened.readSnapshot(4, offset, length), snap.data.subarray(offset, offset + length));
    }
    await reopened.close();
  });
});

test('a crash in the middle of receiving a leader snapshot leaves the old snapshot; reopening removes the staged chunks', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir, { chunkBytes: 8, snapshotBatchBytes: 16 });
    await s.save({ hardState: { term: 1, vote: null, commit: 4 }, entries: range(1, 6, 1), snapshot: null });
    const old = snapshot(4, 1, 30);
    await compact(s, old);
    // Chunks of a newer snapshot arrive and are staged (batches of 16 bytes), but the process dies before the Ready's write.
    const writer = s.beginSnapshot();
    const incoming = snapshot(9, 2, 50);
    for (let at = 0; at < 40; at += 10) if (!writer.write(incoming.data.subarray(at, at + 10))) await writer.drained();
    await writer.end();
    await s.close();
    const staged = (await rawKeys(dir)).filter((k) => k.startsWith('d/'));
    assert.ok(staged.filter((k) => k.startsWith('d/00000001/')).length === 5, `the new generation's chunks were staged: ${staged.join(' ')}`);
    const reopened = await LevelStorage.open(dir, { chunkBytes: 8 });
    const loaded = await loadWhole(reopened);
    assert.deepEqual(loaded.snapshot, old, 'the old snapshot, whole');
    assert.deepEqual(indexes(loaded.entries), [5, 6], 'and its log');
    await reopened.close();
    const left = (await rawKeys(dir)).filter((k) => k.startsWith('d/'));
    assert.ok(left.length === 4 && left.every((k) => k.startsWith('d/00000000/')), `only the old generation remains: ${left.join(' ')}`);
  });
});

test('keepSnapshots: a replaced snapshot being sent stays readable until no send needs it; a restart drops it', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir, { chunkBytes: 8 });
    await s.save({ hardState: null, entries: range(1, 8, 1), snapshot: null });
    const first = snapshot(3, 1, 29);
    await compact(s, first);
    s.keepSnapshots([3]);
    const second = snapshot(5, 1, 17);
    await compact(s, second);
    assert.deepEqual(await s.readSnapshot(3, 5, 20), first.data.subarray(5, 25), 'the replaced snapshot, still being sent');
    assert.deepEqual(await s.readSnapshot(5, 0, 17), second.data);
    // Not kept: a third snapshot takes the second's chunks with it.
    await compact(s, snapshot(7, 1, 9));
    await assert.rejects(s.readSnapshot(5, 0, 1), (e: unknown) => e instanceof StorageError && e.code === 'STALE_SNAPSHOT');
    assert.deepEqual(await s.readSnapshot(3, 0, 8), first.data.subarray(0, 8));
    s.keepSnapshots([]);
    await assert.rejects(s.readSnapshot(3, 0, 1), (e: unknown) => e instanceof StorageError && e.code === 'STALE_SNAPSHOT');
    s.keepSnapshots([3]);
    await s.close();
    const generations = new Set((await rawKeys(dir)).filter((k) => k.startsWith('d/')).map((k) => k.slice(0, 11)));
    assert.deepEqual([...generations], ['d/00000002/'], 'only the live generation is left on disk');
  });
});
