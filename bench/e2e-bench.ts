// End-to-end benchmark: a real three-process Forge Mailbox cluster (LevelDB, Raft over TCP) behind
// the real Zenoh router, driven through ForgeMailboxClient, beside a three-node NATS JetStream
// cluster (R3 file stream, work queue, `nats` npm client) started in the same run on the same
// machine, so the ratio does not depend on the machine.
//
// For each number of requests in flight: acknowledged puts (publishes with JetStream acks) of
// 100-byte bodies for --seconds, spread over 64 users (subjects), then consumes draining what was
// put, for at most --seconds (what is left is purged and reported). Forge consumes are plain
// takes (committed through Raft, one request each); NATS consumes come from a pull consumer
// pulling up to as many messages ahead as are in flight, each acked with ackAck.
//
// The peer needs `nats-server` on PATH; on Debian: `apt-get update && apt-get install -y
// nats-server`. Without it the peer is skipped (said so in the output); this script installs nothing.
//
// Then batch consumes (issue #12): for each size in --batches, --batch-fill messages are put with
// batch puts (256 a request) and drained by --batch-concurrency workers, each taking up to that
// many per request: Forge `consume?max=N` (one Raft entry per batch), NATS a pull `fetch` of up to
// N messages, each acked with ackAck. Figures are messages (not requests) per second; latencies
// are per batch request.
//
//   npm run bench:e2e -- [--seconds 5] [--concurrency 16,256] [--sessions 4] [--users 64] [--auth on|off] [--peer-tls on|off] [--no-peer]
//                        [--batches 16,256] [--batch-fill 20000] [--batch-concurrency 16]
//
// --auth off runs the nodes with token authorization disabled (auth.enabled=false), to measure what
// verifying and authorizing every request costs against the default (on). --peer-tls off runs the
// Raft peer links over the development-only shared secret (plain TCP) instead of mutual TLS (the
// default), to measure what TLS costs. --no-peer skips the NATS JetStream comparison.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, RetentionPolicy, StorageType, type NatsConnection } from 'nats';
import type { ForgeMailboxClient } from '../src/bridge/client.js';
import { freePort } from '../src/router/zenoh-router.js';
import { ProcessCluster, sleep } from '../src/verify/process-cluster.js';
import { closedLoop, fmt, type Figures } from './load.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const seconds = Number(arg('seconds', '5'));
const levels = arg('concurrency', '16,256').split(',').map(Number);
// One Zenoh session may serialize its requests; several give the cluster real concurrency.
const sessions = Number(arg('sessions', '4'));
const userCount = Number(arg('users', '64'));
const auth = arg('auth', 'on') !== 'off';
const peerTls = arg('peer-tls', 'on') !== 'off';
const skipPeer = args.includes('--no-peer');
const BODY = new Uint8Array(100).fill(0x61);
const batchSizes = arg('batches', '16,256').split(',').filter((x) => x !== '').map(Number);
const batchFill = Number(arg('batch-fill', '20000'));
const batchConcurrency = Number(arg('batch-concurrency', '16'));
/** Messages per batch put while filling (the bodies stay far under maxBodyBytes). */
const FILL_BATCH = 256;

interface Row {
  system: 'forge' | 'nats';
  /** put, consume, or `consume max=<N>` (a batch consume; figures in messages per second). */
  phase: string;
  inFlight: number;
  figures: Figures;
  note: string;
}

const users = Array.from({ length: userCount }, (_, i) => `bench-u${i}`);

async function benchForge(cleanups: (() => Promise<void>)[]): Promise<Row[]> {
  const cluster = await ProcessCluster.start({ nodes: 3, logLevel: 'warn', dirPrefix: 'forge-bench-', auth, peerTls });
  cleanups.push(() => cluster.stop());
  const clients: ForgeMailboxClient[] = [];
  for (let i = 0; i < sessions; i++) {
    const client = await cluster.client(10_000);
    clients.push(client);
    cleanups.push(() => client.close());
  }
  const leader = await cluster.waitForLeader(clients[0]!);
  console.log(`forge: 3 nodes up, leader ${leader}, ${sessions} Zenoh session(s), authorization ${auth ? 'on' : 'OFF'}, peer links ${peerTls ? 'mutual TLS' : 'plain TCP (shared secret)'}`);
  const rows: Row[] = [];
  let run = 0;
  for (const inFlight of levels) {
    run++;
    // Messages put and not yet taken, per user.
    const pending = new Array<number>(users.length).fill(0);
    let seq = 0;
    const put = await closedLoop(inFlight, seconds, async (w) => {
      const u = w % users.length;
      await clients[w % clients.length]!.put(users[u]!, BODY, { id: `r${run}-${seq++}` });
      pending[u]!++;
      return true;
    });
    report(rows, { system: 'forge', phase: 'put', inFlight, figures: put, note: '' });
    let empty = 0;
    const consume = await closedLoop(inFlight, seconds, async (w) => {
      // Each worker starts at its own user and moves on to the next one with messages left.
      for (let k = 0; k < users.length; k++) {
        const u = (w + k) % users.length;
        if (pending[u]! === 0) continue;
        pending[u]!--; // claimed before the request, so no two workers count on the same message
        const message = await clients[w % clients.length]!.consume(users[u]!);
        if (message === null) empty++;
        return true;
      }
      return false;
    });
    let left = 0;
    for (const user of users) left += await clients[0]!.purge(user);
    report(rows, { system: 'forge', phase: 'consume', inFlight, figures: consume, note: drainNote(put.count, consume.count - empty, left, empty) });
  }
  for (const max of batchSizes) {
    const pending = await fillForge(clients, `b${max}`);
    let taken = 0;
    let empty = 0;
    const consume = await closedLoop(batchConcurrency, seconds, async (w) => {
      for (let k = 0; k < users.length; k++) {
        const u = (w + k) % users.length;
        if (pending[u]! === 0) continue;
        const claim = Math.min(max, pending[u]!);
        pending[u]! -= claim; // claimed before the request, so no two workers count on the same messages
        const got = await clients[w % clients.length]!.consumeBatch(users[u]!, max);
        if (got.length === 0) empty++;
        taken += got.length;
        return true;
      }
      return false;
    });
    let left = 0;
    for (const user of users) left += await clients[0]!.purge(user);
    report(rows, { system: 'forge', phase: `consume max=${max}`, inFlight: batchConcurrency, figures: perMessage(consume, taken), note: drainNote(batchFill, taken, left, empty) });
  }
  return rows;
}

