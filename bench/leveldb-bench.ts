// LevelStorage benchmark: what one synced `save` costs on this disk, by entries per save (group
// commit size), and how long a compaction of the log takes.
//
//   node --import tsx bench/leveldb-bench.ts [--seconds 1] [--batch 1,16,256] [--bytes 100]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelStorage } from '../src/raft/level-storage.js';
import type { Entry, EntryType } from '../src/raft/types.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const seconds = Number(arg('seconds', '1'));
const batches = arg('batch', '1,16,256').split(',').map(Number);
const bytes = Number(arg('bytes', '100'));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

const dir = mkdtempSync(join(tmpdir(), 'leveldb-bench-'));
try {
  const storage = await LevelStorage.open(dir);
  const data = new Uint8Array(bytes).fill(7);
  let last = 0;
  for (const batch of batches) {
    const latencies: number[] = [];
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      const entries: Entry[] = Array.from({ length: batch }, (_, i) => ({ term: 1, index: last + i + 1, type: 0 as EntryType, time: 0, data }));
      const started = performance.now();
      await storage.save({ hardState: { term: 1, vote: 'a', commit: last }, entries, snapshot: null });
      latencies.push(performance.now() - started);
      last += batch;
    }
    const total = latencies.reduce((a, b) => a + b, 0);
    latencies.sort((a, b) => a - b);
    console.log(
      `save of ${String(batch).padStart(4)} x ${bytes} B: ${Math.round((latencies.length * 1000) / total)} saves/s, ` +
        `${Math.round((latencies.length * batch * 1000) / total)} entries/s, p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms`,
    );
  }
  const started = performance.now();
  await storage.compact({ meta: { index: last, term: 1, membership: { voters: ['a'], learners: [] } }, data: new Uint8Array(4 << 20) });
  console.log(`compact ${last} entries with a 4 MiB snapshot: ${(performance.now() - started).toFixed(1)} ms`);
  const loadStarted = performance.now();
  await storage.load();
  console.log(`load after compaction: ${(performance.now() - loadStarted).toFixed(1)} ms`);
  await storage.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
