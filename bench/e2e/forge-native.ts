// Forge driven by native clients in the end-to-end benchmark (issue #13: "most clients will be
// native"): `processes` Python processes (bench/e2e/forge_native_load.py, the shipped client
// clients/python/forge_mailbox.py over eclipse-zenoh's native protocol, through the router's TCP
// endpoint with the client user's login), each with its share of the requests in flight on threads.
// For each number in flight: acknowledged puts for the phase's time, spread over the users, then
// consumes draining them; the processes of a phase start together, once every one has opened its
// session. Latencies are merged over the processes; the rate is all requests over the longest
// process's time.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ForgeMailboxClient } from '../../src/bridge/client.js';
import { repoRoot, venvPython } from '../../src/repo-root.js';
import type { ProcessCluster } from '../../src/verify/process-cluster.js';
import { type Figures, percentile } from '../load.js';
import { stopChild } from './processes.js';
import { drainNote, type Row } from './rows.js';
import type { Workload } from './workload.js';

/** What the rows' client is called in the table. */
export const NATIVE_CLIENT = 'Python client';
const DRIVER = join(repoRoot, 'bench', 'e2e', 'forge_native_load.py');
/** Opening a session and logging in; then the phase itself, then writing out the latencies. */
const READY_TIMEOUT_MS = 30_000;
const PHASE_GRACE_MS = 60_000;

interface ProcessResult {
  elapsed: number;
  latencies: number[];
  per_user: Record<string, number>;
  empty: number;
}

/** The venv `npm run setup` makes (scripts/setup-python.sh), or why the native rows cannot run. */
export function nativeClientMissing(): string | null {
  return existsSync(venvPython) ? null : `no ${venvPython}: run \`npm run setup\` (the Python client's venv)`;
}

/** coalesce: whether each process's client sends its threads' puts and consumes together (forge_mailbox's Coalescing). */
export async function benchForgeNative(cluster: ProcessCluster, purger: ForgeMailboxClient, work: Workload, processes: number, coalesce: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  for (const inFlight of work.levels) {
    const n = Math.min(processes, inFlight, work.users.length);
    // Each process has its own users (at least one), so its consumes drain what its own puts left.
    const usersOf = Array.from({ length: n }, (_, p) => work.users.filter((_, u) => u % n === p));
    const threadsOf = (p: number) => Math.floor(inFlight / n) + (p < inFlight % n ? 1 : 0);
    const put = await phase(cluster, 'put', work, usersOf, threadsOf, usersOf.map(() => ({})), coalesce);
    rows.push({ system: 'forge', client: NATIVE_CLIENT, phase: 'put', inFlight, figures: put.figures, note: `${n} processes` });
    const consume = await phase(cluster, 'consume', work, usersOf, threadsOf, put.results.map((r) => r.per_user), coalesce);
    const empty = consume.results.reduce((a, r) => a + r.empty, 0);
    let left = 0;
    for (const user of work.users) left += await purger.purge(user);
    rows.push({
      system: 'forge',
      client: NATIVE_CLIENT,
      phase: 'consume',
      inFlight,
      figures: consume.figures,
      note: `${n} processes, ${drainNote(put.figures.count, consume.figures.count - empty, left, empty)}`,
    });
  }
  return rows;
}

async function phase(
  cluster: ProcessCluster,
  name: 'put' | 'consume',
  work: Workload,
  usersOf: string[][],
  threadsOf: (p: number) => number,
  pendingOf: Record<string, number>[],
  coalesce: boolean,
): Promise<{ figures: Figures; results: ProcessResult[] }> {
  const children = usersOf.map((users, p) =>
    spawn(
      venvPython,
      [
        DRIVER,
        '--config',
        cluster.router.clientConfig,
        '--phase',
        name,
        '--users',
        users.join(','),
        '--threads',
        String(threadsOf(p)),
        '--seconds',
        String(work.seconds),
        '--body-bytes',
        String(work.body.length),
        '--pending',
        JSON.stringify(pendingOf[p]),
        '--coalesce',
        coalesce ? 'on' : 'off',
      ],
      // The token goes in the environment, never in argv (ps shows argv to everyone).
      { env: { ...process.env, FORGE_TOKEN: cluster.adminToken }, stdio: ['pipe', 'pipe', 'pipe'] },
    ),
  );
  try {
    const outputs = children.map(collect);
    await Promise.all(outputs.map((o) => withTimeout(o.ready, READY_TIMEOUT_MS, 'a native client did not open its session')));
    for (const child of children) child.stdin!.write('go\n');
    const results = await Promise.all(outputs.map((o) => withTimeout(o.result, work.seconds * 1000 + PHASE_GRACE_MS, 'a native client did not finish its phase')));
    const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const elapsed = Math.max(...results.map((r) => r.elapsed));
    return {
      figures: { count: latencies.length, opsPerSec: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      results,
    };
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
  }
}

/** The child's "ready" line, then its result line; rejects with its stderr if it exits without one. */
function collect(child: ChildProcess): { ready: Promise<void>; result: Promise<ProcessResult> } {
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout! });
  let onReady: () => void = () => {};
  let onResult: (r: ProcessResult) => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    child.once('close', (code) => reject(new Error(`native client exited (${code}) before it was ready: ${stderr.trim()}`)));
  });
  const result = new Promise<ProcessResult>((resolve, reject) => {
    onResult = resolve;
    onFail = reject;
  });
  lines.on('line', (line) => {
    if (line === 'ready') onReady();
    else if (line.startsWith('{')) onResult(JSON.parse(line) as ProcessResult);
  });
  child.once('close', (code) => onFail(new Error(`native client exited (${code}) without a result: ${stderr.trim()}`)));
  // A phase that fails before the other is awaited must not leave an unhandled rejection behind.
  ready.catch(() => {});
  result.catch(() => {});
  return { ready, result };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
