// Raft benchmark: an in-process three-node cluster, each node on its own real LevelDB on disk
// (every Ready synced before its messages go out), messages through the binary codec.
// Prints committed proposals/s and commit latency (p50/p99) for 1, 16 and 256 concurrent
// proposers with 100-byte commands, and the same figures for the physical floor measured in this
// run: synced LevelDB batches of the same size on one node (no replication).
//
//   node --import tsx bench/raft-bench.ts [--seconds 5] [--concurrency 1,16,256]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { decodeMessage, encodeMessage } from '../src/raft/codec.js';
import { RaftDriver } from '../src/raft/driver.js';
import { LevelStorage } from '../src/raft/level-storage.js';
import { MAX_LEARNERS, MAX_VOTERS } from '../src/raft/membership.js';
import type { Message } from '../src/raft/types.js';
import { CounterMachine } from '../src/sim/counter-machine.js';
import { arg, flag } from './cli-args.js';

const seconds = Number(arg('seconds', '5'));
const levels = arg('concurrency', '1,16,256').split(',').map(Number);
// --no-peer skips the LevelDB floor (e.g. to profile Raft alone).
const withPeer = !flag('no-peer');


function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Figures {
  opsPerSec: number;
  p50: number;
  p99: number;
}

async function closedLoop(concurrency: number, op: () => Promise<unknown>): Promise<Figures> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await op();
      latencies.push(performance.now() - t0);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { opsPerSec: done / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function startCluster(dir: string): Promise<RaftDriver<number>[]> {
  const ids = ['n1', 'n2', 'n3'];
  const handlers = new Map<string, (m: Message) => void>();
  const storages = await Promise.all(ids.map((id) => LevelStorage.open(join(dir, id))));
  const drivers = ids.map(
    (id, i) =>
      new RaftDriver({
        core: {
          id,
          electionTick: 15,
          heartbeatTick: 2,
          preVote: true,
          checkQuorum: true,
          maxInflightMsgs: 64,
          maxEntriesPerMsg: 4096,
          maxBytesPerMsg: 4 * 1024 * 1024,
          maxUncommittedBytes: 64 * 1024 * 1024,
          snapshotChunkBytes: 1024 * 1024,
          maxVoters: MAX_VOTERS,
          maxLearners: MAX_LEARNERS,
        },
        initialMembership: { voters: ids, learners: [] },
        storage: storages[i]!,
        transport: {
          // Through the codec and a macrotask hop, as over a socket.
          send: (m) => {
            const bytes = encodeMessage(m);
            setImmediate(() => handlers.get(m.to)?.(decodeMessage(bytes)));
          },
          onMessage: (h) => handlers.set(id, h),
        },
        stateMachine: new CounterMachine(),
        tickMs: 20,
        requestTimeoutMs: 30_000,
        snapshotEntries: 200_000,
      }),
  );
  await Promise.all(drivers.map((d) => d.start()));
  return drivers;
}

async function leaderOf(drivers: RaftDriver<number>[]): Promise<RaftDriver<number>> {
  for (;;) {
    const l = drivers.find((d) => d.softState().role === 'leader');
    if (l) return l;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function levelFloor(dir: string, concurrency: number): Promise<Figures> {
  // The peer: a single LevelDB doing the same group commit (one synced batch for all commands
  // waiting), no consensus at all. Raft cannot beat this; the ratio shows what consensus costs.
  const db = new Level<string, Uint8Array>(join(dir, `floor-${concurrency}`), { valueEncoding: 'view' });
  await db.open();
  let key = 0;
  let waiting: Array<{ k: string; resolve: () => void }> = [];
  let writing = false;
  const flush = async () => {
    writing = true;
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      await db.batch(batch.map((w) => ({ type: 'put' as const, key: w.k, value: payload })), { sync: true });
      for (const w of batch) w.resolve();
    }
    writing = false;
  };
  const figures = await closedLoop(concurrency, () =>
    new Promise<void>((resolve) => {
      waiting.push({ k: String(key++).padStart(12, '0'), resolve });
      if (!writing) void flush();
    }),
  );
  await db.close();
  return figures;
}

const payload = new Uint8Array(100).fill(7);

const dir = mkdtempSync(join(tmpdir(), 'forge-raft-bench-'));
try {
  const drivers = await startCluster(dir);
  const fmt = (f: Figures) => `${Math.round(f.opsPerSec).toString().padStart(7)} ops/s  p50 ${f.p50.toFixed(2).padStart(7)} ms  p99 ${f.p99.toFixed(2).padStart(7)} ms`;
  console.log(`raft-bench: 3 nodes in-process, LevelDB synced per Ready, 100-byte commands, ${seconds}s per level`);
  for (const c of levels) {
    const leader = await leaderOf(drivers);
    const raft = await closedLoop(c, () => leader.propose(payload));
    const line = `concurrency ${String(c).padStart(4)}  raft: ${fmt(raft)}`;
    if (!withPeer) {
      console.log(line);
      continue;
    }
    const floor = await levelFloor(dir, c);
    console.log(`${line}   |   single LevelDB group commit (peer): ${fmt(floor)}   ratio ${(raft.opsPerSec / floor.opsPerSec).toFixed(2)}`);
  }
  await Promise.all(drivers.map((d) => d.stop()));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
