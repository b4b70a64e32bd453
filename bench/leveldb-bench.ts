// Raft log write path benchmark: what one synced `LevelStorage.save` costs on this disk, by
// entries per save (group commit size); how long compaction and load take; and the codec's
// throughput on AppendEntries messages (encode, and decode from a Node Buffer as the transport does).
//
//   node --import tsx bench/leveldb-bench.ts [--seconds 1] [--batch 1,16,256,4096] [--bytes 100]
//                                             [--codec-entries 256]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, encodeMessage } from '../src/raft/codec.js';
import { LevelStorage } from '../src/raft/level-storage.js';
import { snapshotDigest } from '../src/raft/digest.js';
import type { Entry, EntryType, Message } from '../src/raft/types.js';
import { arg } from './cli-args.js';

const seconds = Number(arg('seconds', '1'));
const batches = arg('batch', '1,16,256,4096').split(',').map(Number);
const bytes = Number(arg('bytes', '100'));
const codecEntries = Number(arg('codec-entries', '256'));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

// Fresh Entry objects each time, as the core makes them, so no per-object cache can flatter a figure.
function makeEntries(first: number, n: number, data: Uint8Array): Entry[] {
  return Array.from({ length: n }, (_, i) => ({ term: 1, index: first + i, type: 0 as EntryType, time: 1_700_000_000_000 + first + i, data }));
}

async function storageBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'leveldb-bench-'));
  try {
    const storage = await LevelStorage.open(dir);
    const data = new Uint8Array(bytes).fill(7);
    let last = 0;
    for (const batch of batches) {
      const latencies: number[] = [];
      const until = performance.now() + seconds * 1000;
      while (performance.now() < until) {
        const entries = makeEntries(last + 1, batch, data);
        const started = performance.now();
        await storage.save({ hardState: { term: 1, vote: 'a', commit: last }, entries, snapshot: null });
        latencies.push(performance.now() - started);
        last += batch;
      }
      const total = latencies.reduce((a, b) => a + b, 0);
      latencies.sort((a, b) => a - b);
      console.log(
        `save of ${String(batch).padStart(4)} x ${bytes} B: ${String(Math.round((latencies.length * 1000) / total)).padStart(6)} saves/s, ` +
          `${String(Math.round((latencies.length * batch * 1000) / total)).padStart(7)} entries/s, p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms`,
      );
    }
    let started = performance.now();
    await storage.load();
    console.log(`load of ${last} entries: ${(performance.now() - started).toFixed(1)} ms`);
    started = performance.now();
    const image = new Uint8Array(4 << 20);
    const writer = storage.beginSnapshot();
    writer.write(image);
    await writer.commit({ index: last, term: 1, membership: { voters: ['a'], learners: [] }, time: 0, digest: snapshotDigest(image) });
    console.log(`compact ${last} entries with a 4 MiB snapshot: ${(performance.now() - started).toFixed(1)} ms`);
    started = performance.now();
    await storage.load();
    console.log(`load after compaction: ${(performance.now() - started).toFixed(1)} ms`);
    await storage.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function codecBench(): void {
  const data = new Uint8Array(bytes).fill(7);
  const message = (first: number): Message => ({
    type: 'append',
    from: 'n1',
    to: 'n2',
    term: 1,
    prevLogIndex: first - 1,
    prevLogTerm: 1,
    commit: first - 1,
    entries: makeEntries(first, codecEntries, data),
  });
  const frameBytes = encodeMessage(message(1)).length;
  const run = (what: string, op: (i: number) => void) => {
    let n = 0;
    const started = performance.now();
    const until = started + seconds * 1000;
    while (performance.now() < until) for (let k = 0; k < 20; k++) op(n++);
    const secs = (performance.now() - started) / 1000;
    console.log(
      `codec ${what} append of ${codecEntries} x ${bytes} B (${frameBytes} B): ${String(Math.round(n / secs)).padStart(6)} msgs/s, ` +
        `${((n * frameBytes) / secs / 1e6).toFixed(0).padStart(4)} MB/s, ${Math.round((n * codecEntries) / secs)} entries/s`,
    );
  };
  const messages = Array.from({ length: 64 }, (_, i) => message(1 + i * codecEntries));
  // Message objects are reused across iterations here; the entries in them are too.
  run('encode', (i) => encodeMessage(messages[i % messages.length]!));
  const frames = messages.map((m) => Buffer.from(encodeMessage(m)));
  run('decode', (i) => decodeMessage(frames[i % frames.length]!));
}

codecBench();
await storageBench();
