// RabbitMQ in the end-to-end benchmark: three nodes of Debian's rabbitmq-server clustered on
// loopback, one quorum queue (Raft, the `ra` library; fdatasync on a majority before a confirm),
// the `amqplib` client connected to the node that declared the queue (its leader). Puts are
// persistent publishes on a confirm channel, each awaited; consumes a push consumer with prefetch
// N, each message acked on its own (an AMQP ack is not answered, so the consumer does not wait
// for it). Batch rows (`consume max=N`) are the same consumer with prefetch N: RabbitMQ's
// answer to taking many messages at once.
//
// Everything runs from a fresh temporary directory: its own Erlang cookie (HOME), epmd on a
// free port (our child), each node's ports, mnesia and logs; the nodes run in the foreground
// as our children and are stopped, with anything left that names the directory, at the end.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { freePort } from '../../src/router/zenoh-router.js';
import { sleep } from '../../src/verify/process-cluster.js';
import { closedLoop } from '../load.js';
import { connect, type Channel, type ConsumeMessage } from 'amqplib';
import { killLeftovers, onPath, run, stopChild, waitForPort } from './processes.js';
import { drainNote, rowLine, type Row } from './rows.js';
import { levelsOf, type Cleanups, type Workload } from './workload.js';

const BIN = '/usr/lib/rabbitmq/bin';
export const RABBITMQ_INSTALL = 'apt-get update && apt-get install -y rabbitmq-server';
const QUEUE = 'bench';

/** Why RabbitMQ cannot run here, or null when it can. */
export async function rabbitmqMissing(): Promise<string | null> {
  if (!existsSync(join(BIN, 'rabbitmq-server')) || !existsSync(join(BIN, 'rabbitmqctl'))) return `${BIN}/rabbitmq-server not found (${RABBITMQ_INSTALL})`;
  if (!onPath('epmd')) return `epmd not on PATH (${RABBITMQ_INSTALL})`;
  return null;
}

interface RabbitNode {
  name: string;
  amqpPort: number;
}

