// Pauses of a snapshot take at scale, in one process without a cluster: a Mailbox filled with
// --messages messages over --users mailboxes (bodies in a FileBodyStore in a temp dir, each put
// with a client id, as the TypeScript client's are), then a take as the driver runs it: the
// stream begun in one step, then pulled in slices (4 ms or 64 pieces, as the driver's defaults)
// with --puts puts to random mailboxes applied between slices (copy before write). Prints the
// time to begin the take, the longest single next() and slice, the take's time, and the GC pauses
// (PerformanceObserver 'gc') during the fill and during the take; and before the take, the time of
// one expiry sweep with nothing due.
//   node --import tsx bench/take-bench.ts --users 1000000 --messages 3000000
//   node --import tsx bench/take-bench.ts --users 1000 --messages 1000000
//   node --import tsx bench/take-bench.ts --users 1000000 --messages 3000000 --order random
// A script that prints, not a test.

import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { Mailbox } from '../src/mailbox/mailbox.js';
import { FileBodyStore } from '../src/node/file-body-store.js';
import { Prng } from '../src/sim/prng.js';

const BODY_BYTES = 100;
const USERS = Number(flag('--users') ?? 1_000_000);
const MESSAGES = Number(flag('--messages') ?? 3_000_000);
/** Puts applied between two slices of the take. */
const PUTS = Number(flag('--puts') ?? 20);
/** Which mailbox each fill put goes to: round robin (the bodies of a mailbox far apart, in runs), or random (no order at all). */
const ORDER = flag('--order') ?? 'round-robin';
if (ORDER !== 'round-robin' && ORDER !== 'random') throw new Error(`--order is round-robin or random, not ${ORDER}`);
const SLICE_MS = 4;
const SLICE_PIECES = 64;
const T0 = 1_700_000_000_000;
const options = { maxMessagesPerMailbox: 10_000_000, maxBytesPerMailbox: 4 * 1024 * 1024 * 1024, maxMailboxes: 10_000_000 };

/** GC pauses seen since the last `gcSince()`: count, total and longest ms, by kind. */
let gcs: { kind: number; ms: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ kind: (e as unknown as { detail: { kind: number } }).detail.kind, ms: e.duration });
}).observe({ entryTypes: ['gc'] });

async function gcSince(): Promise<string> {
  // Entries are delivered asynchronously.
  await new Promise((r) => setTimeout(r, 10));
  const seen = gcs;
  gcs = [];
  const major = seen.filter((g) => g.kind === 2 || g.kind === 4);
  const longest = (xs: { ms: number }[]) => Math.max(0, ...xs.map((g) => g.ms)).toFixed(1);
  const total = (xs: { ms: number }[]) => xs.reduce((a, g) => a + g.ms, 0).toFixed(0);
  return `GC ${seen.length} pauses, total ${total(seen)} ms, longest ${longest(seen)} ms (major/incremental ${major.length}, longest ${longest(major)} ms)`;
}

const dir = mkdtempSync(join(tmpdir(), 'forge-take-bench-'));
try {
  const m = new Mailbox(options, FileBodyStore.open(join(dir, 'bodies')));
  let index = 0;
  const put = (user: number) => {
    index++;
    const body = new Uint8Array(BODY_BYTES).fill(index & 0xff);
    m.apply({ op: 'put', user: `user-${user}`, body, id: `put-${index}` }, { index, term: 1, time: T0 + index });
  };
  const prng = new Prng(12345);
  const random = () => prng.int(0, USERS - 1);
  const fill0 = performance.now();
  for (let i = 0; i < MESSAGES; i++) put(ORDER === 'random' ? random() : i % USERS);
  const fillMs = performance.now() - fill0;
  console.log(
    `node ${process.version}, load ${loadavg()[0]!.toFixed(2)}: ${MESSAGES.toLocaleString('en-US')} messages over ${USERS.toLocaleString('en-US')} mailboxes (${ORDER}) filled in ${fillMs.toFixed(0)} ms, ` +
      `heapUsed ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MiB; ${await gcSince()}`,
  );

  // The leader's expiry sweep, with nothing due (the default TTL is 24 h): what it costs every
  // second on every replica at this many mailboxes.
  const sweeps: string[] = [];
  for (let i = 0; i < 3; i++) {
    index++;
    const sweep0 = performance.now();
    m.apply({ op: 'expire' }, { index, term: 1, time: T0 + index });
    sweeps.push((performance.now() - sweep0).toFixed(2));
  }
  console.log(`expiry sweep with nothing due, three times: ${sweeps.join(', ')} ms; ${await gcSince()}`);

  const take0 = performance.now();
  const stream = m.snapshotStream();
  const beginMs = performance.now() - take0;
  let slices = 0;
  let longestNext = 0;
  let longestSlice = 0;
  let bytes = 0;
  let done = false;
  while (!done) {
    const s0 = performance.now();
    slices++;
    for (let n = 0; n < SLICE_PIECES && performance.now() - s0 < SLICE_MS; n++) {
      const p0 = performance.now();
      const piece = stream.next();
      longestNext = Math.max(longestNext, performance.now() - p0);
      if (piece === null) {
        done = true;
        break;
      }
      bytes += piece.length;
    }
    longestSlice = Math.max(longestSlice, performance.now() - s0);
    for (let i = 0; i < PUTS; i++) put(random());
    // Yield as the driver does, so that GC observations and timers run.
    await new Promise((r) => setImmediate(r));
  }
  const takeMs = performance.now() - take0;
  console.log(
    `take: begin ${beginMs.toFixed(1)} ms, ${(bytes / 1048576).toFixed(0)} MiB in ${takeMs.toFixed(0)} ms, ${slices} slices (${PUTS} puts between), ` +
      `longest slice ${longestSlice.toFixed(1)} ms, longest next() ${longestNext.toFixed(1)} ms; ${await gcSince()}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}
