import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RaftCore } from '../../src/raft/core.js';
import { snapshotDigest, snapshotHasher } from '../../src/raft/digest.js';
import type { Message, SnapshotChunk } from '../../src/raft/types.js';
import { bytes, config, emptyState, flush, TestCluster, sent } from './core-harness.js';

/** Leader a with b, c; c misses `n` proposals, then a snapshots and compacts everything applied. */
function clusterWithLaggard(n: number, chunk: number): { c: TestCluster; image: Uint8Array } {
  const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: chunk });
  c.elect('a');
  c.isolate('c');
  for (let i = 0; i < n; i++) c.core('a').propose(bytes(`v${i}`));
  c.settle();
  const a = c.core('a');
  const image = bytes('state-machine-image-'.repeat(5));
  c.compact('a', a.status().applied, image);
  return { c, image };
}

test('§5 compaction: the snapshot carries index, term and membership, and the log drops its prefix', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  for (let i = 0; i < 5; i++) c.core('a').propose(bytes(`v${i}`));
  c.settle();
  const a = c.core('a');
  const x = snapshotDigest(bytes('x'));
  const snap = a.createSnapshot(4, 1, x);
  assert.deepEqual(snap, { meta: { index: 4, term: 1, membership: { voters: ['a', 'b', 'c'], learners: [] }, time: 0, digest: x }, size: 1 });
  assert.throws(() => a.createSnapshot(7, 1, x), RangeError, 'beyond applied');
  assert.throws(() => a.compact({ meta: { ...snap.meta, term: 9 }, size: 1 }), RangeError, 'wrong term');
  assert.throws(
    () => a.compact({ meta: { ...snap.meta, membership: { voters: ['a'], learners: [] }, time: 0 }, size: 1 }),
    RangeError,
    'wrong membership',
  );
  a.compact(snap);
  assert.equal(a.status().lastIndex, 6);
  assert.throws(() => a.createSnapshot(3, 1, x), RangeError, 'compacted away');
  // Replication of the tail still works for followers that are not behind the snapshot.
  a.propose(bytes('after'));
  c.settle();
  assert.equal(c.core('b').status().commit, 7);
});

test('§5 InstallSnapshot: a follower behind the log start receives the snapshot in chunks and becomes snapshot + nothing', () => {
  const { c, image } = clusterWithLaggard(5, 16);
  const chunks: SnapshotChunk[] = [];
  c.drop = (m: Message) => {
    if (m.type === 'snapshot') chunks.push(m);
    return false;
  };
  c.heal();
  c.tick('a');
  c.settle();
  assert.ok(chunks.length >= Math.ceil(image.length / 16), `${chunks.length} chunks`);
  assert.ok(chunks.every((ch) => ch.data.length <= 16));
  assert.ok(chunks.at(-1)!.done);
  const installed = c.readys.get('c')!.find((rd) => rd.snapshot !== null)!;
  assert.deepEqual(c.disks.get('c')!.snapshot!.data, image, 'its chunks were staged as they came and switched to');
  assert.equal(installed.snapshot!.size, image.length);
  assert.equal(installed.snapshot!.meta.index, 6);
  assert.deepEqual(installed.snapshot!.meta.membership.voters, ['a', 'b', 'c']);
  assert.deepEqual(installed.entries, [], 'its log becomes the snapshot and nothing else');
  assert.deepEqual(c.disks.get('c')!.entries, []);
  // Replication resumes after the snapshot.
  c.core('a').propose(bytes('after'));
  c.settle();
  assert.deepEqual(c.appliedData('c'), ['after']);
  assert.equal(c.core('c').status().commit, 7);
});

test('§5 InstallSnapshot: a lost chunk is sent again and the transfer completes', () => {
  const { c, image } = clusterWithLaggard(5, 16);
  let dropped = 0;
  c.drop = (m) => m.type === 'snapshot' && m.offset === 32 && dropped++ === 0;
  c.heal();
  for (let i = 0; i < 10; i++) c.tick('a');
  assert.equal(dropped, 2, 'the chunk at 32 went twice');
  assert.ok(c.readys.get('c')!.some((rd) => rd.snapshot !== null));
  assert.deepEqual(c.disks.get('c')!.snapshot?.data, image);
});

