// Restoring a large state machine image: once in one go (as every restore did before restore
// sinks), then as the driver does it now, a slice at a time beside the Raft loop, both for a
// node loading its stored snapshot at start and for a follower installing its leader's. Prints
// the time of each and the longest pause of the event loop (monitorEventLoopDelay, and the
// longest gap of a 5 ms timer) while it runs. A script that prints, not a test:
//
//   npm run bench:restore -- [--messages 300000] [--mailboxes 1000] [--body-bytes 100]

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { encodeMailboxEntry, ClusterStateMachine } from '../src/node/cluster-state-machine.js';
import { MailboxStateMachine } from '../src/mailbox/replicated.js';
import { RaftDriver } from '../src/raft/driver.js';
import { snapshotDigest } from '../src/raft/digest.js';
import { MemoryDisk, MemoryStorage } from '../src/raft/memory-storage.js';
import type { Snapshot } from '../src/raft/types.js';
import type { LoggerPort } from '../src/logger-port.js';
import { EventLoopGaps } from '../src/verify/event-loop-gaps.js';
import { InProcessNetwork, testDriverOptions } from '../test/support/in-process-raft.js';

function intArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const MESSAGES = intArg('messages', 300_000);
const MAILBOXES = intArg('mailboxes', 1000);
const BODY_BYTES = intArg('body-bytes', 100);
const T0 = 1_700_000_000_000;
const options = { maxMessagesPerMailbox: 10_000_000, maxBytesPerMailbox: 4 * 1024 * 1024 * 1024, maxMailboxes: 1_000_000, dedupeMaxEntries: 1_000_000 };
const machine = () => new ClusterStateMachine(new MailboxStateMachine(options));

/** The image of a cluster state holding MESSAGES puts with ids, as the scale benchmark makes them. */
function image(): Uint8Array {
  const sm = machine();
  const body = new Uint8Array(BODY_BYTES).fill(0x61);
  for (let i = 0; i < MESSAGES; i++) {
    const cmd = { op: 'put' as const, user: `user-${i % MAILBOXES}`, body, id: `bench-${i}` };
    sm.apply(encodeMailboxEntry(cmd), { index: i + 1, term: 1, time: T0 + i });
  }
  return sm.snapshot();
}

/** Runs `work` while watching the event loop: its result, wall time and longest pauses. */
async function watched<T>(work: () => Promise<T> | T): Promise<{ value: T; ms: number; maxDelayMs: number; longestGapMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const gaps = new EventLoopGaps();
  h.enable();
  const t0 = performance.now();
  const value = await work();
  const ms = performance.now() - t0;
  // A turn of the loop after the work, so that a pause it caused is counted.
  await new Promise((r) => setTimeout(r, 10));
  h.disable();
  return { value, ms, maxDelayMs: h.max / 1e6, longestGapMs: gaps.stop() };
}

/** Collects the fields of the driver's log lines with the given message. */
function capture(msg: string, into: Record<string, unknown>[]): LoggerPort {
  return { debug() {}, warn() {}, error() {}, info: (obj, m) => void (m === msg && into.push(obj as Record<string, unknown>)) };
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

const data = image();
const ids = ['n1', 'n2', 'n3'];
const meta = { index: MESSAGES, term: 1, membership: { voters: ids, learners: [] }, digest: snapshotDigest(data), time: T0 + MESSAGES };
const snapshot: Snapshot = { meta, data };
console.log(`image: ${MESSAGES.toLocaleString('en-US')} messages of ${BODY_BYTES} B in ${MAILBOXES} mailboxes, ${(data.length / 1048576).toFixed(1)} MiB; load average ${loadavg()[0]!.toFixed(1)}`);

// Before: the whole image in one go.
const once = await watched(() => machine().restore(data));
console.log(`one-shot restore: ${fmt(once.ms)}, one block of the event loop (5 ms timer: longest gap ${fmt(once.longestGapMs)})`);

/** A disk holding the snapshot, as a node that compacted its log through it left it. */
function diskWithSnapshot(): MemoryDisk {
  const disk = new MemoryDisk();
  disk.snapshot = snapshot;
  disk.hardState = { term: 1, vote: null, commit: meta.index };
  return disk;
}

const net = new InProcessNetwork();
function driver(id: string, disk: MemoryDisk, sm: ClusterStateMachine, logger: LoggerPort): RaftDriver<unknown> {
  const founder = disk.snapshot !== null;
  const opts = testDriverOptions<unknown>(id, {
    initialMembership: founder ? { voters: ids, learners: [] } : { voters: [], learners: [] },
    storage: new MemoryStorage(disk),
    transport: net.transport(id),
    stateMachine: sm,
  });
  // Production timing: 20 ms ticks, 300-600 ms elections, 1 MiB snapshot chunks.
  return new RaftDriver({ ...opts, core: { ...opts.core, electionTick: 15, heartbeatTick: 2, snapshotChunkBytes: 1 << 20 }, tickMs: 20, logger });
}

// After: a restart, loading the stored image.
const loads: Record<string, unknown>[] = [];
const n1 = driver('n1', diskWithSnapshot(), machine(), capture('restored snapshot from disk', loads));
const load = await watched(() => n1.start());
console.log(`restart (sliced load at start): ${fmt(load.ms)}, ${loads[0]!.slices} slices, longest ${loads[0]!.longestSliceMs} ms; event loop longest pause ${fmt(load.maxDelayMs)} (5 ms timer: longest gap ${fmt(load.longestGapMs)})`);

// After: a follower with nothing installs the leader's image while the leader keeps committing.
const n2 = driver('n2', diskWithSnapshot(), machine(), capture('', []));
await n2.start();
const deadline = Date.now() + 30_000;
while (![n1, n2].some((d) => d.softState().role === 'leader')) {
  if (Date.now() > deadline) throw new Error('no leader');
  await new Promise((r) => setTimeout(r, 10));
}
const leader = [n1, n2].find((d) => d.softState().role === 'leader')!;
const term = leader.softState().term;
const installs: Record<string, unknown>[] = [];
const n3 = driver('n3', new MemoryDisk(), machine(), capture('installed snapshot from leader', installs));
let commits = 0;
const install = await watched(async () => {
  await n3.start();
  while (installs.length === 0) {
    await leader.propose(encodeMailboxEntry({ op: 'put', user: 'late', body: new Uint8Array(16) }));
    commits++;
  }
  await n3.waitApplied(leader.status().commit);
});
const inst = installs[0]!;
console.log(
  `install (a follower with nothing, from the leader, same process): ${fmt(install.ms)} from start to caught up; restore ${inst.ms} ms in ${inst.slices} slices, longest ${inst.longestSliceMs} ms, ` +
    `${inst.queued} entries committed meanwhile; event loop longest pause ${fmt(install.maxDelayMs)} (5 ms timer: longest gap ${fmt(install.longestGapMs)}); ` +
    `leader committed ${commits} entries meanwhile; term ${term} → ${Math.max(...[n1, n2, n3].map((d) => d.softState().term))}`,
);
for (const d of [n1, n2, n3]) await d.stop();
