// Forge in the end-to-end benchmark: a real three-process cluster (LevelDB, Raft over TCP)
// behind the real Zenoh router, driven through ForgeMailboxClient from several zenoh-ts sessions.
//
// Puts and single consumes: for each number in flight, acknowledged puts for the phase's time,
// spread over the users, then consumes draining them (plain takes, one Raft entry each); then the
// same through the Python client from several processes (forge-native.ts). Batch
// consumes: batch puts fill the mailboxes, then workers drain them with `consume?max=N` (one
// Raft entry per batch). Idle polls: consumes of empty mailboxes, with the leader's log entries and
// fsyncs per poll. Long polls (bench/e2e/forge-long-poll.ts): `parked` consumers parked and each
// answered by a put, then the wake-up latency from a put to its parked consumer. Each put phase notes the leader's mean time per stage (README, Metrics).

import type { ForgeMailboxClient } from '../../src/bridge/client.js';
import { DEFAULT_MAX_PARKED_CONSUMERS } from '../../src/bridge/key-space.js';
import { metricSum, metricValue } from '../../src/verify/metric-page.js';
import { ProcessCluster } from '../../src/verify/process-cluster.js';
import { closedLoop } from '../load.js';
import { longPollClusterOptions, longPollRow, measureLongPoll } from './forge-long-poll.js';
import { benchForgeNative, NATIVE_CLIENT, nativeClientMissing } from './forge-native.js';
import { drainNote, perMessage, rowLine, type Row } from './rows.js';
import { levelsOf, type Cleanups, type Workload } from './workload.js';

export interface ForgeOptions {
  /** Zenoh sessions the requests are spread over (one session may serialize its requests). */
  sessions: number;
  auth: boolean;
  peerTls: boolean;
  /** Consumers the long poll phase parks; 0 leaves the phase out. */
  parked: number;
  /** Options of the node processes' `node`, after their own (`--node-args`). */
  nodeArgs: string[];
  /** Python client processes of the native client rows (forge-native.ts); 0 leaves them out. */
  nativeProcesses: number;
  /** Whether the zenoh-ts and Python clients send puts and consumes made together as one query (their default). */
  coalesce: boolean;
}

/** Wake-up latency samples of the long poll phase. */
const LATENCY_SAMPLES = 200;
/** Mailboxes the parked consumers are spread over. */
const LONG_POLL_MAILBOXES = 100;

/** Messages per batch put while filling (the bodies stay far under maxBodyBytes). */
const FILL_BATCH = 256;

