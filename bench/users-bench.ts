// Throughput against the number of mailboxes (issue #13, "scale in users"): one real
// three-process cluster behind the real Zenoh router, driven through ForgeMailboxClient from
// several zenoh-ts sessions. For each user count in --users: acknowledged puts of 100-byte bodies
// at --in-flight, spread round-robin over that many mailboxes, for --seconds and at least until
// every mailbox holds a message; then consumes for --seconds, taking the messages back in the
// order they were put (each aimed at a mailbox known to hold one).
//
// The first count is the reference. On a busy 2-core machine one 8-second figure drifts by ±15%
// from minute to minute, more than the effect being measured, so the counts are measured in
// --rounds interleaved rounds, each opened and closed by a reference run
// (ref, a, b, c, ref, a, b, c, ref, ...); every figure is divided by the mean of the two reference
// runs around it, and the median of those ratios over the rounds is the result. A warm-up run
// comes first and is not counted (the first seconds of a new cluster run at half speed: JIT,
// caches).
//
//   npm run bench:users -- [--users 64,10,1000,100000] [--rounds 3] [--seconds 6] [--in-flight 256] [--sessions 4] [--json FILE]
//
// The target (issue #13): put and consume throughput within ±20% of the 64-user figure.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import type { ForgeMailboxClient } from '../src/bridge/client.js';
import { ProcessCluster } from '../src/verify/process-cluster.js';
import { type Figures, closedLoop, fmt } from './load.js';
import { arg, list, wholeNumber } from './cli-args.js';

const counts = list(arg('users', '64,10,1000,100000')).map((x) => wholeNumber('users', x, 1));
const rounds = wholeNumber('rounds', arg('rounds', '3'), 1);
const seconds = wholeNumber('seconds', arg('seconds', '6'), 1);
const inFlight = wholeNumber('in-flight', arg('in-flight', '256'), 1);
const sessions = wholeNumber('sessions', arg('sessions', '4'), 1);
const jsonPath = arg('json', 'bench-results/users-bench.json');
const BODY = new Uint8Array(100).fill(0x61);
/** How long the cluster remembers a put id here (see main). */
const DEDUPE_WINDOW_MS = 60_000;
/** However many mailboxes there are, a put phase gives up this long past --seconds. */
const FILL_LIMIT_SECONDS = 120;

interface Run {
  users: number;
  round: number;
  put: Figures;
  consume: Figures;
  /** Mailboxes that held a message when the consume phase began. */
  filled: number;
  /** Consumes answered empty: each was aimed at a mailbox that held a message, so this must be 0. */
  empty: number;
  /** Messages still queued after the consume phase's time limit (then purged). */
  left: number;
}

