// Restoring a snapshot does not stop the Raft loop's process: the driver feeds the image to the
// state machine a slice at a time, both when a follower installs the leader's snapshot and when
// a node loads its stored one at start. A state machine whose restore needs twice an election
// timeout of CPU neither costs its leader the leadership nor stops the cluster committing.

import { strict as assert } from 'node:assert';
import { afterEach, test } from 'node:test';
import { RaftDriver, SnapshotDigestError } from '../../src/raft/driver.js';
import { EventLoopGaps } from '../../src/verify/event-loop-gaps.js';
import { snapshotDigest } from '../../src/raft/digest.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import type { RestoreSink, SnapshotSource, StateMachine } from '../../src/raft/types.js';
import { WireError } from '../../src/wire/wire-error.js';
import { busy } from '../support/busy.js';
import { commitUntil, InProcessNetwork, testDriverOptions, waitFor } from '../support/in-process-raft.js';

/** Image bytes after the count, and the CPU each piece of them costs to restore: 0.6 s in all. */
const PADDING = 600 * 512;
const PIECE_BYTES = 512;
const PIECE_MS = 1;
/** Below the 600 ms of one whole restore, above what a starved machine adds to a slice (see the install test). */
const MAX_PAUSE_MS = 450;
const MAX_COMMIT_GAP_MS = 550;

/** Counts applies; its image (the count, then padding) is quick to take and slow to restore. */
class SlowRestoreMachine implements StateMachine<number> {
  count = 0;
  restores: Array<{ began: number; ended: number | null; aborted: boolean }> = [];
  /** Refuse the image at this piece, as a decoder refuses a damaged one. */
  failAtPiece = Infinity;
  apply(): number {
    return ++this.count;
  }
  snapshotSource(): SnapshotSource {
    const head = new TextEncoder().encode(`${this.count};`);
    let done = false;
    return {
      next: () => {
        if (done) return null;
        done = true;
        const image = new Uint8Array(head.length + PADDING);
        image.set(head);
        return image;
      },
      close: () => {},
    };
  }
  restoreSink(size: number): RestoreSink {
    const restore = { began: performance.now(), ended: null as number | null, aborted: false };
    this.restores.push(restore);
    const pieces: Uint8Array[] = [];
    return {
      write: (piece) => {
        busy(PIECE_MS);
        if (pieces.length === this.failAtPiece) throw new WireError('INVALID', 'a damaged image');
        pieces.push(piece);
      },
      finish: () => {
        const image = Buffer.concat(pieces);
        assert.equal(image.length, size);
        this.count = Number(image.subarray(0, image.indexOf(0x3b)).toString());
        restore.ended = performance.now();
      },
      abort: () => {
        restore.aborted = true;
      },
    };
  }
}

const net = new InProcessNetwork();
const ids = ['n1', 'n2', 'n3'];
let running: RaftDriver<number>[] = [];

afterEach(async () => {
  for (const d of running) await d.stop();
  running = [];
  net.cut.clear();
});

async function startNode(id: string, storage: MemoryStorage, machine: SlowRestoreMachine, onHalt?: (cause: Error) => void): Promise<RaftDriver<number>> {
  const opts = testDriverOptions(id, { initialMembership: { voters: ids, learners: [] }, storage, transport: net.transport(id), stateMachine: machine });
  // Production timing (20 ms ticks, 300-600 ms elections): a restore takes twice the timeout.
  const driver = new RaftDriver({
    ...opts,
    core: { ...opts.core, electionTick: 15, heartbeatTick: 2 },
    tickMs: 20,
    snapshotEntries: 100,
    restorePieceBytes: PIECE_BYTES,
    ...(onHalt ? { onHalt } : {}),
  });
  running.push(driver);
  await driver.start();
  return driver;
}

/** The longest stretch the event loop went without running a 5 ms timer, while `during` runs. */
async function watchEventLoop<T>(during: () => Promise<T>): Promise<{ result: T; longestPause: number }> {
  const gaps = new EventLoopGaps();
  let result: T;
  try {
    result = await during();
  } finally {
    gaps.stop();
  }
  return { result, longestPause: gaps.longestMs };
}

