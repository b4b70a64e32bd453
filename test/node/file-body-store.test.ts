// The file body store: bodies appended to segment files and read back by ref, a segment file
// deleted once every body in it is released, the directory wiped at open, generations for restores.
// And the mailbox on it: the same results and byte-identical snapshots as on the memory store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { MailboxResult } from '../../src/mailbox/commands.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { FileBodyStore } from '../../src/node/file-body-store.js';
import { Prng } from '../../src/sim/prng.js';
import { StorageError } from '../../src/raft/level-storage.js';
import { log, options } from '../support/mailbox-log.js';

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

test('a scan reads what the store reads: in append order, in any order, from the write buffer, across segments, large bodies, and bodies appended after a block was read', () => {
  const root = tempDir();
  try {
    const store = FileBodyStore.open(join(root, 'bodies'), { segmentBytes: 50_000, writeBufferBytes: 4096 });
    const held: Array<{ ref: number; body: Uint8Array }> = [];
    const add = (n: number) => {
      const b = body(n, held.length);
      held.push({ ref: store.append(b), body: b });
    };
    const check = (scan: ReturnType<FileBodyStore['scan']>, order: number[], what: string) => {
      for (const i of order) {
        const h = held[i]!;
        const out = new Uint8Array(h.body.length + 3);
        scan.readInto(h.ref, h.body.length, out, 3);
        assert.deepEqual(out.subarray(3), h.body, `${what}: body ${i}`);
      }
    };
    for (let i = 0; i < 2000; i++) add(i % 100 === 49 ? 20_000 : i % 50 === 49 ? 9000 : 1 + ((i * 37) % 200));
    const inOrder = held.map((_, i) => i);
    check(store.scan(), inOrder, 'append order');
    fc.assert(
      fc.property(fc.array(fc.nat(held.length - 1), { minLength: 1, maxLength: 300 }), (order) => check(store.scan(), order, 'random order')),
      { numRuns: 50 },
    );
    // One scan across appends: its blocks were read when the files ended earlier; what is
    // appended after (in the buffer, then flushed to the same segment) reads back as appended.
    const scan = store.scan();
    check(scan, inOrder.slice(-20), 'before the appends');
    const before = held.length;
    for (let i = 0; i < 300; i++) add(1 + ((i * 53) % 120));
    check(scan, [...inOrder.slice(-20), ...held.map((_, i) => i).slice(before)], 'after the appends');
    assert.ok(store.segmentFiles().length > 3, 'several segments');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a scan in append order reads a block per many bodies; in no order its blocks shrink to 1 KiB', () => {
  const root = tempDir();
  try {
    const store = FileBodyStore.open(join(root, 'bodies'), { segmentBytes: 64 << 20, writeBufferBytes: 1 << 20 });
    const refs: number[] = [];
    for (let i = 0; i < 30_000; i++) refs.push(store.append(body(100, i)));
    const out = new Uint8Array(100);
    // Three interleaved runs of the append order, as a snapshot over round-robin mailboxes reads them.
    const ordered = store.scan();
    for (let i = 0; i < 10_000; i++) for (const run of [0, 10_000, 20_000]) ordered.readInto(refs[run + i]!, 100, out, 0);
    assert.ok(ordered.fileReads <= 60, `${ordered.fileReads} reads for 30,000 bodies of 100 bytes`);
    assert.equal(ordered.readBytes, 64 * 1024);
    const shuffled = store.scan();
    const prng = new Prng(7);
    for (let i = 0; i < 5000; i++) {
      const at = prng.int(0, refs.length - 1);
      shuffled.readInto(refs[at]!, 100, out, 0);
      assert.deepEqual(out, body(100, at));
    }
    assert.equal(shuffled.readBytes, 1024, 'blocks that serve nothing more shrink to the smallest');
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

test('a hold (a snapshot stream under way) keeps released bodies readable and their segments on disk until it ends', () => {
  const root = tempDir();
  try {
    const store = FileBodyStore.open(join(root, 'bodies'), { segmentBytes: 100, writeBufferBytes: 64 });
    const refs = [0, 1, 2].map((i) => store.append(body(50, i)));
    const [first] = store.segmentFiles();
    const unhold = store.hold();
    const unholdAgain = store.hold();
    store.release(refs[0]!, 50);
    store.release(refs[1]!, 50);
    assert.ok(existsSync(first!), 'kept under the hold');
    assert.deepEqual(store.read(refs[0]!, 50), body(50, 0), 'and readable');
    assert.deepEqual(store.usage(), { liveBytes: 50, storedBytes: 150 });
    unhold();
    unhold();
    assert.ok(existsSync(first!), 'another hold is still on (and ending one twice counts once)');
    unholdAgain();
    assert.ok(!existsSync(first!), 'deleted when the last hold ends');
    assert.deepEqual(store.usage(), { liveBytes: 50, storedBytes: 50 });
    assert.throws(() => store.read(refs[0]!, 50), /holds no body/);
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

test('a file operation that fails is a storage failure (StorageError IO: a halt when applying, exit 74 at start)', () => {
  const root = tempDir();
  try {
    const notADir = join(root, 'file');
    writeFileSync(notADir, 'x');
    assert.throws(() => FileBodyStore.open(join(notADir, 'bodies')), (e: unknown) => e instanceof StorageError && e.code === 'IO' && /body store/.test(e.message));
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

/** A result as plain data, body bytes included. */
function plain(r: MailboxResult): unknown {
  return r.kind === 'message' ? { ...r, message: { ...r.message, body: Array.from(r.message.body) } } : r;
}

/** Tiny segments and buffer, so that a short log rolls, buffers and deletes segments all the time. */
const TINY = { segmentBytes: 24, writeBufferBytes: 8 };

test('a mailbox on the file store gives the results and snapshot bytes of one on the memory store, restores included', () => {
  const root = tempDir();
  let run = 0;
  try {
    fc.assert(
      fc.property(log, fc.nat(), (entries, cut) => {
        const dir = join(root, `run${run++}`);
        const onMemory = new MailboxStateMachine(options);
        const onFile = new MailboxStateMachine(options, FileBodyStore.open(dir, TINY));
        const split = cut % (entries.length + 1);
        for (const [i, e] of entries.entries()) {
          // Part-way, the file-backed replica restores the other's snapshot (a new generation).
          if (i === split) onFile.restore(onMemory.snapshot());
          assert.deepEqual(plain(onFile.apply(e.data, e.meta)), plain(onMemory.apply(e.data, e.meta)), `entry ${i}`);
        }
        assert.deepEqual(onFile.snapshot(), onMemory.snapshot());
        assert.deepEqual(onFile.mailbox.bodyUsage().liveBytes, recordBytesHeld(onMemory), 'live bytes are the records held');
        assert.deepEqual(onFile.mailbox.bodyUsage().liveBytes, onMemory.mailbox.bodyUsage().liveBytes);
        assert.deepEqual(readdirSync(dir).length, 1, 'the replaced generation is gone');
        onFile.mailbox.state.bodies.discard();
      }),
      { numRuns: 150 },
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a snapshot stream begun before messages are consumed still carries their bodies, on the file store', () => {
  const root = tempDir();
  try {
    const store = FileBodyStore.open(join(root, 'bodies'), TINY);
    const sm = new MailboxStateMachine({}, store);
    let index = 0;
    const apply = (cmd: Parameters<typeof encodeCommand>[0]) => sm.apply(encodeCommand(cmd), { index: ++index, term: 1, time: 1000 + index });
    const bodies = [0, 1, 2, 3, 4, 5].map((i) => body(20, i));
    for (const [i, b] of bodies.entries()) apply({ op: 'put', user: i % 2 === 0 ? 'ann' : 'bo', body: b });
    const expected = sm.snapshot();
    const source = sm.snapshotSource({ pieceBytes: 1 });
    const pieces: Uint8Array[] = [];
    while (pieces.length < 3) {
      const piece = source.next();
      if (piece!.length > 0) pieces.push(piece!);
    }
    const files = store.segmentFiles();
    // Every message consumed (and its body released) while the stream is still under way: the
    // stream holds the store, so their segments stay until it ends.
    for (let i = 0; i < 3; i++) for (const user of ['ann', 'bo']) assert.equal(apply({ op: 'consume', user }).kind, 'message');
    assert.equal(store.usage().liveBytes, 0);
    assert.deepEqual(store.segmentFiles(), files, 'no segment deleted under the stream');
    for (let piece = source.next(); piece !== null; piece = source.next()) pieces.push(piece);
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(expected), 'the image as it was when the stream began');
    assert.ok(store.segmentFiles().length <= 1, 'the segments of the consumed bodies are deleted once it ended');
    assert.ok(files.slice(0, -1).every((f) => !existsSync(f)));
    const copy = new MailboxStateMachine();
    copy.restore(Buffer.concat(pieces));
    const got: number[][] = [];
    for (let i = 0; i < 3; i++) {
      for (const user of ['ann', 'bo']) {
        const r = copy.apply(encodeCommand({ op: 'consume', user }), { index: i, term: 1, time: 5000 });
        assert.equal(r.kind, 'message');
        if (r.kind === 'message') got.push(Array.from(r.message.body));
      }
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5].map((i) => Array.from(bodies[i]!)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** Bytes of the records (client id and body) of every message the state holds, wherever it waits. */
function recordBytesHeld(m: MailboxStateMachine): number {
  let n = 0;
  for (const box of m.mailbox.state.users.values()) {
    for (const msg of box.queue) n += msg.recordLength;
    for (const msg of box.dead ?? []) n += msg.recordLength;
    for (const lease of box.leases?.values() ?? []) n += lease.msg.recordLength;
    for (const d of box.delayed ?? []) n += d.msg.recordLength;
  }
  return n;
}