async function startCluster(cleanups: Cleanups): Promise<RabbitNode[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rabbitmq-bench-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  // The CLI and the nodes read the cookie from $HOME; a fresh one keeps other Erlang nodes out.
  writeFileSync(join(dir, '.erlang.cookie'), randomBytes(20).toString('hex'), { mode: 0o400 });
  const epmdPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    // Not /etc/rabbitmq's: nothing of the machine's own RabbitMQ set-up applies.
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
  };
  // Our own epmd, in the foreground as our child, so that stopping it is ours to do.
  const epmd = spawn('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], { stdio: 'ignore', env });
  cleanups.push(() => stopChild(epmd));
  await waitForPort(epmdPort, 10_000);
  const tag = basename(dir).replace(/[^A-Za-z0-9]/g, '');
  const nodes: RabbitNode[] = [];
  const children: ChildProcess[] = [];
  cleanups.push(async () => {
    await Promise.all(children.map((c) => stopChild(c, { graceMs: 30_000 })));
    const left = killLeftovers(dir);
    if (left > 0) console.log(`rabbitmq: killed ${left} process(es) left after the nodes stopped`);
  });
  for (let i = 1; i <= 3; i++) {
    const node: RabbitNode = { name: `${tag}-${i}@localhost`, amqpPort: await freePort() };
    const base = join(dir, `n${i}`);
    const log = openSync(`${base}.out`, 'a');
    const child = spawn(join(BIN, 'rabbitmq-server'), [], {
      env: {
        ...env,
        RABBITMQ_NODENAME: node.name,
        RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
        RABBITMQ_NODE_PORT: String(node.amqpPort),
        RABBITMQ_DIST_PORT: String(await freePort()),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
        RABBITMQ_MNESIA_BASE: join(base, 'mnesia'),
        RABBITMQ_LOG_BASE: join(base, 'log'),
      },
      // Its own process group: a ctrl-C at the terminal reaches us, and we stop the nodes in order.
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    children.push(child);
    nodes.push(node);
  }
  const ctl = async (node: RabbitNode, ...args: string[]) => {
    // The CLI is an Erlang node too; a free port of its own for distribution.
    const port = String(await freePort());
    const result = await run(join(BIN, 'rabbitmqctl'), ['-n', node.name, ...args], { env: { ...env, RABBITMQ_CTL_DIST_PORT_MIN: port, RABBITMQ_CTL_DIST_PORT_MAX: port } });
    if (result.code !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} on ${node.name}: ${result.output.trim()}`);
    return result.output;
  };
  const deadline = Date.now() + 180_000;
  for (const node of nodes) {
    for (;;) {
      try {
        await ctl(node, 'await_startup', '--timeout', '120');
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await sleep(1000);
      }
    }
  }
  for (const node of nodes.slice(1)) {
    await ctl(node, 'stop_app');
    await ctl(node, 'join_cluster', nodes[0]!.name);
    await ctl(node, 'start_app');
  }
  return nodes;
}

/** Messages as they are pushed to a consumer, handed out one at a time to the workers. */
class Deliveries {
  private readonly items: ConsumeMessage[] = [];
  private readonly waiters: ((m: ConsumeMessage | null) => void)[] = [];
  private closed = false;

  push(m: ConsumeMessage): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(m);
    else this.items.push(m);
  }

  next(): Promise<ConsumeMessage | null> {
    const m = this.items.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.closed) return Promise.resolve(null);
    return new Promise((r) => this.waiters.push(r));
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(null);
  }
}

export async function benchRabbitmq(work: Workload, cleanups: Cleanups): Promise<Row[]> {
  const nodes = await startCluster(cleanups);
  const conn = await connect(`amqp://guest:guest@127.0.0.1:${nodes[0]!.amqpPort}`);
  cleanups.push(() => conn.close());
  const confirm = await conn.createConfirmChannel();
  await confirm.assertQueue(QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const version = String(conn.connection.serverProperties.version ?? '?');
  console.log(`rabbitmq: 3 nodes up (RabbitMQ ${version}), quorum queue '${QUEUE}', confirm channel, persistent messages`);
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    console.log(rowLine(row));
  };
  const body = Buffer.from(work.body);
  const publish = () =>
    new Promise<void>((resolve, reject) => {
      confirm.sendToQueue(QUEUE, body, { persistent: true }, (err) => (err ? reject(err) : resolve()));
    });
  /** `count` messages drained by a consumer with prefetch `prefetch`, `workers` taking them one at a time. */
  const drain = async (count: number, prefetch: number, workers: number, seconds = work.seconds) => {
    const channel: Channel = await conn.createChannel();
    await channel.prefetch(prefetch);
    const deliveries = new Deliveries();
    const { consumerTag } = await channel.consume(QUEUE, (m) => (m === null ? deliveries.close() : deliveries.push(m)), { noAck: false });
    // Ends the workers waiting should the queue run dry early.
    const stopper = setTimeout(() => deliveries.close(), (seconds + 5) * 1000);
    let claimed = 0;
    let empty = 0;
    const figures = await closedLoop(workers, seconds, async () => {
      if (claimed >= count) return false;
      claimed++;
      const m = await deliveries.next();
      if (m === null) {
        empty++;
        return false;
      }
      channel.ack(m);
      return true;
    });
    clearTimeout(stopper);
    await channel.cancel(consumerTag);
    // Closing the channel returns what it was sent and did not ack to the queue, to be purged.
    await channel.close();
    const { messageCount: left } = await confirm.purgeQueue(QUEUE);
    return { figures, left, empty };
  };
  for (const { inFlight, seconds, warmUp } of levelsOf(work)) {
    const put = await closedLoop(inFlight, seconds, async () => {
      await publish();
      return true;
    });
    if (!warmUp) add({ system: 'rabbitmq', phase: 'put', inFlight, figures: put, note: 'confirm channel, persistent' });
    const { figures, left, empty } = await drain(put.count, inFlight, inFlight, seconds);
    if (!warmUp) add({ system: 'rabbitmq', phase: 'consume', inFlight, figures, note: `push, prefetch ${inFlight}, ack of each; ${drainNote(put.count, figures.count, left, empty)}` });
  }
  for (const max of work.batchSizes) {
    let published = 0;
    await closedLoop(256, 600, async () => {
      if (published >= work.batchFill) return false;
      published++;
      await publish();
      return true;
    });
    const { figures, left, empty } = await drain(work.batchFill, max, work.batchConcurrency);
    add({ system: 'rabbitmq', phase: `consume max=${max}`, inFlight: work.batchConcurrency, figures, note: `push, prefetch ${max}, ack of each, latency per message; ${drainNote(work.batchFill, figures.count, left, empty)}` });
  }
  return rows;
}