/** Puts --batch-fill messages spread over the users with batch puts; how many each user got. */
async function fillForge(clients: ForgeMailboxClient[], tag: string): Promise<number[]> {
  const pending = new Array<number>(users.length).fill(0);
  let next = 0;
  await closedLoop(16, 600, async (w) => {
    if (next >= batchFill) return false;
    const n = Math.min(FILL_BATCH, batchFill - next);
    const first = next;
    next += n;
    const u = (first / FILL_BATCH) % users.length;
    const messages = Array.from({ length: n }, (_, i) => ({ body: BODY, id: `${tag}-${first + i}` }));
    await clients[w % clients.length]!.putBatch(users[u]!, messages);
    pending[u]! += n;
    return true;
  });
  return pending;
}

/** Batch figures: the rate in messages taken, latencies per request. */
function perMessage(requests: Figures, messages: number): Figures {
  const elapsed = requests.count / requests.opsPerSec;
  return { ...requests, count: messages, opsPerSec: messages / elapsed };
}

function drainNote(put: number, taken: number, left: number, empty: number): string {
  const parts = [`took ${taken} of ${put}`];
  if (left > 0) parts.push(`${left} purged after the time limit`);
  if (empty > 0) parts.push(`${empty} unexpected empty replies`);
  return parts.join(', ');
}

function natsServerOnPath(): boolean {
  return spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function startNatsCluster(cleanups: (() => Promise<void>)[]): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'nats-bench-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < 3; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const children: ChildProcess[] = [];
  // Registered before the spawns so the temp dir is removed only after the servers are gone.
  cleanups.push(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
  });
  for (let i = 0; i < 3; i++) {
    const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`);
    const child = spawn(
      'nats-server',
      [
        '-a', '127.0.0.1',
        '-p', String(clientPorts[i]),
        '-n', `s${i + 1}`,
        '--cluster_name', 'bench',
        '--cluster', `nats://127.0.0.1:${routePorts[i]}`,
        '--routes', routes.join(','),
        '-js',
        '-sd', join(dir, `s${i + 1}`),
      ],
      { stdio: 'ignore' },
    );
    children.push(child);
  }
  return clientPorts;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

const STREAM = 'BENCH';
const CONSUMER = 'drain';