export async function benchForge(work: Workload, options: ForgeOptions, cleanups: Cleanups): Promise<Row[]> {
  const { users, body } = work;
  // Long polls wait longer than the default maxConsumeWaitMs allows, and `parked` may be more than
  // the default maxParkedConsumers; neither setting changes what the other phases do.
  const longPoll = options.parked > 0 ? longPollClusterOptions(Math.max(DEFAULT_MAX_PARKED_CONSUMERS, options.parked)) : {};
  const cluster = await ProcessCluster.start({ nodes: 3, logLevel: 'warn', dirPrefix: 'forge-bench-', metrics: true, auth: options.auth, peerTls: options.peerTls, nodeArgs: options.nodeArgs, ...longPoll });
  cleanups.push(() => cluster.stop());
  const clients: ForgeMailboxClient[] = [];
  for (let i = 0; i < options.sessions; i++) {
    const client = await cluster.client(10_000, undefined, options.coalesce ? {} : { coalesce: false });
    clients.push(client);
    cleanups.push(() => client.close());
  }
  const leader = await cluster.waitForLeader(clients[0]!);
  console.log(`forge: 3 nodes up, leader ${leader}, ${options.sessions} Zenoh session(s), authorization ${options.auth ? 'on' : 'OFF'}, puts and consumes ${options.coalesce ? 'sent together' : 'sent alone'}, peer links ${options.peerTls ? 'mutual TLS' : 'plain TCP (shared secret)'}`);
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    console.log(rowLine(row));
  };
  let run = 0;
  for (const { inFlight, seconds, warmUp } of levelsOf(work)) {
    run++;
    // Messages put and not yet taken, per user.
    const pending = new Array<number>(users.length).fill(0);
    let seq = 0;
    const stagesBefore = await leaderStages(cluster, leader);
    const costBefore = await leaderCost(cluster, leader);
    const put = await closedLoop(inFlight, seconds, async (w) => {
      // Round-robin over every user (by worker, 16 in flight would reach only 16 of them).
      const k = seq++;
      const u = k % users.length;
      await clients[w % clients.length]!.put(users[u]!, body, { id: `r${run}-${k}` });
      pending[u]!++;
      return true;
    });
    const stagesAfter = await leaderStages(cluster, leader);
    const perPut = costNote(costBefore, await leaderCost(cluster, leader), put.count);
    if (!warmUp) add({ system: 'forge', phase: 'put', inFlight, figures: put, note: `${stageNote(stagesBefore, stagesAfter)}; leader per put: ${perPut}` });
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
    if (!warmUp) add({ system: 'forge', phase: 'consume', inFlight, figures: consume, note: drainNote(put.count, consume.count - empty, left, empty) });
  }
  if (options.nativeProcesses > 0) {
    const missing = nativeClientMissing();
    if (missing === null) for (const row of await benchForgeNative(cluster, clients[0]!, work, options.nativeProcesses, options.coalesce)) add(row);
    else console.log(`forge (${NATIVE_CLIENT}): skipped, ${missing}`);
  }
  // Idle polls (issue #12): consumes of empty mailboxes, without request id, cost no log entry and
  // no fsync (a linearizable read); counted on the leader's own metrics.
  const idleBefore = await leaderCost(cluster, leader);
  const idle = await closedLoop(16, work.seconds, async (w) => {
    if ((await clients[w % clients.length]!.consume(`idle${w % 16}`)) !== null) throw new Error('an idle mailbox had a message');
    return true;
  });
  const idleAfter = await leaderCost(cluster, leader);
  add({
    system: 'forge',
    phase: 'idle poll',
    inFlight: 16,
    figures: idle,
    note: `leader per poll: ${costNote(idleBefore, idleAfter, idle.count)} (its own expiry sweeps included)`,
  });
  if (options.parked > 0) {
    const figures = await measureLongPoll(cluster, clients, leader, {
      consumers: options.parked,
      mailboxes: LONG_POLL_MAILBOXES,
      latencySamples: LATENCY_SAMPLES,
      log: (line) => console.log(`forge long poll: ${line}`),
    });
    add(longPollRow(figures));
  }
  for (const max of work.batchSizes) {
    const pending = await fill(work, clients, `b${max}`);
    let taken = 0;
    let empty = 0;
    const consume = await closedLoop(work.batchConcurrency, work.seconds, async (w) => {
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
    add({ system: 'forge', phase: `consume max=${max}`, inFlight: work.batchConcurrency, figures: perMessage(consume, taken), note: drainNote(work.batchFill, taken, left, empty) });
  }
  return rows;
}

const STAGES = [
  ['forge_proposal_stage_seconds', 'write'],
  ['forge_proposal_stage_seconds', 'commit'],
  ['forge_proposal_stage_seconds', 'apply'],
  ['forge_request_stage_seconds', 'handle'],
  ['forge_request_stage_seconds', 'reply'],
] as const;
type StageTotals = Record<(typeof STAGES)[number][1], { count: number; sum: number }>;

/** The leader's stage histograms' counts and sums (see README, Metrics), to tell where a phase's time went. */
async function leaderStages(cluster: ProcessCluster, leader: string): Promise<StageTotals> {
  const page = await (await fetch(cluster.metricsUrl(leader), { signal: AbortSignal.timeout(10_000) })).text();
  const totals = {} as StageTotals;
  for (const [metric, stage] of STAGES) {
    totals[stage] = { count: metricValue(page, `${metric}_count`, { stage }), sum: metricValue(page, `${metric}_sum`, { stage }) };
  }
  return totals;
}

interface LeaderCost {
  entries: number;
  syncs: number;
  peerFrames: number;
}

/** The leader's log entries (commit index), log fsyncs and frames written to its peers so far. */
async function leaderCost(cluster: ProcessCluster, leader: string): Promise<LeaderCost> {
  const page = await (await fetch(cluster.metricsUrl(leader), { signal: AbortSignal.timeout(10_000) })).text();
  return {
    entries: metricValue(page, 'forge_raft_commit_index'),
    syncs: metricValue(page, 'forge_raft_log_syncs_total'),
    peerFrames: metricSum(page, 'forge_peer_sent_frames_total'),
  };
}

/** What the leader did per request between two readings, e.g. "0.0312 log entries, 0.0310 fsyncs, 0.1 peer frames". */
function costNote(before: LeaderCost, after: LeaderCost, requests: number): string {
  const per = (k: keyof LeaderCost) => ((after[k] - before[k]) / Math.max(1, requests)).toFixed(4);
  return `${per('entries')} log entries, ${per('syncs')} fsyncs, ${per('peerFrames')} peer frames`;
}

/** Mean time per stage on the leader between two readings, e.g. "leader means: write 2.1, commit 4.0, ... ms". */
function stageNote(before: StageTotals, after: StageTotals): string {
  const means = STAGES.map(([, stage]) => {
    const n = after[stage].count - before[stage].count;
    return `${stage} ${n === 0 ? '-' : (((after[stage].sum - before[stage].sum) / n) * 1000).toFixed(1)}`;
  });
  return `leader means (ms): ${means.join(', ')}`;
}

/** Puts the workload's batch fill spread over the users with batch puts; how many each user got. */
async function fill(work: Workload, clients: ForgeMailboxClient[], tag: string): Promise<number[]> {
  const { users, body } = work;
  const pending = new Array<number>(users.length).fill(0);
  let next = 0;
  await closedLoop(16, 600, async (w) => {
    if (next >= work.batchFill) return false;
    const n = Math.min(FILL_BATCH, work.batchFill - next);
    const first = next;
    next += n;
    const u = (first / FILL_BATCH) % users.length;
    const messages = Array.from({ length: n }, (_, i) => ({ body, id: `${tag}-${first + i}` }));
    await clients[w % clients.length]!.putBatch(users[u]!, messages);
    pending[u]! += n;
    return true;
  });
  return pending;
}
