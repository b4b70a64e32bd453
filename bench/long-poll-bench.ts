// Long-poll benchmark (issue #12): how many consumers a real three-process cluster behind the real
// Zenoh router can hold parked, whether each of them is then answered (one put per consumer, every
// message delivered once), and the wake-up latency from an acknowledged put to its parked consumer.
//
//   npm run bench:long-poll -- [--consumers 2000] [--sessions 8] [--mailboxes 100] [--latency-samples 200] [--max-parked 20000]
//
// Consumers are spread over `--sessions` client sessions and `--mailboxes` mailboxes, each asking
// to wait 60 s. The cluster's zenoh.maxParkedConsumers is set to `--max-parked`, so that the limit
// measured is the Zenoh path's, not the node's own bound.

import { readFileSync } from 'node:fs';
import { MailboxClientError, type ForgeMailboxClient } from '../src/bridge/client.js';
import { ProcessCluster, sleep } from '../src/verify/process-cluster.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const consumers = Number(arg('consumers', '2000'));
const sessions = Number(arg('sessions', '8'));
const mailboxes = Number(arg('mailboxes', '100'));
const latencySamples = Number(arg('latency-samples', '200'));
const maxParked = Number(arg('max-parked', '20000'));
const WAIT_MS = 60_000;

function metric(page: string, name: string): number {
  const line = page.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Resident memory of a process in MiB (Linux /proc), or NaN. */
function rssMiB(pid: number | null): number {
  if (pid === null) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Math.round(Number(m[1]) / 1024);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const cluster = await ProcessCluster.start({
    nodes: 3,
    metrics: true,
    mailbox: { maxConsumeWaitMs: WAIT_MS },
    zenoh: { maxParkedConsumers: maxParked },
    dirPrefix: 'forge-long-poll-bench-',
  });
  const clients: ForgeMailboxClient[] = [];
  try {
    for (let i = 0; i < sessions; i++) clients.push(await cluster.client(10_000));
    const leader = await cluster.waitForLeader(clients[0]!, 30_000);
    const page = async () => (await fetch(cluster.metricsUrl(leader))).text();
    const idleRss = rssMiB(cluster.pid(leader));
    console.log(`leader ${leader}; parking ${consumers} consumers on ${mailboxes} mailboxes over ${sessions} sessions`);

    // 1. Park them all, a few hundred at a time.
    const started = Date.now();
    const answers: Promise<{ outcome: string; at: number }>[] = [];
    for (let i = 0; i < consumers; i++) {
      const c = clients[i % sessions]!;
      answers.push(
        c.consume(`lp-${i % mailboxes}`, { waitMs: WAIT_MS }).then(
          (m) => ({ outcome: m === null ? 'empty' : 'message', at: Date.now(), id: m?.id }),
          (e: unknown) => ({ outcome: e instanceof MailboxClientError ? e.code : String(e), at: Date.now() }),
        ),
      );
      if (i % 250 === 249) await sleep(50);
    }
    let parked = 0;
    let peak = 0;
    for (let stable = 0, last = -1; stable < 5 && Date.now() - started < 45_000; ) {
      await sleep(500);
      parked = metric(await page(), 'forge_parked_consumers');
      peak = Math.max(peak, parked);
      stable = parked === last ? stable + 1 : 0;
      last = parked;
    }
    const settledEarly = await Promise.all(answers.map((a) => Promise.race([a, sleep(0).then(() => null)])));
    const gaveUp = settledEarly.filter((s) => s !== null);
    const byOutcome = new Map<string, number>();
    for (const s of gaveUp) byOutcome.set(s!.outcome, (byOutcome.get(s!.outcome) ?? 0) + 1);
    console.log(
      `parked on the leader: ${parked} (peak ${peak}) of ${consumers} sent, ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `already answered before any put: ${gaveUp.length} ${JSON.stringify(Object.fromEntries(byOutcome))}`,
    );
    console.log(`leader resident memory with them parked: ${rssMiB(cluster.pid(leader))} MiB (${rssMiB(cluster.pid(leader)) === idleRss ? 'unchanged' : `${idleRss} MiB before`})`);

    // 2. One put per parked consumer: every waiting one must get exactly one message.
    const putStarted = Date.now();
    const waiting = consumers - gaveUp.length;
    const users: string[] = [];
    for (let i = 0; i < consumers; i++) if (settledEarly[i] === null) users.push(`lp-${i % mailboxes}`);
    // 256 puts in flight, spread over the sessions.
    let next = 0;
    await Promise.all(
      Array.from({ length: 256 }, async (_, w) => {
        while (next < users.length) {
          const user = users[next++]!;
          await clients[w % sessions]!.put(user, 'm');
        }
      }),
    );
    const all = await Promise.all(answers);
    const counts = new Map<string, number>();
    for (const a of all) counts.set(a.outcome, (counts.get(a.outcome) ?? 0) + 1);
    const ids = all.flatMap((a) => ('id' in a && a.id !== undefined ? [a.id] : []));
    console.log(`distinct messages delivered: ${new Set(ids).size} of ${ids.length}`);
    console.log(`after ${waiting} puts (${((Date.now() - putStarted) / 1000).toFixed(1)} s): ${JSON.stringify(Object.fromEntries(counts))}`);

    // 3. Wake-up latency: one parked consumer, one acknowledged put, timed from the put's ack.
    const c = clients[0]!;
    const lat: number[] = [];
    for (let i = 0; i < latencySamples; i++) {
      const waiter = c.consume('latency', { waitMs: 10_000 }).then(() => performance.now());
      await sleep(30);
      const sent = performance.now();
      await clients[1 % sessions]!.put('latency', 'x');
      lat.push((await waiter) - sent);
    }
    lat.sort((a, b) => a - b);
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
