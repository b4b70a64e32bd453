// Scale benchmark (issue #14): a real three-process cluster behind the real Zenoh router, filled
// with a deep backlog that is never consumed, and what that costs: memory per queued message, the
// longest event-loop pause of each node (snapshots are taken in the Raft loop), snapshot take and
// install times, leader changes, put throughput at the start and at depth, and how long a
// follower takes to be a caught-up follower again after kill -9, and after losing its store.
//
//   npm run bench:scale -- [--messages 300000] [--mailboxes 1000] [--body-bytes 100] [--in-flight 256] [--sessions 4] [--keep-files]
//
// --keep-files leaves the cluster's directory (configs, data, node logs) in place and prints it.
//
// The nodes run the production Raft timing (20 ms ticks, 300-600 ms election timeout) and
// snapshot settings (every 100,000 entries or 64 MiB, stretched by up to 20% per node and
// snapshot), so a 300k fill takes two or three snapshots per node.

import { readFileSync } from 'node:fs';
import { MailboxClientError, type ForgeMailboxClient } from '../src/bridge/client.js';
import { ProcessCluster, sleep } from '../src/verify/process-cluster.js';
import { closedLoop, fmt } from './load.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const messages = Number(arg('messages', '300000'));
const mailboxes = Number(arg('mailboxes', '1000'));
const bodyBytes = Number(arg('body-bytes', '100'));
const inFlight = Number(arg('in-flight', '256'));
const sessions = Number(arg('sessions', '4'));
const keepFiles = args.includes('--keep-files');
const BODY = new Uint8Array(bodyBytes).fill(0x61);
/**
 * A put that fails is sent again with the same id (puts are idempotent by id) until this long
 * after its first attempt: long enough to ride out the elections the benchmark is there to show.
 */
const RETRY_FOR_MS = 60_000;

interface NodeStatus {
  node: string;
  role: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
}

/** Resident set size of a process, in bytes (VmRSS of /proc/<pid>/status). */
function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

async function scrape(url: string, metric: string, field?: string): Promise<number> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  const labels = field === undefined ? '[^}]*' : `field="${field}"[^}]*`;
  const m = new RegExp(`^${metric}\\{${labels}\\} (\\S+)$`, 'm').exec(text);
  if (m === null) throw new Error(`${metric}${field === undefined ? '' : ` ${field}`} not in ${url}`);
  return Number(m[1]);
}

/** Where a node's memory is (the default process/nodejs metrics and forge_v8_heap_limit_bytes), and the Raft log entries it holds. */
interface NodeMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  heapLimit: number;
  external: number;
  logEntries: number;
}

async function nodeMemory(url: string): Promise<NodeMemory> {
  return {
    rss: await scrape(url, 'process_resident_memory_bytes'),
    heapUsed: await scrape(url, 'nodejs_heap_size_used_bytes'),
    heapTotal: await scrape(url, 'nodejs_heap_size_total_bytes'),
    heapLimit: await scrape(url, 'forge_v8_heap_limit_bytes'),
    external: await scrape(url, 'nodejs_external_memory_bytes'),
    logEntries: await scrape(url, 'forge_raft_log_entries'),
  };
}

/** "n1 812/1024 MiB" for each node: V8 heap used over RSS, or what failed to answer. */
async function memoryLine(cluster: ProcessCluster): Promise<string> {
  const parts: string[] = [];
  for (const id of cluster.ids) {
    try {
      const m = await nodeMemory(cluster.metricsUrl(id));
      parts.push(`${id} heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} rss ${mib(m.rss)} log ${m.logEntries}`);
    } catch (err) {
      parts.push(`${id} ${(err as Error).name}`);
    }
  }
  return parts.join('; ');
}

/** The node's log lines with message `msg`, as objects (pino JSON, one per line). */
function logEvents(cluster: ProcessCluster, id: string, msg: string): Record<string, number>[] {
  const out: Record<string, number>[] = [];
  for (const line of cluster.logs(id).split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const o = JSON.parse(line) as { msg?: string };
      if (o.msg === msg) out.push(o as unknown as Record<string, number>);
    } catch {
      // a line cut by kill -9
    }
  }
  return out;
}

async function statuses(client: ForgeMailboxClient): Promise<NodeStatus[]> {
  return (await client.nodeStatuses()) as NodeStatus[];
}

/** Polls until `id` reports itself a follower that has applied `index`; returns the ms it took from `t0`. */
async function caughtUp(client: ForgeMailboxClient, id: string, index: number, t0: number, timeoutMs: number): Promise<number> {
  while (performance.now() - t0 < timeoutMs) {
    const st = (await statuses(client).catch(() => [])).find((s) => s.node === id);
    if (st !== undefined && st.role === 'follower' && st.appliedIndex >= index) return performance.now() - t0;
    await sleep(50);
  }
  throw new Error(`${id} not caught up to ${index} within ${timeoutMs} ms`);
}

