import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Level } from 'level';
import { LevelStorage, StorageError } from '../../src/raft/level-storage.js';
import { encodeEntry } from '../../src/raft/codec.js';
import type { Entry, EntryType, Snapshot } from '../../src/raft/types.js';

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
  return { meta: { index, term, membership: { voters: ['a', 'b', 'c'], learners: ['d'] } }, data };
}

function indexes(entries: Entry[]): number[] {
  return entries.map((e) => e.index);
}

test('a fresh store loads defaults', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    assert.deepEqual(await s.load(), {
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
    const loaded = await reopened.load();
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
    assert.deepEqual((await s.load()).entries, [...range(1, 5, 1), ...range(6, 7, 3)]);
    await s.close();
    // The in-memory last index must have followed the truncation: appending 8 is legal, 10 is not.
    const again = await LevelStorage.open(dir);
    await again.save({ hardState: null, entries: [entry(8, 3)], snapshot: null });
    await assert.rejects(again.save({ hardState: null, entries: [entry(10, 3)], snapshot: null }), (e: unknown) => e instanceof StorageError && e.code === 'INVALID_ARGUMENT');
    assert.deepEqual(indexes((await again.load()).entries), [1, 2, 3, 4, 5, 6, 7, 8]);
    await again.close();
  });
});

test('bad saves are refused and change nothing', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: { term: 1, vote: null, commit: 0 }, entries: range(1, 3, 1), snapshot: null });
    const before = await s.load();
    const refused = (e: unknown) => e instanceof StorageError && e.code === 'INVALID_ARGUMENT';
    await assert.rejects(s.save({ hardState: { term: 9, vote: null, commit: 0 }, entries: [entry(5, 1)], snapshot: null }), refused);
    await assert.rejects(s.save({ hardState: { term: 9, vote: null, commit: 0 }, entries: [entry(4, 1), entry(6, 1)], snapshot: null }), refused);
    await assert.rejects(s.save({ hardState: null, entries: [entry(0, 1)], snapshot: null }), refused);
    assert.deepEqual(await s.load(), before);
    await s.close();
  });
});

test('compaction keeps the snapshot and the entries after it, across restart', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir, { chunkBytes: 100 });
    await s.save({ hardState: { term: 3, vote: 'a', commit: 8 }, entries: range(1, 10, 3), snapshot: null });
    const snap = snapshot(6, 3, 1050); // 11 chunks of 100 bytes
    await s.compact(snap);
    const loaded = await s.load();
    assert.deepEqual(loaded.snapshot, snap);
    assert.deepEqual(loaded.entries, range(7, 10, 3));
    await assert.rejects(s.compact(snapshot(5, 3, 10)), (e: unknown) => e instanceof StorageError && e.code === 'STALE_SNAPSHOT');
    await s.close();

    const reopened = await LevelStorage.open(dir, { chunkBytes: 100 });
    assert.deepEqual(await reopened.load(), { ...loaded });
    // A smaller later snapshot must not read back stale chunks of the bigger one.
    const smaller = snapshot(9, 3, 150);
    await reopened.compact(smaller);
    await reopened.close();
    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    const keys = await raw.keys().all();
    await raw.close();
    assert.deepEqual(keys, ['d/00000000', 'd/00000001', `e/${(10).toString(16).padStart(16, '0')}`, 'h', 's']);
    const last = await LevelStorage.open(dir, { chunkBytes: 100 });
    const final = await last.load();
    assert.deepEqual(final.snapshot, smaller);
    assert.deepEqual(final.entries, [entry(10, 3)]);
    await last.close();
  });
});

test('compaction past the last entry leaves an empty log that continues after the snapshot', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 4, 1), snapshot: null });
    await s.compact(snapshot(6, 2, 10));
    assert.deepEqual((await s.load()).entries, []);
    await s.save({ hardState: null, entries: [entry(7, 2)], snapshot: null });
    assert.deepEqual((await s.load()).entries, [entry(7, 2)]);
    await s.close();
  });
});

test('a snapshot received from the leader replaces the whole log', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 8, 2), snapshot: null });
    const installed = snapshot(5, 2, 20);
    await s.save({ hardState: { term: 3, vote: null, commit: 5 }, entries: [], snapshot: installed });
    let loaded = await s.load();
    assert.deepEqual(loaded.snapshot, installed);
    assert.deepEqual(loaded.entries, []);
    // Entries in the same save continue the log after the snapshot.
    const next = snapshot(7, 4, 20);
    await s.save({ hardState: { term: 4, vote: null, commit: 7 }, entries: [entry(8, 4)], snapshot: next });
    await assert.rejects(
      s.save({ hardState: null, entries: [entry(7, 4)], snapshot: null }),
      (e: unknown) => e instanceof StorageError && e.code === 'INVALID_ARGUMENT',
    );
    await assert.rejects(s.save({ hardState: null, entries: [], snapshot: snapshot(6, 4, 1) }), (e: unknown) => e instanceof StorageError && e.code === 'STALE_SNAPSHOT');
    await s.close();
    const reopened = await LevelStorage.open(dir);
    loaded = await reopened.load();
    assert.deepEqual(loaded.snapshot, next);
    assert.deepEqual(loaded.entries, [entry(8, 4)]);
    assert.deepEqual(loaded.hardState, { term: 4, vote: null, commit: 7 });
    await reopened.close();
  });
});

test('entries a crash left below the snapshot are ignored on load and removed on open', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 6, 1), snapshot: null });
    await s.compact(snapshot(4, 1, 10));
    await s.close();
    // Simulate a crash between the snapshot batch and the range delete.
    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await raw.put(`e/${(2).toString(16).padStart(16, '0')}`, encodeEntry(entry(2, 1)));
    await raw.close();
    const reopened = await LevelStorage.open(dir);
    assert.deepEqual(indexes((await reopened.load()).entries), [5, 6]);
    await reopened.close();
    const check = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    assert.deepEqual((await check.keys({ gte: 'e/', lt: 'e0' }).all()).length, 2);
    await check.close();
  });
});

test('a hole in the stored log is reported as corruption', { timeout: 10_000 }, async () => {
  await withDir(async (dir) => {
    const s = await LevelStorage.open(dir);
    await s.save({ hardState: null, entries: range(1, 4, 1), snapshot: null });
    await s.close();
    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await raw.del(`e/${(2).toString(16).padStart(16, '0')}`);
    await raw.close();
    const reopened = await LevelStorage.open(dir);
    await assert.rejects(reopened.load(), (e: unknown) => e instanceof StorageError && e.code === 'CORRUPT');
    await reopened.close();
  });
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
    const loaded = await s.load();
    await s.close();
    assert.ok(loaded.entries.length >= acked, `lost acknowledged entries: ${loaded.entries.length} < ${acked}`);
    loaded.entries.forEach((e, i) => {
      assert.equal(e.index, i + 1);
      assert.equal(new TextDecoder().decode(e.data), `entry-${i + 1}`);
    });
    assert.ok(loaded.hardState.commit >= acked - 5);
  });
});
