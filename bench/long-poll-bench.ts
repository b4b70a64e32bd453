// Long-poll benchmark (issue #12): how many consumers a real three-process cluster behind the real
// Zenoh router can hold parked, whether each of them is then answered (one put per consumer, every
// message delivered once), and the wake-up latency from sending an acknowledged put to its parked
// consumer (measured by bench/e2e/forge-long-poll.ts, which bench:e2e's long poll phase uses too).
//
//   npm run bench:long-poll -- [--consumers 2000] [--sessions 8] [--mailboxes 100] [--latency-samples 200] [--max-parked 20000]
//
// Consumers are spread over `--sessions` client sessions and `--mailboxes` mailboxes, each asking
// to wait 60 s. The cluster's zenoh.maxParkedConsumers is set to `--max-parked`, so that the limit
// measured is the Zenoh path's, not the node's own bound.

import type { ForgeMailboxClient } from '../src/bridge/client.js';
import { ProcessCluster } from '../src/verify/process-cluster.js';
import { longPollClusterOptions, measureLongPoll } from './e2e/forge-long-poll.js';
import { percentile } from './load.js';
import { arg } from './cli-args.js';

const consumers = Number(arg('consumers', '2000'));
const sessions = Number(arg('sessions', '8'));
const mailboxes = Number(arg('mailboxes', '100'));
const latencySamples = Number(arg('latency-samples', '200'));
const maxParked = Number(arg('max-parked', '20000'));

async function main(): Promise<void> {
  const cluster = await ProcessCluster.start({ nodes: 3, metrics: true, ...longPollClusterOptions(maxParked), dirPrefix: 'forge-long-poll-bench-' });
  const clients: ForgeMailboxClient[] = [];
  try {
    for (let i = 0; i < sessions; i++) clients.push(await cluster.client(10_000));
    const leader = await cluster.waitForLeader(clients[0]!, 30_000);
    const { latencyMs: lat } = await measureLongPoll(cluster, clients, leader, { consumers, mailboxes, latencySamples, log: (line) => console.log(line) });
    console.log(
      `wake-up latency, put sent -> parked consumer answered (${latencySamples} samples): p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms, max ${lat.at(-1)!.toFixed(1)} ms`,
    );
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await cluster.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