async function measure(clients: ForgeMailboxClient[], users: number, round: number, tag: string): Promise<Run> {
  const name = (u: number) => `users-${tag}-${u}`;
  // Mailbox of each acknowledged put, in the order they were acknowledged.
  const order: number[] = [];
  let seq = 0;
  const start = performance.now();
  const put = await closedLoop(inFlight, seconds + FILL_LIMIT_SECONDS, async (w) => {
    if (performance.now() - start >= seconds * 1000 && seq >= users) return false;
    const k = seq++;
    const u = k % users;
    await clients[w % clients.length]!.put(name(u), BODY, { id: `${tag}-${k}` });
    order.push(u);
    return true;
  });
  const filled = new Set(order).size;
  let next = 0;
  let empty = 0;
  const consume = await closedLoop(inFlight, seconds, async (w) => {
    if (next >= order.length) return false;
    const u = order[next++]!;
    if ((await clients[w % clients.length]!.consume(name(u))) === null) empty++;
    return true;
  });
  // What the time limit left is purged, as many at once as the phases have in flight.
  const rest = [...new Set(order.slice(next))];
  let left = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      for (let i = w; i < rest.length; i += inFlight) left += await clients[w % clients.length]!.purge(name(rest[i]!));
    }),
  );
  return { users, round, put, consume, filled, empty, left };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg().map((l) => Number(l.toFixed(2)));
  const [reference, ...others] = counts as [number, ...number[]];
  console.log(
    `users bench: 100-byte bodies, ${inFlight} in flight, ${seconds} s per phase, ${rounds} round(s) of users ${others.join(', ')} ` +
      `between runs of ${reference} users (the reference); load average ${loadAtStart.join(' ')}`,
  );
  // Every put carries an id, as a producer's would. The cluster remembers ids for
  // DEDUPE_WINDOW_MS instead of the default 10 minutes: the rounds put over a million in that
  // long, more than the id table holds (mailbox.dedupeMaxEntries, 1,000,000; one more put with an
  // id is refused QUOTA_EXCEEDED). A minute's ids are what every count's phases then share.
  const cluster = await ProcessCluster.start({ nodes: 3, logLevel: 'warn', dirPrefix: 'forge-users-bench-', mailbox: { dedupeWindowMs: DEDUPE_WINDOW_MS } });
  // Interrupted, it still stops the nodes, the router and the link guard it started.
  const onSignal = () => void cluster.stop().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const clients: ForgeMailboxClient[] = [];
  const refs: Run[] = [];
  const runs: Run[] = [];
  const show = (r: Run) =>
    console.log(
      `round ${r.round}, ${r.users} users (${r.filled} filled): put ${fmt(r.put.opsPerSec)}/s (p50 ${fmt(r.put.p50, 1)} ms, p99 ${fmt(r.put.p99, 1)} ms), ` +
        `consume ${fmt(r.consume.opsPerSec)}/s (p50 ${fmt(r.consume.p50, 1)} ms, p99 ${fmt(r.consume.p99, 1)} ms)` +
        `${r.empty > 0 ? `, ${r.empty} EMPTY replies` : ''}${r.left > 0 ? `, ${r.left} purged after the time limit` : ''}`,
    );
  try {
    for (let i = 0; i < sessions; i++) clients.push(await cluster.client(10_000));
    const leader = await cluster.waitForLeader(clients[0]!);
    console.log(`forge: 3 nodes up, leader ${leader}, ${sessions} Zenoh session(s)`);
    const warm = await measure(clients, reference, 0, 'warm');
    console.log(`warm-up, ${reference} users: put ${fmt(warm.put.opsPerSec)}/s, consume ${fmt(warm.consume.opsPerSec)}/s (not counted)`);
    let tag = 0;
    for (let round = 1; round <= rounds; round++) {
      const ref = await measure(clients, reference, round, `r${tag++}`);
      refs.push(ref);
      show(ref);
      for (const users of others) {
        const r = await measure(clients, users, round, `r${tag++}`);
        runs.push(r);
        show(r);
      }
    }
    const closing = await measure(clients, reference, rounds + 1, `r${tag++}`);
    refs.push(closing);
    show(closing);
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    await cluster.stop();
  }
  // Each run against the mean of the reference runs that open and close its round.
  const ratios = runs.map((r) => {
    const [before, after] = [refs[r.round - 1]!, refs[r.round]!];
    return {
      users: r.users,
      round: r.round,
      put: r.put.opsPerSec / ((before.put.opsPerSec + after.put.opsPerSec) / 2),
      consume: r.consume.opsPerSec / ((before.consume.opsPerSec + after.consume.opsPerSec) / 2),
    };
  });
  const summary = others.map((users) => {
    const mine = ratios.filter((x) => x.users === users);
    const r = runs.filter((x) => x.users === users);
    return {
      users,
      put: median(r.map((x) => x.put.opsPerSec)),
      consume: median(r.map((x) => x.consume.opsPerSec)),
      putRatio: median(mine.map((x) => x.put)),
      consumeRatio: median(mine.map((x) => x.consume)),
      putRatios: mine.map((x) => x.put),
      consumeRatios: mine.map((x) => x.consume),
    };
  });
  const refPut = median(refs.map((x) => x.put.opsPerSec));
  const refConsume = median(refs.map((x) => x.consume.opsPerSec));
  const within = (x: number) => x >= 0.8 && x <= 1.2;
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  console.log('');
  console.log(`| users | put/s (median) | × ${reference} users (median; each round) | consume/s (median) | × ${reference} users (median; each round) |`);
  console.log('|---|---|---|---|---|');
  console.log(`| ${reference} | ${fmt(refPut)} | 1 | ${fmt(refConsume)} | 1 |`);
  for (const s of summary) {
    console.log(
      `| ${s.users} | ${fmt(s.put)} | **${s.putRatio.toFixed(2)}**; ${list(s.putRatios)} | ${fmt(s.consume)} | **${s.consumeRatio.toFixed(2)}**; ${list(s.consumeRatios)} |`,
    );
  }
  const met = summary.every((s) => within(s.putRatio) && within(s.consumeRatio));
  const loadAtEnd = loadavg().map((l) => Number(l.toFixed(2)));
  console.log(`reference: ${refs.length} runs of ${reference} users, put ${list(refs.map((x) => x.put.opsPerSec / refPut))} × their median, consume ${list(refs.map((x) => x.consume.opsPerSec / refConsume))}`);
  console.log(`target: every median ratio within 0.80-1.20: ${met ? 'met' : 'NOT met'}`);
  console.log(`load average at start ${loadAtStart.join(' ')}, at end ${loadAtEnd.join(' ')} (${cpus().length} cores)`);
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(
    jsonPath,
    `${JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), loadAverage: { start: loadAtStart, end: loadAtEnd }, inFlight, seconds, rounds, sessions, met, summary, references: refs, runs }, null, 2)}\n`,
  );
  console.log(`wrote ${jsonPath}`);
  if ([...refs, ...runs].some((r) => r.empty > 0)) process.exitCode = 1;
}

await main();