/** Runs `op` again while it fails (an election under way), for up to RETRY_FOR_MS. */
async function retried<T>(op: () => Promise<T>): Promise<T> {
  const first = performance.now();
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (performance.now() - first > RETRY_FOR_MS) throw err;
      await sleep(200);
    }
  }
}

const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;

async function main(): Promise<void> {
  console.log(`scale bench: ${messages} puts of ${bodyBytes}-byte bodies over ${mailboxes} mailboxes, ${inFlight} in flight over ${sessions} sessions, never consumed`);
  const cluster = await ProcessCluster.start({
    nodes: 3,
    logLevel: 'info',
    dirPrefix: 'forge-scale-',
    metrics: true,
    raft: { tickMs: 20, electionTicks: 15, requestTimeoutMs: 5000 },
    mailbox: { expireIntervalMs: 1000 },
  });
  const clients: ForgeMailboxClient[] = [];
  try {
    for (let i = 0; i < sessions; i++) clients.push(await cluster.client(10_000));
    const admin = clients[0]!;
    const leader = await cluster.waitForLeader(admin);
    const termBefore = Math.max(...(await statuses(admin)).map((s) => s.term));
    const rssEmpty = new Map(cluster.ids.map((id) => [id, rssBytes(cluster.pid(id)!)]));
    const pauseBefore = new Map<string, number>();
    // A node serves /metrics once it has started, which may come after the other two elected a leader.
    for (const id of cluster.ids) pauseBefore.set(id, await retried(() => scrape(cluster.metricsUrl(id), 'forge_event_loop_delay_max_seconds')));
    console.log(`cluster up, leader ${leader}, term ${termBefore}; RSS empty ${cluster.ids.map((id) => `${id} ${mib(rssEmpty.get(id)!)}`).join(', ')}`);

    // Fill. done[i] is when the i-th acknowledgment arrived, for the throughput at start and at depth.
    const done = new Float64Array(messages);
    const errors = new Map<string, number>();
    let next = 0;
    let acked = 0;
    const t0 = performance.now();
    // Every 5 s: progress, and each node's memory (scraped beside the fill, so a stall shows it).
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sleep(5000);
        if (!sampling) break;
        console.log(`  ${acked} acknowledged after ${fmt((performance.now() - t0) / 1000, 1)} s; ${await memoryLine(cluster)}`);
      }
    })();
    await closedLoop(inFlight, 3600, async (w) => {
      if (next >= messages) return false;
      const i = next++;
      const first = performance.now();
      for (;;) {
        try {
          await clients[w % clients.length]!.put(`scale-u${i % mailboxes}`, BODY, { id: `m${i}` });
          break;
        } catch (err) {
          const code = err instanceof MailboxClientError ? err.code : String(err);
          errors.set(code, (errors.get(code) ?? 0) + 1);
          if (performance.now() - first > RETRY_FOR_MS) throw err;
          await sleep(100);
        }
      }
      done[acked++] = performance.now();
      return true;
    }).finally(() => {
      sampling = false;
    });
    await sampler;
    const fillSeconds = (performance.now() - t0) / 1000;
    const tenth = Math.floor(messages / 10);
    const startRate = tenth / ((done[tenth - 1]! - t0) / 1000);
    const depthRate = tenth / ((done[messages - 1]! - done[messages - tenth - 1]!) / 1000);
    console.log(`filled ${messages} in ${fmt(fillSeconds, 1)} s (${fmt(messages / fillSeconds)}/s); first 10% at ${fmt(startRate)}/s, last 10% at ${fmt(depthRate)}/s`);
    console.log(`client errors retried: ${errors.size === 0 ? 'none' : [...errors].map(([c, n]) => `${c} ${n}`).join(', ')}`);

    await sleep(2000);
    const after = await statuses(admin);
    const leaderAfter = after.find((s) => s.role === 'leader')?.node ?? '?';
    const termAfter = Math.max(...after.map((s) => s.term));
    console.log(`leader ${leaderAfter}, term ${termBefore} -> ${termAfter} (${termAfter - termBefore} elections)`);
    const rows: string[][] = [['node', 'role', 'RSS', 'B/msg (RSS - empty)', 'longest loop pause', 'longest GC', 'snapshots taken (index: ms)', 'installed (index: ms)']];
    const memRows: string[][] = [['node', 'RSS', 'V8 heap used', 'heap total', 'heap limit', 'external', 'native (RSS - heap total - external)', 'log entries held']];
    for (const id of cluster.ids) {
      const m = await nodeMemory(cluster.metricsUrl(id));
      memRows.push([id, mib(m.rss), mib(m.heapUsed), mib(m.heapTotal), mib(m.heapLimit), mib(m.external), mib(m.rss - m.heapTotal - m.external), String(m.logEntries)]);
    }
    for (const id of cluster.ids) {
      const rss = rssBytes(cluster.pid(id)!);
      const pause = await scrape(cluster.metricsUrl(id), 'forge_event_loop_delay_max_seconds');
      const gc = await scrape(cluster.metricsUrl(id), 'forge_gc_pause_max_seconds');
      // Slices and the longest one, and the time the Raft loop waited for the commit, where the
      // driver logs them (it takes snapshots in slices, and stages them before the commit).
      const taken = logEvents(cluster, id, 'snapshot taken, log compacted').map(
        (e) =>
          `${e['index']}: ${e['ms']}${e['slices'] !== undefined ? ` (${e['slices']} slices, longest ${e['longestSliceMs']}` : ''}` +
          `${e['commitMs'] !== undefined ? `, commit ${e['commitMs']}` : ''}${e['slices'] !== undefined ? ')' : ''}`,
      );
      const installed = logEvents(cluster, id, 'installed snapshot from leader').map((e) => `${e['index']}: ${e['ms']}`);
      rows.push([
        id,
        after.find((s) => s.node === id)?.role ?? '?',
        mib(rss),
        fmt((rss - rssEmpty.get(id)!) / messages),
        `${fmt(pause * 1000)} ms (before fill ${fmt(pauseBefore.get(id)! * 1000)} ms)`,
        `${fmt(gc * 1000)} ms`,
        taken.join(', ') || '-',
        installed.join(', ') || '-',
      ]);
    }
    printTable(rows);
    console.log('memory per node (process_resident_memory_bytes, nodejs_heap_size_*; heap used includes garbage not yet collected):');
    printTable(memRows);

    // A follower killed with -9 and restarted on its data: load the snapshot, replay the tail, catch up.
    const follower = cluster.ids.find((id) => id !== leaderAfter)!;
    await cluster.signal(follower, 'SIGKILL');
    const target = Math.max(...(await statuses(admin)).map((s) => s.commitIndex));
    let t = performance.now();
    cluster.startNode(follower);
    const restartMs = await caughtUp(admin, follower, target, t, 120_000);
    const restartPause = await scrape(cluster.metricsUrl(follower), 'forge_event_loop_delay_max_seconds');
    // The last load logged is this restart's (the driver loads the stored image in slices).
    const load = logEvents(cluster, follower, 'restored snapshot from disk').at(-1);
    const loaded = load ? `; loaded its ${mib(load['bytes']!)} snapshot in ${load['ms']} ms, ${load['slices']} slices, longest ${load['longestSliceMs']} ms` : '';
    console.log(`restart (kill -9) of ${follower}: caught-up follower after ${fmt(restartMs)} ms (its longest loop pause ${fmt(restartPause * 1000)} ms), RSS ${mib(rssBytes(cluster.pid(follower)!))}${loaded}`);

    // The runbook for a lost store: remove-node, wipe, start as a joiner, add-node; it catches up from a snapshot.
    await cluster.signal(follower, 'SIGKILL');
    await retried(() => admin.removeNode(follower));
    t = performance.now();
    cluster.wipeAndRejoin(follower);
    await retried(() => admin.addNode(follower, '127.0.0.1', cluster.nodes.get(follower)!.port, { catchUpMs: 120_000 }));
    const wipedTarget = Math.max(...(await statuses(admin)).map((s) => s.commitIndex));
    const wipedMs = await caughtUp(admin, follower, wipedTarget, t, 120_000);
    const installed = logEvents(cluster, follower, 'installed snapshot from leader').map(
      (e) => `${e['index']}: ${e['ms']} ms, ${mib(e['bytes']!)}${e['slices'] !== undefined ? `, ${e['slices']} slices, longest ${e['longestSliceMs']} ms` : ''}`,
    );
    const wipedPause = await scrape(cluster.metricsUrl(follower), 'forge_event_loop_delay_max_seconds');
    console.log(`wiped ${follower} (remove-node, wipe, join, add-node): caught-up voter after ${fmt(wipedMs)} ms; installed ${installed.join('; ') || 'no snapshot'}; its longest loop pause ${fmt(wipedPause * 1000)} ms`);
    const final = await statuses(admin);
    console.log(`term at the end ${Math.max(...final.map((s) => s.term))}`);
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    await cluster.stop(keepFiles);
    if (keepFiles) console.log(`cluster files kept in ${cluster.dir}`);
  }
}

function printTable(lines: string[][]): void {
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

await main();
