// A follower installs a leader's large snapshot without one buffer of the image anywhere: the
// leader reads each chunk it sends from its store, the follower stages each chunk it receives
// in its store as it arrives and restores by reading the stored image back a range at a time.
// Three drivers on LevelDB in one process; the image is 128 MiB. What is measured during the
// install: the process's array-buffer and heap growth (the one-buffer install held the whole
// image at least once), the longest event-loop pause, and commits going on.

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RaftDriver } from '../../src/raft/driver.js';
import { EventLoopGaps } from '../../src/verify/event-loop-gaps.js';
import { LevelStorage } from '../../src/raft/level-storage.js';
import type { RestoreSink, SnapshotSource, StateMachine } from '../../src/raft/types.js';
import { InProcessNetwork, testDriverOptions, waitFor } from '../support/in-process-raft.js';

const IMAGE_BYTES = 128 << 20;
const PIECE_BYTES = 1 << 20;
/** Entries between the leader's snapshots: one before the install; a slow install may span more. */
const SNAPSHOT_ENTRIES = 600;
/** The client's pace during the install: the claim is that commits go on, not how many. */
const PROPOSAL_GAP_MS = 10;

/** Counts applies; its image is the count, then IMAGE_BYTES of a pattern made a piece at a time (never held whole). */
class LargeImageMachine implements StateMachine<number> {
  count = 0;
  installs: Array<{ size: number; sha: string }> = [];
  apply(): number {
    return ++this.count;
  }
  snapshotSource(): SnapshotSource {
    const head = Buffer.from(`${String(this.count).padStart(12, '0')};`);
    let at = -1;
    return {
      next: () => {
        if (at < 0) {
          at = 0;
          return new Uint8Array(head);
        }
        if (at >= IMAGE_BYTES) return null;
        const piece = new Uint8Array(Math.min(PIECE_BYTES, IMAGE_BYTES - at)).fill((at / PIECE_BYTES) & 0xff);
        at += piece.length;
        return piece;
      },
      close: () => {},
    };
  }
  restoreSink(size: number): RestoreSink {
    const hash = createHash('sha256');
    let head = '';
    let bytes = 0;
    return {
      write: (piece) => {
        if (head.length < 13) head += Buffer.from(piece.subarray(0, 13 - head.length)).toString();
        hash.update(piece);
        bytes += piece.length;
      },
      finish: () => {
        assert.equal(bytes, size);
        this.count = Number(head.slice(0, 12));
        this.installs.push({ size, sha: hash.digest('hex') });
      },
      abort: () => {},
    };
  }
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('a follower installs a 128 MiB snapshot from storage to storage: no buffer of the image, the Raft loop and the event loop keep going', { timeout: 300_000 }, async (t) => {
  const net = new InProcessNetwork();
  const ids = ['n1', 'n2', 'n3'];
  const machines = new Map(ids.map((id) => [id, new LargeImageMachine()]));
  const running: RaftDriver<number>[] = [];
  // n3 is cut off from the start: the others compact their logs past everything it has.
  for (const other of ['n1', 'n2']) net.cut.add(`n3>${other}`).add(`${other}>n3`);
  try {
    for (const id of ids) {
      const dir = await mkdtemp(join(tmpdir(), `install-stream-${id}-`));
      dirs.push(dir);
      const storage = await LevelStorage.open(dir);
      const opts = testDriverOptions(id, { initialMembership: { voters: ids, learners: [] }, storage, transport: net.transport(id), stateMachine: machines.get(id)! });
      // Production timing (20 ms ticks, 300-600 ms elections) and chunks (1 MiB).
      const driver = new RaftDriver({ ...opts, core: { ...opts.core, electionTick: 15, heartbeatTick: 2, snapshotChunkBytes: 1 << 20 }, tickMs: 20, snapshotEntries: SNAPSHOT_ENTRIES });
      running.push(driver);
      await driver.start();
    }
    const currentLeader = () => waitFor('a leader', () => running.find((d) => d.softState().role === 'leader'), 10_000);
    // Taking the two 128 MiB images at once on a loaded machine may cost an election: retry as a client does.
    while (running.some((d) => d.status().id !== 'n3' && d.status().snapshotIndex === 0)) {
      const l = await currentLeader();
      await Promise.all(Array.from({ length: 50 }, () => l.propose(new Uint8Array(16)).catch(() => undefined)));
    }
    const leader = await currentLeader();
    const n3 = running.find((d) => d.status().id === 'n3')!;
    const m3 = machines.get('n3')!;
    // A collection now, so that the baseline holds no garbage of the takes.
    (globalThis as { gc?: () => void }).gc?.();
    const base = process.memoryUsage();
    let peakBuffers = 0;
    let peakHeap = 0;
    const gaps = new EventLoopGaps(() => {
      const m = process.memoryUsage();
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers - base.arrayBuffers);
      peakHeap = Math.max(peakHeap, m.heapUsed - base.heapUsed);
    });
    const began = performance.now();
    net.cut.clear();
    let commits = 0;
    const lost: string[] = [];
    let current = leader;
    try {
      // All three nodes share this process's event loop and LevelDB's thread pool, so on a loaded
      // machine the leader may miss a check-quorum window while 128 MiB are staged beside it: a
      // proposal it loses is retried on whoever leads next, as a client would, and counted.
      while (m3.installs.length === 0) {
        const ok = await current.propose(new Uint8Array(16)).then(() => true, (err: Error) => {
          lost.push(`${(performance.now() - began).toFixed(0)} ms: ${err.message}; terms ${running.map((d) => d.softState().term).join(',')}`);
          return false;
        });
        if (ok) commits++;
        else current = await currentLeader();
        if (performance.now() - began > 240_000) assert.fail('no install within 4 minutes');
        await sleep(PROPOSAL_GAP_MS);
      }
      current = await currentLeader();
      await n3.waitApplied(current.status().commit);
    } finally {
      gaps.stop();
    }
    const ms = performance.now() - began;
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    const figures = `install ${ms.toFixed(0)} ms, ${commits} commits meanwhile, ${lost.length} proposals lost to leadership changes; growth during it: array buffers ${mib(peakBuffers)} MiB, heap ${mib(peakHeap)} MiB; longest event-loop pause ${gaps.longestMs.toFixed(0)} ms`;
    t.diagnostic(figures);
    if (lost.length > 0) t.diagnostic(`proposals lost to a leadership change: ${lost.join('; ')}`);
    const leaderImage = machines.get(current.status().id)!;
    // Usually one install; more when the leader's next snapshots (the commits of the set-up
    // overshoot its threshold on a slow machine; an install of 11 s under load spans hundreds of
    // commits) cover entries n3 has not got. Each is finished, not restarted (the leader keeps a
    // snapshot being sent), so there is at most one more than the leader took meanwhile: a
    // restarted install would never end, or end after many more.
    const mostInstalls = 2 + Math.floor(commits / SNAPSHOT_ENTRIES);
    assert.ok(m3.installs.length >= 1 && m3.installs.length <= mostInstalls, `${m3.installs.length} installs (at most ${mostInstalls}); ${figures}`);
    for (const install of m3.installs) assert.equal(install.size, IMAGE_BYTES + 13);
    assert.equal(m3.count, leaderImage.count, 'n3 holds what the leader holds');
    // The one-buffer install held the whole image (128 MiB) at once, on both sides; garbage of
    // the 1 MiB chunks comes and goes with collections.
    // Under load (a benchmark beside it) chunk garbage piles up between collections: 68-74 MiB
    // seen; the whole image at once is 128 MiB and more.
    assert.ok(peakBuffers < IMAGE_BYTES * 0.8, figures);
    assert.ok(peakHeap < IMAGE_BYTES * 0.8, figures);
    assert.ok(commits >= 10, figures);
    assert.ok(gaps.longestMs < 500, figures); // the one-buffer install paused 558-765 ms on a quiet machine
  } finally {
    for (const d of running) await d.stop();
  }
});
