// End-to-end benchmark: Forge Mailbox (a real three-process cluster behind the real Zenoh router,
// bench/e2e/forge.ts) beside its peers, each a three-node cluster on loopback started in the same
// run on the same machine, so that the ratios do not depend on the machine:
//
// - NATS JetStream R3 (bench/e2e/nats.ts; `apt-get install nats-server`);
// - RabbitMQ quorum queues (bench/e2e/rabbitmq.ts; `apt-get install rabbitmq-server`);
// - etcd, puts only (bench/e2e/etcd.ts; `apt-get install etcd-server`).
//
// Each system runs alone: its processes are stopped before the next one starts. A peer that is
// not installed is skipped, and the output says how to install it; this script installs nothing.
//
// For each number of requests in flight: acknowledged puts of 100-byte bodies for --seconds,
// spread over 64 users, then consumes draining what was put, for at most --seconds (what is left
// is purged and reported). Before them, each system warms up: the same two phases at the first
// number in flight for --warm-up seconds (0: none), not recorded (a fresh Forge cluster's first
// seconds run before its JIT has compiled the hot paths). Then batch consumes (issue #12): for each size N in --batches,
// --batch-fill messages are put and drained by --batch-concurrency workers: Forge
// `consume?max=N` (one Raft entry per batch), NATS a pull `fetch` of up to N, RabbitMQ a push
// consumer with prefetch N (`--batches 0` leaves them out). Batch figures are messages (not
// requests) per second. Forge alone also
// has idle polls and long polls: --parked consumers parked, each answered by a put, then the
// wake-up latency from a put to its parked consumer (p50, p99; no rate, so no bar in the plot).
//
// At the end: one table of every system's figures with Forge's throughput as a multiple of each
// peer's, the same as JSON (--json) and as an SVG bar chart (--plot).
//
//   npm run bench:e2e -- [--seconds 5] [--warm-up 10] [--concurrency 16,256] [--sessions 4] [--users 64] [--auth on|off] [--peer-tls on|off]
//                        [--peers nats,rabbitmq,etcd] [--no-peer] [--batches 16,256] [--batch-fill 20000] [--batch-concurrency 16]
//                        [--parked 2000] [--json bench-results/e2e-bench.json] [--plot bench-results/e2e-bench.svg]
//                        [--node-args "..."] [--native-processes 4] [--coalesce on|off]
//
// --auth off runs the nodes with token authorization disabled (auth.enabled=false), to measure what
// verifying and authorizing every request costs against the default (on). --peer-tls off runs the
// Raft peer links over the development-only shared secret (plain TCP) instead of mutual TLS (the
// default), to measure what TLS costs. --no-peer measures Forge alone. --parked 0 leaves the
// long poll phase out. --native-processes N drives the put and consume phases again through the
// Python client from N processes (bench/e2e/forge-native.ts; 0 leaves them out). --node-args passes options to Forge's node processes' `node`, after their
// own (e.g. "--cpu-prof --cpu-prof-dir=DIR": a CPU profile per node, written as they stop).
// --coalesce off makes the zenoh-ts and Python clients send every put and consume alone, as clients did
// before `@puts` and `@consumes` (by default those made together go out as one query:
// ForgeMailboxClient.put).

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { barChartSvg } from './e2e/bar-chart-svg.js';
import { compare } from './e2e/comparison.js';
import { comparisonTable, renderText } from './e2e/comparison-table.js';
import { benchEtcd, etcdMissing } from './e2e/etcd.js';
import { benchForge } from './e2e/forge.js';
import { benchNats, natsMissing } from './e2e/nats.js';
import { benchRabbitmq, rabbitmqMissing } from './e2e/rabbitmq.js';
import type { Row, Skipped, System } from './e2e/rows.js';
import type { Cleanups, Workload } from './e2e/workload.js';
import { arg, flag, list, wholeNumber } from './cli-args.js';
import { errorText } from '../src/error-text.js';

const work: Workload = {
  seconds: wholeNumber('seconds', arg('seconds', '5'), 1),
  warmUpSeconds: wholeNumber('warm-up', arg('warm-up', '10'), 0),
  levels: list(arg('concurrency', '16,256')).map((x) => wholeNumber('concurrency', x, 1)),
  users: Array.from({ length: wholeNumber('users', arg('users', '64'), 1) }, (_, i) => `bench-u${i}`),
  body: new Uint8Array(100).fill(0x61),
  // 0 leaves the batch phases out (a consume takes at most mailbox.maxBatch, 256 by default).
  batchSizes: arg('batches', '16,256') === '0' ? [] : list(arg('batches', '16,256')).map((x) => wholeNumber('batches', x, 1, 256)),
  batchFill: wholeNumber('batch-fill', arg('batch-fill', '20000'), 1),
  batchConcurrency: wholeNumber('batch-concurrency', arg('batch-concurrency', '16'), 1),
};
const forgeOptions = {
  sessions: wholeNumber('sessions', arg('sessions', '4'), 1),
  auth: arg('auth', 'on') !== 'off',
  peerTls: arg('peer-tls', 'on') !== 'off',
  coalesce: arg('coalesce', 'on') !== 'off',
  parked: wholeNumber('parked', arg('parked', '2000'), 0),
  nodeArgs: arg('node-args', '').split(' ').filter((a) => a !== ''),
  nativeProcesses: wholeNumber('native-processes', arg('native-processes', '4'), 0),
};
const jsonPath = arg('json', 'bench-results/e2e-bench.json');
const plotPath = arg('plot', 'bench-results/e2e-bench.svg');