test('§5 InstallSnapshot: a follower that already committed past the snapshot just acknowledges it', () => {
  const core = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 1, vote: null, commit: 3 }, entries: [1, 2, 3].map((index) => ({ index, term: 1, type: 0, time: 0, data: new Uint8Array() })) });
  core.step({
    type: 'snapshot', from: 'a', to: 'c', term: 1, offset: 0, total: 1, data: new Uint8Array(1), done: true,
    meta: { index: 2, term: 1, membership: { voters: ['a', 'b', 'c'], learners: [] }, time: 0, digest: snapshotDigest(new Uint8Array(1)) },
  });
  const rd = flush(core);
  assert.equal(rd.snapshot, null);
  assert.deepEqual(sent(rd), [{ type: 'snapshotResp', from: 'c', to: 'a', term: 1, index: 2, offset: 1, success: true }]);
});

test('§5 InstallSnapshot (Figure 13 step 6): a follower whose log holds the snapshot\'s last entry keeps its later entries', () => {
  const entries = [1, 2, 3, 4, 5].map((index) => ({ index, term: 2, type: 0, time: 0, data: new Uint8Array() }));
  const core = new RaftCore(config('c'), { ...emptyState(['a', 'b', 'c']), hardState: { term: 2, vote: null, commit: 2 }, entries });
  core.step({
    type: 'snapshot', from: 'a', to: 'c', term: 2, offset: 0, total: 3, data: new Uint8Array(3), done: true,
    meta: { index: 4, term: 2, membership: { voters: ['a', 'b', 'c'], learners: [] }, time: 0, digest: snapshotDigest(new Uint8Array(3)) },
  });
  const rd = flush(core);
  assert.equal(rd.snapshot, null, 'nothing to install');
  assert.equal(core.status().lastIndex, 5, 'entry 5, possibly acknowledged already, survives');
  assert.equal(core.status().commit, 4);
  assert.deepEqual(sent(rd), [{ type: 'snapshotResp', from: 'c', to: 'a', term: 2, index: 4, offset: 3, success: true }]);
});

test('§5 InstallSnapshot: chunks that overrun the announced total are refused and change nothing', () => {
  const core = new RaftCore(config('c'), emptyState(['a', 'b', 'c']));
  const meta = { index: 5, term: 1, membership: { voters: ['a', 'b', 'c'], learners: [] }, time: 0, digest: snapshotDigest(new Uint8Array(4)) };
  core.step({ type: 'snapshot', from: 'a', to: 'c', term: 1, meta, offset: 0, total: 4, data: new Uint8Array(8), done: true });
  const rd = flush(core);
  assert.equal(rd.snapshot, null);
  assert.ok(sent(rd).some((m) => m.type === 'snapshotResp' && !m.success && m.offset === 0));
  assert.equal(core.status().lastIndex, 0);
});

for (const hashed of [false, true]) {
  const how = hashed ? 'hashed chunk by chunk as they arrive' : 'hashed whole';
  test(`InstallSnapshot: a snapshot whose data does not match the digest it carries is not installed, and is asked for again (${how})`, () => {
    const core = new RaftCore(config('c', hashed ? { snapshotHasher } : {}), emptyState(['a', 'b', 'c']));
    const image = bytes('mailbox state image');
    const meta = { index: 5, term: 1, membership: { voters: ['a', 'b', 'c'], learners: [] }, time: 0, digest: snapshotDigest(image) };
    const damaged = image.slice();
    damaged[3]! ^= 0x01;
    /** The image in two chunks. */
    const send = (data: Uint8Array) => {
      const half = data.length >> 1;
      for (const [offset, part] of [[0, data.subarray(0, half)], [half, data.subarray(half)]] as const) {
        core.step({ type: 'snapshot' as const, from: 'a', to: 'c', term: 1, meta, offset, total: data.length, data: part, done: offset === half });
      }
    };
    send(damaged);
    let rd = flush(core);
    assert.equal(rd.snapshot, null, 'nothing installed');
    assert.equal(core.status().lastIndex, 0);
    assert.deepEqual(sent(rd).at(-1), { type: 'snapshotResp', from: 'c', to: 'a', term: 1, index: 5, offset: 0, success: false }, 'the leader starts it over');
    send(image);
    rd = flush(core);
    assert.equal(rd.snapshot?.size, image.length, 'the intact copy is installed');
    assert.deepEqual(Buffer.concat(rd.receivedChunks.map((ch) => ch.data)), Buffer.from(image), 'its chunks handed out to be staged');
    assert.deepEqual(rd.receivedChunks.map((ch) => ch.ack?.offset ?? null), [image.length >> 1, null], 'the last chunk is acknowledged only after the write');
    assert.equal(core.status().lastIndex, 5);
  });
}