function longestGap(times: number[]): number {
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

test('a follower installing a snapshot that needs 0.6 s of work keeps its leader, which keeps committing', { timeout: 60_000 }, async (t) => {
  const machines = new Map(ids.map((id) => [id, new SlowRestoreMachine()]));
  // n3 is cut off from the start: the others compact their logs past everything it has.
  for (const other of ['n1', 'n2']) net.cut.add(`n3>${other}`).add(`${other}>n3`);
  for (const id of ids) await startNode(id, new MemoryStorage(), machines.get(id)!);
  const leader = await waitFor('a leader', () => running.find((d) => d.softState().role === 'leader'), 10_000);
  const term = leader.softState().term;
  await commitUntil(leader, 'a snapshot on the leader', () => leader.status().snapshotIndex > 0);
  const n3 = running.find((d) => d.status().id === 'n3')!;
  const m3 = machines.get('n3')!;

  net.cut.clear();
  const healedAt = performance.now();
  let sawInstalling = false;
  const { result: commits, longestPause } = await watchEventLoop(async () => {
    const commits = await commitUntil(leader, 'n3 installing a snapshot', () => {
      sawInstalling ||= n3.installingSnapshot();
      return m3.restores.some((r) => r.ended != null);
    });
    await n3.waitApplied(leader.status().commit);
    return commits;
  });
  assert.ok(sawInstalling, 'the install showed (what /readyz reads)');
  assert.equal(n3.installingSnapshot(), false);

  // Commits run fast until the install's slices compete for the loop, and the leader compacts every
  // 100 entries: it may have compacted past the image it sent by the time n3 has it, and send a
  // newer one, which replaces the install under way (CI saw it). Each replaced install stopped.
  const ended = m3.restores.findIndex((r) => r.ended != null);
  const restore = m3.restores[ended]!;
  assert.ok(m3.restores.slice(0, ended).every((r) => r.aborted), 'an install replaced by a newer image stopped');
  assert.ok(restore.ended! - restore.began >= PADDING / PIECE_BYTES * PIECE_MS, 'the work took what it costs');
  const during = commits.filter((t) => t > restore.began && t < restore.ended!).length;
  t.diagnostic(`install ${ended + 1} of ${m3.restores.length}: began ${(restore.began - healedAt).toFixed(0)} ms after the heal, took ${(restore.ended! - restore.began).toFixed(0)} ms, ${during} commits meanwhile, longest pause ${longestPause.toFixed(0)} ms, longest gap between commits ${longestGap(commits).toFixed(0)} ms`);
  assert.ok(during >= 10, `only ${during} commits while n3 installed the snapshot`);
  // The one-shot restore stalled every node of this process for 0.6 s. In slices the pauses are
  // 15-40 ms here with two benchmarks beside the test; the bounds (those of the snapshot take's
  // test) hold on a starved machine and still catch a whole restore in one turn.
  assert.ok(longestPause < MAX_PAUSE_MS, `event loop paused ${longestPause.toFixed(0)} ms`);
  assert.ok(longestGap(commits) < MAX_COMMIT_GAP_MS, `no commit for ${longestGap(commits).toFixed(0)} ms`);
  for (const d of running) assert.equal(d.softState().term, term, `no election happened (${d.status().id})`);
  assert.equal(n3.softState().leader, leader.status().id);
  assert.equal(m3.count, machines.get(leader.status().id)!.count, 'n3 holds what the leader holds');
});

test('a node restarting on a stored snapshot that needs 0.6 s of work to load leaves the event loop free meanwhile', { timeout: 60_000 }, async (t) => {
  const machines = new Map(ids.map((id) => [id, new SlowRestoreMachine()]));
  const storages = new Map(ids.map((id) => [id, new MemoryStorage()]));
  for (const id of ids) await startNode(id, storages.get(id)!, machines.get(id)!);
  let leader = await waitFor('a leader', () => running.find((d) => d.softState().role === 'leader'), 10_000);
  // A follower to restart, once it has stored a snapshot of its own.
  const victim = running.find((d) => d !== leader)!;
  const id = victim.status().id;
  await commitUntil(leader, 'a snapshot on the victim', () => victim.status().snapshotIndex > 0);
  const term = leader.softState().term;
  await victim.stop();
  running = running.filter((d) => d !== victim);

  const machine = new SlowRestoreMachine();
  let started = 0;
  let loaded = 0;
  const { result: commits, longestPause } = await watchEventLoop(async () => {
    started = performance.now();
    const restarting = startNode(id, new MemoryStorage(storages.get(id)!.disk), machine).then((d) => {
      loaded = performance.now();
      return d;
    });
    const commits = await commitUntil(leader, 'the restarted node loading its snapshot', () => loaded > 0);
    const restarted = await restarting;
    await restarted.waitApplied(leader.status().commit);
    return commits;
  });

  assert.equal(machine.restores.length, 1, 'the stored image was loaded, not sent again');
  assert.ok(loaded - started >= PADDING / PIECE_BYTES * PIECE_MS, 'the load took what it costs');
  t.diagnostic(`load: ${(loaded - started).toFixed(0)} ms, ${commits.length} commits meanwhile, longest pause ${longestPause.toFixed(0)} ms`);
  assert.ok(commits.length >= 10, `only ${commits.length} commits while the node loaded its snapshot`);
  assert.ok(longestPause < MAX_PAUSE_MS, `event loop paused ${longestPause.toFixed(0)} ms`);
  leader = running.find((d) => d.softState().role === 'leader')!;
  for (const d of running) assert.equal(d.softState().term, term, `no election happened (${d.status().id})`);
  assert.equal(machine.count, machines.get(leader.status().id)!.count, 'the restarted node caught up');
});

/** A cluster whose n3 was cut off while the others compacted their logs past everything it has. */
async function clusterWithLaggard(m3: SlowRestoreMachine, onHalt?: (cause: Error) => void) {
  for (const other of ['n1', 'n2']) net.cut.add(`n3>${other}`).add(`${other}>n3`);
  for (const id of ['n1', 'n2']) await startNode(id, new MemoryStorage(), new SlowRestoreMachine());
  const n3 = await startNode('n3', new MemoryStorage(), m3, onHalt);
  const leader = await waitFor('a leader', () => running.find((d) => d.softState().role === 'leader'), 10_000);
  await commitUntil(leader, 'a snapshot on the leader', () => leader.status().snapshotIndex > 0);
  return { leader, n3 };
}

test('an image refused half way through leaves the state as it was and halts the node, as a storage failure does', { timeout: 60_000 }, async () => {
  const m3 = new SlowRestoreMachine();
  m3.failAtPiece = 100;
  let halted: Error | null = null;
  const { leader, n3 } = await clusterWithLaggard(m3, (cause) => (halted = cause));
  const before = m3.count;
  const applied = n3.status().applied;
  net.cut.clear();
  const cause = await waitFor('n3 to halt', () => halted ?? undefined, 10_000);
  assert.ok(cause instanceof WireError && cause.message === 'a damaged image', String(cause));
  assert.equal(n3.halted(), cause);
  assert.equal(m3.restores.length, 1);
  assert.ok(m3.restores[0]!.aborted && m3.restores[0]!.ended === null, 'the image was dropped');
  assert.equal(m3.count, before, 'the live state is as it was');
  assert.equal(n3.status().applied, applied, 'nothing applied after the refused image');
  await leader.propose(new Uint8Array(1)); // the others go on
});

test('stopping a node while it installs a snapshot drops the image and leaves the state as it was', { timeout: 60_000 }, async () => {
  const m3 = new SlowRestoreMachine();
  const { n3 } = await clusterWithLaggard(m3);
  const before = m3.count;
  const applied = n3.status().applied;
  net.cut.clear();
  await waitFor('n3 to begin installing', () => (m3.restores.length > 0 ? true : undefined), 10_000);
  const t0 = performance.now();
  await n3.stop();
  running = running.filter((d) => d !== n3);
  assert.ok(performance.now() - t0 < 300, 'stop did not wait for the whole restore');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(m3.restores[0]!.aborted && m3.restores[0]!.ended === null, 'the image was dropped');
  assert.equal(m3.count, before);
  assert.equal(n3.status().applied, applied);
});

test('a stored image that does not match its digest is found as it is loaded, and the node refuses to start', { timeout: 60_000 }, async () => {
  const storage = new MemoryStorage();
  const machine = new SlowRestoreMachine();
  const image = new Uint8Array(PIECE_BYTES * 3 + 5).fill(7);
  image.set(new TextEncoder().encode('12;'));
  const meta = { index: 5, term: 1, membership: { voters: ids, learners: [] }, time: 0, digest: snapshotDigest(image) };
  const damaged = image.slice();
  damaged[PIECE_BYTES * 2]! ^= 1;
  storage.disk.snapshot = { meta, data: damaged };
  storage.disk.hardState = { term: 1, vote: null, commit: 5 };
  await assert.rejects(startNode('n1', storage, machine), (e: unknown) => e instanceof SnapshotDigestError && /index 5/.test(e.message));
  running = [];
  assert.equal(machine.count, 0, 'the state as it was');
  assert.ok(machine.restores.length === 1 && machine.restores[0]!.aborted, 'the sink was aborted before it finished');
  // The intact image loads.
  storage.disk.snapshot = { meta, data: image };
  const fresh = new SlowRestoreMachine();
  await startNode('n1', storage, fresh);
  assert.equal(fresh.count, 12);
});