interface Peer {
  system: Exclude<System, 'forge'>;
  missing: () => Promise<string | null>;
  bench: (work: Workload, cleanups: Cleanups) => Promise<Row[]>;
}
const PEERS: Peer[] = [
  { system: 'nats', missing: natsMissing, bench: benchNats },
  { system: 'rabbitmq', missing: rabbitmqMissing, bench: benchRabbitmq },
  { system: 'etcd', missing: etcdMissing, bench: benchEtcd },
];
const wanted = flag('no-peer') ? [] : list(arg('peers', PEERS.map((p) => p.system).join(',')));
for (const w of wanted) if (!PEERS.some((p) => p.system === w)) throw new Error(`--peers: unknown peer ${w} (known: ${PEERS.map((p) => p.system).join(', ')})`);

/** Runs and removes the registered cleanups, last registered first (connections before the processes they talk to). */
async function unwind(cleanups: Cleanups): Promise<void> {
  for (let c = cleanups.pop(); c !== undefined; c = cleanups.pop()) {
    await c().catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
  }
}

const load = () => loadavg().map((l) => Number(l.toFixed(2)));

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadAtStart = load();
  console.log(`e2e bench: 100-byte bodies, ${work.users.length} users, ${work.seconds} s per phase, in flight ${work.levels.join(', ')}, batches ${work.batchSizes.join(', ')}; load average ${loadAtStart.join(' ')}`);
  const cleanups: Cleanups = [];
  const onSignal = () => void unwind(cleanups).then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rows: Row[] = [];
  const skipped: Skipped[] = [];
  try {
    rows.push(...(await benchForge(work, forgeOptions, cleanups)));
    // Each system has the machine to itself: the one before is stopped first.
    await unwind(cleanups);
    for (const peer of PEERS) {
      const reason = !wanted.includes(peer.system) ? 'not asked for (--peers / --no-peer)' : await peer.missing();
      if (reason !== null) {
        skipped.push({ system: peer.system, reason });
        console.log(`${peer.system}: skipped, ${reason}`);
        continue;
      }
      try {
        rows.push(...(await peer.bench(work, cleanups)));
      } catch (e) {
        // One peer failing to start must not cost the others' figures.
        skipped.push({ system: peer.system, reason: `failed: ${errorText(e)}` });
        console.log(`${peer.system}: failed, ${String(e)}`);
      }
      await unwind(cleanups);
    }
  } finally {
    await unwind(cleanups);
  }
  const loadAtEnd = load();
  const comparison = compare(rows);
  console.log('');
  console.log(renderText(comparisonTable(comparison)));
  console.log('');
  for (const r of rows) if (r.note !== '') console.log(`${r.system} ${r.phase}${r.client ? `, ${r.client}` : ''}, ${r.inFlight} in flight: ${r.note}`);
  for (const s of skipped) console.log(`${s.system}: skipped, ${s.reason}`);
  console.log(`load average at start ${loadAtStart.join(' ')}, at end ${loadAtEnd.join(' ')} (${cpus().length} cores)`);
  const result = {
    startedAt,
    finishedAt: new Date().toISOString(),
    loadAverage: { start: loadAtStart, end: loadAtEnd },
    machine: { cores: cpus().length, node: process.version },
    workload: { ...work, users: work.users.length, body: work.body.length },
    forge: forgeOptions,
    rows,
    skipped,
  };
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
  const svg = barChartSvg({
    title: 'Forge Mailbox beside its peers, 3 nodes on loopback, 100-byte messages',
    subtitle: `${startedAt.slice(0, 16).replace('T', ' ')} UTC, load average ${loadAtStart[0]} → ${loadAtEnd[0]}, ${cpus().length} cores`,
    unit: 'msg/s',
    series: comparison.systems,
    groups: comparison.groups.map((g) => ({
      label: g.phase,
      sublabel: `${g.inFlight} in flight`,
      values: comparison.systems.map((s) => g.bySystem[s]?.figures.opsPerSec ?? null),
    })),
  });
  mkdirSync(dirname(plotPath), { recursive: true });
  writeFileSync(plotPath, svg);
  console.log(`wrote ${jsonPath} and ${plotPath}`);
}

await main();