async function benchNats(cleanups: (() => Promise<void>)[]): Promise<Row[]> {
  const ports = await startNatsCluster(cleanups);
  const deadline = Date.now() + 30_000;
  let nc: NatsConnection | null = null;
  while (nc === null) {
    try {
      nc = await connect({ servers: ports.map((p) => `127.0.0.1:${p}`), timeout: 1000 });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
  const conn = nc;
  cleanups.push(() => conn.close());
  // The JetStream meta group needs a leader before it answers, and before a replicated stream can be created.
  for (;;) {
    try {
      const jsm = await conn.jetstreamManager();
      await jsm.streams.add({
        name: STREAM,
        subjects: ['bench.>'],
        storage: StorageType.File,
        num_replicas: 3,
        retention: RetentionPolicy.Workqueue,
      });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(250);
    }
  }
  const jsm = await conn.jetstreamManager();
  await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
  const js = conn.jetstream();
  const consumer = await js.consumers.get(STREAM, CONSUMER);
  console.log(`nats: 3 JetStream servers up (${spawnSync('nats-server', ['--version']).stdout.toString().trim()}), R3 file work-queue stream`);
  const rows: Row[] = [];
  for (const inFlight of levels) {
    const subjects = users.map((_, i) => `bench.u${i}`);
    const put = await closedLoop(inFlight, seconds, async (w) => {
      await js.publish(subjects[w % subjects.length]!, BODY);
      return true;
    });
    report(rows, { system: 'nats', phase: 'put', inFlight, figures: put, note: '' });
    // The pull consumer as its users run it: up to `inFlight` messages pulled ahead, each one
    // taken by a worker and acked with ackAck; a take's latency runs from asking for the next
    // message to the ack being confirmed.
    const messages = await consumer.consume({ max_messages: inFlight, expires: 2000 });
    const next = messages[Symbol.asyncIterator]();
    // Ends the iterator (and so any worker waiting on it) should the stream run dry early.
    const stopper = setTimeout(() => messages.stop(), (seconds + 5) * 1000);
    let claimed = 0;
    let empty = 0;
    const consume = await closedLoop(inFlight, seconds, async () => {
      if (claimed >= put.count) return false;
      claimed++;
      const m = await next.next();
      if (m.done === true) {
        empty++;
        return false;
      }
      await m.value.ackAck();
      return true;
    });
    clearTimeout(stopper);
    messages.stop();
    const left = (await jsm.streams.info(STREAM)).state.messages;
    await jsm.streams.purge(STREAM);
    report(rows, { system: 'nats', phase: 'consume', inFlight, figures: consume, note: drainNote(put.count, consume.count - empty, left, empty) });
  }
  for (const max of batchSizes) {
    const subjects = users.map((_, i) => `bench.u${i}`);
    let published = 0;
    await closedLoop(256, 600, async (w) => {
      if (published >= batchFill) return false;
      published++;
      await js.publish(subjects[w % subjects.length]!, BODY);
      return true;
    });
    let taken = 0;
    let claimed = 0;
    const consume = await closedLoop(batchConcurrency, seconds, async () => {
      if (claimed >= batchFill) return false;
      claimed += max;
      const batch = await consumer.fetch({ max_messages: max, expires: 1000 });
      const acks: Promise<boolean>[] = [];
      for await (const m of batch) acks.push(m.ackAck());
      await Promise.all(acks);
      taken += acks.length;
      return true;
    });
    const left = (await jsm.streams.info(STREAM)).state.messages;
    await jsm.streams.purge(STREAM);
    report(rows, { system: 'nats', phase: `consume max=${max}`, inFlight: batchConcurrency, figures: perMessage(consume, taken), note: drainNote(batchFill, taken, left, 0) });
  }
  return rows;
}

function report(rows: Row[], row: Row): void {
  rows.push(row);
  const f = row.figures;
  console.log(`${row.system} ${row.phase} ${row.inFlight} in flight: ${fmt(f.opsPerSec)} msg/s, p50 ${fmt(f.p50, 2)} ms, p99 ${fmt(f.p99, 2)} ms${row.note ? ` (${row.note})` : ''}`);
}

function printTable(forge: Row[], nats: Row[] | null): void {
  const header = ['phase', 'in flight', 'forge msg/s', 'p50 ms', 'p99 ms', 'nats msg/s', 'p50 ms', 'p99 ms', 'forge/nats'];
  const lines: string[][] = [header];
  for (const f of forge) {
    const n = nats?.find((r) => r.phase === f.phase && r.inFlight === f.inFlight);
    lines.push([
      f.phase,
      String(f.inFlight),
      fmt(f.figures.opsPerSec),
      fmt(f.figures.p50, 2),
      fmt(f.figures.p99, 2),
      n ? fmt(n.figures.opsPerSec) : 'skipped',
      n ? fmt(n.figures.p50, 2) : '-',
      n ? fmt(n.figures.p99, 2) : '-',
      n ? fmt(f.figures.opsPerSec / n.figures.opsPerSec, 2) : '-',
    ]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  console.log('');
  for (const l of lines) console.log(l.map((c, i) => c.padStart(widths[i]!)).join('  '));
  console.log('');
  for (const r of [...forge, ...(nats ?? [])]) {
    if (r.note !== '') console.log(`${r.system} ${r.phase}, ${r.inFlight} in flight: ${r.note}`);
  }
}

/** Runs and removes the registered cleanups, last registered first (connections before the processes they talk to). */
async function unwind(cleanups: (() => Promise<void>)[]): Promise<void> {
  for (let c = cleanups.pop(); c !== undefined; c = cleanups.pop()) {
    await c().catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
  }
}

async function main(): Promise<void> {
  console.log(`e2e bench: 100-byte bodies, ${userCount} users, ${seconds} s per phase, in flight ${levels.join(', ')}`);
  const cleanups: (() => Promise<void>)[] = [];
  const onSignal = () => void unwind(cleanups).then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const forge = await benchForge(cleanups);
    // Forge is stopped before the peer starts: each system has the machine to itself.
    await unwind(cleanups);
    let nats: Row[] | null = null;
    if (skipPeer) console.log('nats: skipped (--no-peer)');
    else if (natsServerOnPath()) nats = await benchNats(cleanups);
    else console.log('nats: nats-server not on PATH, peer skipped (apt-get update && apt-get install -y nats-server)');
    printTable(forge, nats);
  } finally {
    await unwind(cleanups);
  }
}

await main();