test('§5 a node restarted from a snapshot and its log tail resumes where it was', () => {
  const { c } = clusterWithLaggard(5, 1024);
  const a = c.core('a');
  const snap = a.createSnapshot(6, 3, snapshotDigest(bytes('img')));
  const restarted = new RaftCore(config('a'), { hardState: { term: 1, vote: 'a', commit: 6 }, snapshot: snap, entries: [], initialMembership: { voters: ['x'], learners: [] } });
  const st = restarted.status();
  assert.equal(st.lastIndex, 6);
  assert.equal(st.applied, 6);
  assert.deepEqual(st.membership.voters, ['a', 'b', 'c'], 'membership comes from the snapshot');
});

test('§5 InstallSnapshot from storage: the leader asks for one chunk at a time per follower, and holds no image', () => {
  const { c, image } = clusterWithLaggard(5, 16);
  c.heal();
  c.tick('a');
  const sends = c.readys.get('a')!.flatMap((rd) => rd.snapshotSends);
  assert.ok(sends.length >= Math.ceil(image.length / 16));
  // Each send waits for the answer to the one before: offsets go up one chunk at a time, once each.
  assert.deepEqual(sends.map((s) => s.offset), sends.map((_, i) => i * 16));
  for (const rd of c.readys.get('a')!) assert.ok(rd.snapshotSends.length <= 1, 'at most one chunk per Ready for the one laggard');
  assert.ok(sends.every((s) => s.length === Math.min(16, image.length - s.offset) && s.total === image.length));
  assert.deepEqual(c.disks.get('c')!.snapshot!.data, image);
});

for (const kept of [true, false]) {
  const what = kept
    ? 'the send goes on from the copy storage keeps, then the newer snapshot follows'
    : 'storage let the old one go: the send starts over with the newer snapshot, never a mix';
  test(`§5 InstallSnapshot from storage: a leader that compacts again mid-send: ${what}`, () => {
    const { c, image } = clusterWithLaggard(5, 16);
    c.keepSnapshotsBeingSent = kept;
    const a = c.core('a');
    // Committed with b while c is still cut off: the next snapshot will cover it.
    a.propose(bytes('more'));
    c.settle();
    const newer = bytes('newer-image-'.repeat(4));
    let chunksOfFirst = 0;
    c.drop = (m) => {
      if (m.type === 'snapshot' && m.meta.index === 6 && ++chunksOfFirst === 3) {
        // Two chunks of the first image are in: the leader stores a newer snapshot in its place.
        assert.deepEqual(a.snapshotsBeingSent(), [6]);
        c.compact('a', a.status().applied, newer);
      }
      return false;
    };
    c.heal();
    for (let i = 0; i < 10; i++) c.tick('a');
    const installs = c.installedSnapshots('c');
    if (kept) {
      assert.equal(chunksOfFirst, Math.ceil(image.length / 16), 'every chunk of the first image went');
      assert.deepEqual(installs, [6, 7], 'the first image installed whole, then the newer one the follower still lacked');
    } else {
      assert.equal(chunksOfFirst, 3, 'the first image stopped at its third chunk');
      assert.deepEqual(installs, [7], 'only the newer image was installed');
    }
    assert.deepEqual(c.disks.get('c')!.snapshot!.data, newer, 'the follower holds the newer image, not a mix');
    assert.deepEqual(a.snapshotsBeingSent(), []);
    a.propose(bytes('after'));
    c.settle();
    assert.equal(c.core('c').status().commit, a.status().commit);
    assert.deepEqual(c.appliedData('c'), ['after']);
  });
}

test('§5 InstallSnapshot from storage: a chunk whose read fails (snapshot replaced) is dropped and sent again', () => {
  const { c, image } = clusterWithLaggard(5, 16);
  // The disk's copy vanishes for a while: the harness, like the driver, drops chunks it cannot read.
  const disk = c.disks.get('a')!;
  const stored = disk.snapshot;
  disk.snapshot = null;
  c.heal();
  c.tick('a');
  assert.deepEqual(c.installedSnapshots('c'), []);
  disk.snapshot = stored;
  for (let i = 0; i < 10; i++) c.tick('a');
  assert.ok(c.readys.get('c')!.some((rd) => rd.snapshot !== null));
  assert.deepEqual(c.disks.get('c')!.snapshot?.data, image, 'resent after heartbeats went unanswered on the snapshot');
});

/**
 * As the mid-send test above, but the leader keeps the entries its newer snapshot covers while c
 * is being sent the older one (`catchUpLogBytes`): c installs that one and catches up from the log.
 */
