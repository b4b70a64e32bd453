// The file body store: bodies appended to segment files and read back by ref, a segment file
// deleted once every body in it is released, the directory wiped at open, generations for restores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBodyStore } from '../../src/node/file-body-store.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'forge-bodies-'));
}

/** A body of `n` bytes whose content depends on `seed`. */
function body(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

test('bodies come back byte for byte, across segment boundaries and through the write buffer', () => {
  const root = tempDir();
  try {
    const store = FileBodyStore.open(join(root, 'bodies'), { segmentBytes: 1000, writeBufferBytes: 256 });
    const held: Array<{ ref: number; body: Uint8Array }> = [];
    for (let i = 0; i < 60; i++) {
      const b = body(i * 13 % 300, i);
      held.push({ ref: store.append(b), body: b });
      // Right after the append (still buffered) and later (in the file).
      assert.deepEqual(store.read(held[i]!.ref, b.length), b, `body ${i} just appended`);
    }
    for (const [i, h] of held.entries()) assert.deepEqual(store.read(h.ref, h.body.length), h.body, `body ${i}`);
    assert.ok(store.segmentFiles().length > 5, 'several segments');
    const live = held.reduce((n, h) => n + h.body.length, 0);
    assert.deepEqual(store.usage(), { liveBytes: live, storedBytes: live });
    for (const f of store.segmentFiles().slice(0, -1)) assert.ok(statSync(f).size <= 1000, `${f} within the segment size`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a segment file is deleted once every body in it is released, not before; the active one stays', () => {
  const root = tempDir();
  try {
    const store = FileBodyStore.open(join(root, 'bodies'), { segmentBytes: 100, writeBufferBytes: 64 });
    const refs = [0, 1, 2, 3, 4].map((i) => store.append(body(50, i)));
    const [first, second, third] = store.segmentFiles();
    assert.equal(store.segmentFiles().length, 3, 'two bodies per segment');
    store.release(refs[0]!, 50);
    assert.ok(existsSync(first!), 'one body of the first segment still live');
    store.release(refs[1]!, 50);
    assert.ok(!existsSync(first!), 'the fully released segment is gone');
    assert.deepEqual(store.read(refs[2]!, 50), body(50, 2), 'the others are untouched');
    store.release(refs[4]!, 50);
    assert.ok(existsSync(third!), 'the segment being appended to stays while empty');
    assert.deepEqual(store.usage(), { liveBytes: 100, storedBytes: 150 });
    store.release(refs[2]!, 50);
    store.release(refs[3]!, 50);
    assert.ok(!existsSync(second!));
    store.append(body(80, 9));
    assert.ok(!existsSync(third!), 'an empty segment is deleted when the next one starts');
    assert.deepEqual(store.usage(), { liveBytes: 80, storedBytes: 80 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('open wipes what an earlier run left in the directory', () => {
  const root = tempDir();
  try {
    const dir = join(root, 'bodies');
    mkdirSync(join(dir, 'g0'), { recursive: true });
    writeFileSync(join(dir, 'g0', '00000000.seg'), 'stale');
    writeFileSync(join(dir, 'stray'), 'stale');
    const store = FileBodyStore.open(dir);
    assert.deepEqual(readdirSync(dir), ['g0']);
    assert.deepEqual(readdirSync(join(dir, 'g0')), []);
    const ref = store.append(body(10, 1));
    assert.deepEqual(store.read(ref, 10), body(10, 1));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('8 MiB bodies (larger than the write buffer) are written and read whole', () => {
  const root = tempDir();
  try {
    const store = FileBodyStore.open(join(root, 'bodies'), { segmentBytes: 4 * 1024 * 1024 });
    const small = store.append(body(100, 1));
    const big = body(8 * 1024 * 1024, 2);
    const ref = store.append(big);
    const after = store.append(body(100, 3));
    assert.deepEqual(store.read(ref, big.length), big);
    assert.deepEqual(store.read(small, 100), body(100, 1));
    assert.deepEqual(store.read(after, 100), body(100, 3));
    assert.equal(store.segmentFiles().length, 3, 'a body larger than a segment gets one of its own');
    store.release(ref, big.length);
    assert.equal(store.segmentFiles().length, 2, 'and its file goes with it');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a ref the store does not hold is a clear error, for reads and releases', () => {
  const root = tempDir();
  try {
    const store = FileBodyStore.open(join(root, 'bodies'), { segmentBytes: 100, writeBufferBytes: 64 });
    const a = store.append(body(60, 1));
    const b = store.append(body(60, 2));
    const noBody = /holds no body of \d+ bytes at ref/;
    assert.throws(() => store.read(b + 60, 1), noBody, 'past the end');
    assert.throws(() => store.read(a, 61), noBody, 'running past its segment');
    assert.throws(() => store.read(-1, 5), noBody);
    assert.throws(() => store.read(0.5, 5), noBody);
    store.release(a, 60);
    assert.throws(() => store.read(a, 60), noBody, 'a deleted segment');
    assert.throws(() => store.release(a, 60), noBody, 'released twice');
    assert.throws(() => store.release(b, 61), noBody);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a fresh generation is independent; discard removes its directory', () => {
  const root = tempDir();
  try {
    const live = FileBodyStore.open(join(root, 'bodies'));
    const ref = live.append(body(10, 1));
    const next = live.fresh();
    assert.notEqual(next.dir, live.dir);
    const other = next.append(body(20, 2));
    assert.deepEqual(next.read(other, 20), body(20, 2));
    assert.deepEqual(live.read(ref, 10), body(10, 1));
    live.discard();
    assert.ok(!existsSync(live.dir));
    assert.throws(() => live.read(ref, 10), /discarded/);
    assert.deepEqual(next.read(other, 20), body(20, 2));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
