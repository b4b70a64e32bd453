// NATS JetStream in the end-to-end benchmark: three `nats-server` processes clustered on
// loopback, an R3 file work-queue stream, the `nats` npm client. Puts are publishes with
// JetStream acks; consumes a pull consumer, each message acked with ackAck; batch consumes a pull
// `fetch` of up to N messages, each acked with ackAck. NATS does not fsync before acknowledging by
// default (it syncs every 2 minutes).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, RetentionPolicy, StorageType, type NatsConnection } from 'nats';
import { freePort } from '../../src/router/zenoh-router.js';
import { sleep } from '../../src/verify/process-cluster.js';
import { closedLoop } from '../load.js';
import { runs, stopChild } from './processes.js';
import { drainNote, perMessage, rowLine, type Row } from './rows.js';
import { levelsOf, type Cleanups, type Workload } from './workload.js';

export const NATS_INSTALL = 'apt-get update && apt-get install -y nats-server';

/** Why NATS cannot run here, or null when it can. */
export async function natsMissing(): Promise<string | null> {
  return runs('nats-server', ['--version']) ? null : `nats-server not on PATH (${NATS_INSTALL})`;
}

async function startCluster(cleanups: Cleanups): Promise<number[]> {
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

const STREAM = 'BENCH';
const CONSUMER = 'drain';

export async function benchNats(work: Workload, cleanups: Cleanups): Promise<Row[]> {
  const ports = await startCluster(cleanups);
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
  const add = (row: Row) => {
    rows.push(row);
    console.log(rowLine(row));
  };
  const subjects = work.users.map((_, i) => `bench.u${i}`);
  for (const { inFlight, seconds, warmUp } of levelsOf(work)) {
    const put = await closedLoop(inFlight, seconds, async (w) => {
      await js.publish(subjects[w % subjects.length]!, work.body);
      return true;
    });
    if (!warmUp) add({ system: 'nats', phase: 'put', inFlight, figures: put, note: '' });
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
    if (!warmUp) add({ system: 'nats', phase: 'consume', inFlight, figures: consume, note: drainNote(put.count, consume.count - empty, left, empty) });
  }
  for (const max of work.batchSizes) {
    let published = 0;
    await closedLoop(256, 600, async (w) => {
      if (published >= work.batchFill) return false;
      published++;
      await js.publish(subjects[w % subjects.length]!, work.body);
      return true;
    });
    let taken = 0;
    let claimed = 0;
    const consume = await closedLoop(work.batchConcurrency, work.seconds, async () => {
      if (claimed >= work.batchFill) return false;
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
    add({ system: 'nats', phase: `consume max=${max}`, inFlight: work.batchConcurrency, figures: perMessage(consume, taken), note: drainNote(work.batchFill, taken, left, 0) });
  }
  return rows;
}