function compactMidSend(catchUpLogBytes: number) {
  const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 16, catchUpLogBytes });
  c.elect('a');
  c.isolate('c');
  const a = c.core('a');
  for (let i = 0; i < 5; i++) a.propose(bytes(`v${i}`));
  c.settle();
  // Two rounds without a word from c: the leader keeps nothing for it, and compacts.
  c.tick('a', 20);
  c.compact('a', a.status().applied, bytes('state-machine-image-'.repeat(5)));
  assert.equal(a.compactedThrough(), 6);
  a.propose(bytes('more'));
  c.settle();
  let chunks = 0;
  const during: Array<{ compacted: number; latest: number }> = [];
  c.drop = (m) => {
    if (m.type === 'snapshot' && m.meta.index === 6 && ++chunks === 3) {
      c.compact('a', a.status().applied, bytes('newer-image-'.repeat(4)));
      during.push({ compacted: a.compactedThrough(), latest: a.latestSnapshotIndex() });
    }
    return false;
  };
  c.heal();
  for (let i = 0; i < 10; i++) c.tick('a');
  const installs = c.installedSnapshots('c');
  return { c, a, installs, during };
}

test('§5 catch-up log: entries a newer snapshot covers stay while a follower is sent an older one; it catches up from them', () => {
  const { c, a, installs, during } = compactMidSend(1024);
  assert.deepEqual(during, [{ compacted: 6, latest: 7 }], 'the newer snapshot is stored, the log kept from the older one');
  assert.deepEqual(installs, [6], 'one image, no newer one after it');
  assert.deepEqual(c.appliedData('c'), ['more'], 'entry 7 came from the log');
  assert.equal(a.compactedThrough(), 7, 'compacted once the follower had the entries');
  a.propose(bytes('after'));
  c.settle();
  assert.equal(c.core('c').status().commit, a.status().commit);
  assert.deepEqual(c.appliedData('c'), ['more', 'after']);
});

test('§5 catch-up log: entries beyond catchUpLogBytes are not kept, and the follower is sent the newer snapshot', () => {
  const { c, a, installs, during } = compactMidSend(8);
  assert.deepEqual(during, [{ compacted: 7, latest: 7 }]);
  assert.deepEqual(installs, [6, 7]);
  assert.deepEqual(c.appliedData('c'), []);
  assert.equal(a.compactedThrough(), 7);
});

/** Leader a keeps up to 1 KiB for followers catching up; c is cut off after the first proposal, and misses `missed` more. */
function keepingLeaderWithLaggard(missed: number): { c: TestCluster; a: RaftCore } {
  const c = new TestCluster(['a', 'b', 'c'], { catchUpLogBytes: 1024 });
  c.elect('a');
  const a = c.core('a');
  a.propose(bytes('v0'));
  c.settle();
  c.isolate('c');
  for (let i = 1; i <= missed; i++) a.propose(bytes(`v${i}`));
  c.settle();
  return { c, a };
}

test('§5 catch-up log: a follower just behind keeps the entries while heard from, and lets them go two quiet rounds later', () => {
  const { c, a } = keepingLeaderWithLaggard(4);
  c.compact('a', a.status().applied, bytes('image'));
  assert.equal(a.compactedThrough(), 0, 'kept: c was heard from this round and its log ends among them');
  assert.equal(a.latestSnapshotIndex(), 6);
  // Each round of an election timeout begins anew; c was heard from in the first.
  c.tick('a', 10);
  assert.equal(a.compactedThrough(), 0, 'c was heard from in the round before');
  c.tick('a', 10);
  assert.equal(a.compactedThrough(), 6, 'c went quiet for a whole round');
  c.heal();
  c.tick('a', 3);
  const installs = c.installedSnapshots('c');
  assert.deepEqual(installs, [6], 'c is sent the latest snapshot');
});

test('§5 catch-up log: a follower compacts at once, and a leader that steps down lets its kept entries go', () => {
  const { c, a } = keepingLeaderWithLaggard(1);
  c.compact('b', c.core('b').status().applied, bytes('b-image'));
  assert.equal(c.core('b').compactedThrough(), 3);
  c.compact('a', a.status().applied, bytes('a-image'));
  assert.equal(a.compactedThrough(), 0);
  a.step({ type: 'heartbeat', from: 'b', to: 'a', term: a.status().term + 1, commit: 0, round: 0 });
  assert.equal(a.status().role, 'follower');
  flush(a);
  assert.equal(a.compactedThrough(), 3);
});

test('RaftConfig.catchUpLogBytes must be a whole number', () => {
  assert.throws(() => new RaftCore(config('a', { catchUpLogBytes: -1 }), emptyState(['a'])), RangeError);
  assert.throws(() => new RaftCore(config('a', { catchUpLogBytes: 1.5 }), emptyState(['a'])), RangeError);
});

/** c cut off while a snapshots 5 entries away with a 100-byte image; chunks of 16 bytes, `inFlight` at a time. */
function laggardWithWindow(inFlight: number): { c: TestCluster; image: Uint8Array; chunks: SnapshotChunk[]; maxUnconfirmed: () => number } {
  const c = new TestCluster(['a', 'b', 'c'], { snapshotChunkBytes: 16, snapshotChunksInFlight: inFlight });
  c.elect('a');
  c.isolate('c');
  for (let i = 0; i < 5; i++) c.core('a').propose(bytes(`v${i}`));
  c.settle();
  const image = bytes('0123456789'.repeat(10));
  c.compact('a', c.core('a').status().applied, image);
  const chunks: SnapshotChunk[] = [];
  let sentEnd = 0;
  let confirmed = 0;
  let most = 0;
  const watch = c.drop;
  c.drop = (m) => {
    if (m.type === 'snapshot') {
      chunks.push(m);
      sentEnd = Math.max(sentEnd, m.offset + m.data.length);
    }
    if (m.type === 'snapshotResp' && m.success) confirmed = Math.max(confirmed, m.offset);
    most = Math.max(most, Math.ceil((sentEnd - confirmed) / 16));
    return watch(m);
  };
  return { c, image, chunks, maxUnconfirmed: () => most };
}

test('§5 InstallSnapshot: up to snapshotChunksInFlight chunks go unconfirmed, each once, in order', () => {
  const { c, image, chunks, maxUnconfirmed } = laggardWithWindow(3);
  c.heal();
  c.tick('a');
  assert.deepEqual(chunks.map((ch) => ch.offset), [0, 16, 32, 48, 64, 80, 96]);
  assert.equal(c.readys.get('a')!.find((rd) => rd.snapshotSends.length > 0)!.snapshotSends.length, 3, 'the first three leave together');
  assert.equal(maxUnconfirmed(), 3);
  assert.deepEqual(c.disks.get('c')!.snapshot!.data, image);
  assert.equal(c.core('c').status().commit, c.core('a').status().commit);
});

test('§5 InstallSnapshot: a chunk lost within the window is sent again with those after it once the follower is found idle, not once per answer', () => {
  const { c, image, chunks } = laggardWithWindow(3);
  const base = c.drop;
  let lost = 0;
  c.drop = (m) => base(m) || (m.type === 'snapshot' && m.offset === 32 && lost++ === 0);
  c.heal();
  c.tick('a');
  assert.equal(c.disks.get('c')!.snapshot, null, 'stuck at the gap: the answers to the chunks after it do not resend');
  const before = chunks.length;
  // Half an election timeout of heartbeat answers (5 here) with no word on the snapshot.
  c.tick('a', 4);
  assert.equal(chunks.length, before, 'not yet');
  c.tick('a', 2);
  const offsets = chunks.map((ch) => ch.offset);
  assert.deepEqual(offsets.slice(before, before + 3), [32, 48, 64], 'sent again from the gap, a window of them');
  for (const offset of [0, 16, 80, 96]) assert.equal(offsets.filter((o) => o === offset).length, 1, `chunk ${offset} went once`);
  assert.deepEqual(c.disks.get('c')!.snapshot!.data, image);
});

test('§5 InstallSnapshot: a follower that lost the chunks it confirmed (a restart) is sent the image from the start', () => {
  const { c, image, chunks } = laggardWithWindow(2);
  const base = c.drop;
  let restarted = false;
  c.drop = (m) => {
    if (m.type === 'snapshot' && m.offset === 48 && !restarted) {
      restarted = true;
      c.restart('c');
    }
    return base(m);
  };
  c.heal();
  c.tick('a', 4);
  const offsets = chunks.map((ch) => ch.offset);
  assert.ok(offsets.lastIndexOf(0) > 0, `chunk 0 again after the restart: ${offsets.join(',')}`);
  assert.deepEqual(c.disks.get('c')!.snapshot!.data, image);
  assert.equal(c.core('c').status().commit, c.core('a').status().commit);
});

test('RaftConfig.snapshotChunksInFlight must be a positive integer', () => {
  assert.throws(() => new RaftCore(config('a', { snapshotChunksInFlight: 0 }), emptyState(['a'])), RangeError);
});
