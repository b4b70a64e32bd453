// The fault-injection runner: a real cluster (node processes, LevelDB, TCP through fault
// proxies, the real Zenoh router), concurrent recording clients, a seeded nemesis; then heal,
// drain every mailbox, and check the history (Porcupine + total queue).
//
// Timeline: clients work for the whole `timeSec`; the nemesis stops injecting a few seconds
// before the end (every fault is undone when its hold ends) so the run ends on a healthy cluster;
// then everything is healed explicitly, a leader is awaited and every user's mailbox and
// dead-letter queue is drained by recorded consumes until a fresh consume finds each empty.
//
// With a backlog (backlog.ts), mailboxes of their own are first filled with acknowledged puts
// that the workload never touches, and counted after the drain. The fill runs with the nodes'
// default snapshot thresholds (snapshotting every few hundred entries while a million go in would
// make the fill quadratic); then each node in turn is stopped, and started again with
// `snapshotEntries` low, so that images carrying the whole backlog are taken, stored, sent,
// installed and loaded while the faults happen (the restarts load it from disk, too). The report says when each node took, installed
// and loaded one (snapshot-activity.ts).
//
// Besides the safety verdict, the report says how available the service stayed: per fault kind,
// the longest time from a fault's start, and from its heal, to the first request served
// (availability.ts). That is measured, not judged: the verdict is about safety alone.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailboxClientError, type ForgeMailboxClient } from '../bridge/client.js';
import { UNSAFE_MUTATIONS_ENV } from '../config/load.js';
import { checkBacklog, fillBacklog, type BacklogCheck, type BacklogFill, type BacklogOptions } from './backlog.js';
import { measureAvailability, type AvailabilityReport } from './availability.js';
import { HISTORY_FORMAT_VERSION, HistoryWriter, readHistory, type ConsumeOp, type OpKind } from './history.js';
import { checkLinearizability, type LinearizabilityVerdict } from './linearizability.js';
import { MUTATIONS } from './mutations.js';
import { DEFAULT_FAULT_KINDS, Nemesis, type FaultKind } from './nemesis.js';
import { tmpfsUnavailable } from './tmpfs.js';
import { ProcessCluster } from './process-cluster.js';
import { Prng } from '../sim/prng.js';
import { messageRecord } from './history.js';
import { HistoryRecorder } from './recorder.js';
import { formatSnapshotActivity, snapshotEvents, type SnapshotEvent } from './snapshot-activity.js';
import { checkTotalQueue, totalQueueProblems, type TotalQueueReport } from './total-queue.js';
import { startWorkers, workloadUsers } from './workload.js';
import { errorText } from '../error-text.js';

/** The deliberate bugs this runner must catch (src/verify/mutations.ts): `--unsafe` takes their names. */
export const UNSAFE_MODES = MUTATIONS.filter((m) => m.detector === 'chaos').map((m) => m.name);
export type UnsafeMode = Extract<(typeof MUTATIONS)[number], { detector: 'chaos' }>['name'];

export function isUnsafeMode(name: string): name is UnsafeMode {
  return (UNSAFE_MODES as readonly string[]).includes(name);
}

export interface ChaosOptions {
  nodes: number;
  timeSec: number;
  seed: number;
  /** Where the history goes (default: a file named after the seed in the temp directory). */
  historyPath?: string;
  faults?: readonly FaultKind[];
  workers?: number;
  /** Read-only clients besides the workers (peek, len). */
  readers?: number;
  plainUsers?: number;
  leasedUsers?: number;
  leaseMs?: number;
  thinkMs?: number;
  /** Fault hold and quiet times, ms. */
  holdMs?: [number, number];
  quietMs?: [number, number];
  unsafe?: UnsafeMode;
  /** Keep the cluster's data and logs even when the verdict is clean. */
  keepFiles?: boolean;
  /** Porcupine's time limit, per user and for the whole check (120 s by default). */
  checkTimeoutMs?: number;
  /** Fill mailboxes of their own with this backlog before the faults start (see backlog.ts). */
  backlog?: BacklogOptions;
  /** The nodes' raft.snapshotEntries (default: BACKLOG_SNAPSHOT_ENTRIES with a backlog, the node's own without). */
  snapshotEntries?: number;
  log?: (line: string) => void;
}

type Tally = Record<'ok' | 'fail' | 'info', number>;

export interface ChaosReport {
  seed: number;
  nodes: number;
  timeSec: number;
  unsafe: UnsafeMode | null;
  historyPath: string;
  /** Cluster data and node logs (removed after a clean run unless keepFiles). */
  clusterDir: string;
  /** Ops as the history holds them (a batch call is one op per message), and the batch calls among them, by kind. */
  ops: {
    total: number;
    byOutcome: Tally;
    byKind: Partial<Record<OpKind, Tally>>;
    batches: Partial<Record<OpKind, Tally>>;
    /** The indeterminate ops by kind (batch and long poll told apart) and error code. */
    unanswered: Record<string, Record<string, number>>;
  };
  faults: Record<FaultKind, number>;
  drained: boolean;
  /** Replies no correct server can give (refused by the history format), described. */
  malformedReplies: string[];
  totalQueue: TotalQueueReport | null;
  /** Time without a served request after each fault's start and heal, per kind. */
  availability: AvailabilityReport | null;
  linearizability: LinearizabilityVerdict | null;
  /** Set when a checker could not run at all. */
  checkError: string | null;
  /** The backlog filled before the faults, and its count after the drain (null without a backlog). */
  backlog: {
    messages: number;
    mailboxes: number;
    bodyBytes: number;
    fillSeconds: number;
    fillErrors: Record<string, number>;
    /** Each node stopped and started again after the fill (with the new snapshotEntries): ms until caught up. */
    restarts: Array<{ node: string; ms: number }>;
    check: BacklogCheck | null;
  } | null;
  /** The nodes' raft.snapshotEntries, when the runner set it. */
  snapshotEntries: number | null;
  /** Snapshots taken, installed and loaded, from the node logs, with the phase of the run. */
  snapshots: SnapshotEvent[];
  /** Nodes that did not fail-stop (exit 74) on a full disk, or did not refuse (exit 65) a corrupt store. */
  unexpectedExits: string[];
  /** Seconds spent in each phase, in order: where a slow run's time went. */
  phases: Array<{ phase: ChaosPhase; seconds: number }>;
  clean: boolean;
}

/** Cluster start and first leader (and the backlog, if any); faults under the workload; heal and drain; the checkers. */
export type ChaosPhase = 'start' | 'faults' | 'drain' | 'check';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Clients wait longer than the node's request timeout, so the node's own TIMEOUT reaches them. */
const CLIENT_REQUEST_TIMEOUT_MS = 6000;
const NODE_REQUEST_TIMEOUT_MS = 4000;
const RUNNER_OP_DEADLINE_MS = 9000;
/** disk-full: each node's data directory is a tmpfs this large, with this free-space watermark. */
const CHAOS_TMPFS_BYTES = 64 << 20;
const CHAOS_DISK_WATERMARK_BYTES = 8 << 20;
/** corrupt-snapshot: snapshots often enough that a node has one to damage. */
const CHAOS_SNAPSHOT_ENTRIES = 300;
/**
 * With a backlog: a snapshot every this many entries, so that several are taken during the
 * faults (the workload commits about 50 entries a second), each carrying the whole backlog.
 */
export const BACKLOG_SNAPSHOT_ENTRIES = 500;

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const began = Date.now();
  const sink = opts.log ?? (() => {});
  const log = (line: string) => sink(`+${((Date.now() - began) / 1000).toFixed(1)} s ${line}`);
  const phases: ChaosReport['phases'] = [];
  let phaseFrom = began;
  const endPhase = (phase: ChaosPhase) => {
    const now = Date.now();
    phases.push({ phase, seconds: (now - phaseFrom) / 1000 });
    phaseFrom = now;
    log(`phase ${phase} done`);
  };
  const faults = opts.faults ?? DEFAULT_FAULT_KINDS;
  const diskFull = faults.includes('disk-full');
  if (diskFull && opts.backlog !== undefined) {
    throw new Error(`the disk-full fault runs on ${CHAOS_TMPFS_BYTES >> 20} MiB data directories, too small for a backlog: leave one of them out`);
  }
  if (diskFull) {
    const why = tmpfsUnavailable();
    if (why !== null) throw new Error(`the disk-full fault needs tmpfs data directories, and mounting one failed: ${why}`);
  }
  const snapshotEntries =
    opts.snapshotEntries ?? (opts.backlog !== undefined ? BACKLOG_SNAPSHOT_ENTRIES : faults.includes('corrupt-snapshot') ? CHAOS_SNAPSHOT_ENTRIES : null);
  // With a backlog, snapshotEntries applies from the restarts after the fill.
  const startSnapshotEntries = opts.backlog !== undefined ? null : snapshotEntries;
  const historyPath = opts.historyPath ?? join(tmpdir(), `forge-chaos-seed${opts.seed}-${Date.now()}.jsonl`);
  const workload = {
    seed: opts.seed,
    workers: opts.workers ?? 5,
    readers: opts.readers ?? 2,
    plainUsers: opts.plainUsers ?? 4,
    leasedUsers: opts.leasedUsers ?? 2,
    leaseMs: opts.leaseMs ?? 1500,
    ...(opts.thinkMs === undefined ? {} : { thinkMs: opts.thinkMs }),
  };
  const cluster = await ProcessCluster.start({
    nodes: opts.nodes,
    proxies: true,
    dirPrefix: 'forge-chaos-',
    env: opts.unsafe === undefined ? {} : { [UNSAFE_MUTATIONS_ENV]: opts.unsafe },
    raft: {
      requestTimeoutMs: NODE_REQUEST_TIMEOUT_MS,
      ...(startSnapshotEntries === null ? {} : { snapshotEntries: startSnapshotEntries }),
    },
    ...(diskFull ? { tmpfsBytes: CHAOS_TMPFS_BYTES, disk: { minFreeBytes: CHAOS_DISK_WATERMARK_BYTES, checkIntervalMs: 200 } } : {}),
  });
  log(`cluster of ${opts.nodes} in ${cluster.dir}; history in ${historyPath}`);
  const writer = new HistoryWriter(historyPath);
  const recorder = new HistoryRecorder(writer, RUNNER_OP_DEADLINE_MS);
  const openClient = () => cluster.client(CLIENT_REQUEST_TIMEOUT_MS);
  const admin = new AdminClient(openClient);
  let report: ChaosReport | null = null;
  try {
    writer.write({
      type: 'meta',
      version: HISTORY_FORMAT_VERSION,
      timeUnit: 'ns',
      info: {
        seed: opts.seed,
        nodes: opts.nodes,
        timeSec: opts.timeSec,
        workers: workload.workers,
        faults: faults.join(','),
        unsafe: opts.unsafe ?? 'none',
        backlog: opts.backlog?.messages ?? 0,
      },
    });
    await admin.waitForLeader(30_000);

    let fill: BacklogFill | null = null;
    const restarts: Array<{ node: string; ms: number }> = [];
    if (opts.backlog !== undefined) {
      const b = opts.backlog;
      log(`backlog: filling ${b.messages} messages of ${b.bodyBytes} bytes over ${b.mailboxes} mailboxes, ${b.inFlight} in flight`);
      fill = await fillBacklog(openClient, b, log);
      log(`backlog: filled in ${fill.seconds.toFixed(1)} s (${Math.round(b.messages / fill.seconds)}/s); errors ${JSON.stringify(fill.errors)}`);
      if (snapshotEntries !== null) {
        cluster.setRaftOptions({ snapshotEntries });
        for (const id of cluster.ids) {
          const t = Date.now();
          await cluster.signal(id, 'SIGTERM');
          cluster.startNode(id);
          const index = await admin.waitCaughtUp(id, 300_000);
          const ms = Date.now() - t;
          restarts.push({ node: id, ms });
          log(`backlog: ${id} restarted with snapshotEntries ${snapshotEntries}, caught up to ${index} after ${ms} ms`);
        }
      }
    }

    endPhase('start');
    const faultsFrom = Date.now();
    const stopAt = faultsFrom + opts.timeSec * 1000;
    const nemesis = new Nemesis(
      cluster,
      new Prng(opts.seed, 'nemesis'),
      recorder,
      () => admin.leader(),
      { kinds: faults, holdMs: opts.holdMs ?? [800, 3500], quietMs: opts.quietMs ?? [500, 2500] },
      log,
      admin,
    );
    const workers = startWorkers(recorder, openClient, workload);
    const nemesisDone = nemesis.run(stopAt - 3000).finally(() => nemesis.healAll());
    await Promise.all([...workers.map((w) => w.run(stopAt)), nemesisDone]);
    const faultsUntil = Date.now();
    await Promise.all(workers.map((w) => w.close()));
    log(`workload done: ${JSON.stringify(recorder.counts())}; batch calls ${JSON.stringify(recorder.batchCounts())}; faults ${JSON.stringify(nemesis.injected)}`);
    endPhase('faults');

    await nemesis.healAll();
    await admin.waitForLeader(60_000);
    const drained = await drainAll(recorder, openClient, workloadUsers(workload), log);
    recorder.flush();
    writer.close();
    let backlogCheck: BacklogCheck | null = null;
    if (fill !== null) {
      backlogCheck = await checkBacklog(openClient, fill, Date.now() + 120_000);
      log(`backlog: counted ${backlogCheck.counted} (must be ${backlogCheck.min}..${backlogCheck.max}), ${backlogCheck.wrong.length} mailboxes wrong, ${backlogCheck.unread.length} unread`);
    }
    const snapshots = cluster.ids.flatMap((id) => snapshotEvents(id, cluster.logs(id), faultsFrom, faultsUntil));
    endPhase('drain');

    report = {
      seed: opts.seed,
      nodes: opts.nodes,
      timeSec: opts.timeSec,
      unsafe: opts.unsafe ?? null,
      historyPath,
      clusterDir: cluster.dir,
      ops: { total: 0, byOutcome: { ok: 0, fail: 0, info: 0 }, byKind: {}, batches: {}, unanswered: {} },
      faults: nemesis.injected,
      drained,
      malformedReplies: recorder.malformed,
      totalQueue: null,
      availability: null,
      linearizability: null,
      checkError: null,
      unexpectedExits: nemesis.unexpectedExits,
      backlog:
        opts.backlog === undefined || fill === null
          ? null
          : {
              messages: opts.backlog.messages,
              mailboxes: opts.backlog.mailboxes,
              bodyBytes: opts.backlog.bodyBytes,
              fillSeconds: fill.seconds,
              fillErrors: fill.errors,
              restarts,
              check: backlogCheck,
            },
      snapshotEntries,
      snapshots,
      phases,
      clean: false,
    };
    // The two checks run apart so that the total-queue verdict survives a failure of the other.
    try {
      const history = await readHistory(historyPath);
      report.availability = measureAvailability(history.ops, nemesis.windows);
      report.totalQueue = checkTotalQueue(history.ops);
      const limit = opts.checkTimeoutMs ?? 120_000;
      report.linearizability = await checkLinearizability({ path: historyPath }, { timeoutMs: limit, deadlineMs: limit });
    } catch (e) {
      report.checkError = errorText(e);
    }
    endPhase('check');
    report.clean =
      report.checkError === null &&
      report.totalQueue?.ok === true &&
      report.linearizability?.linearizable === true &&
      drained &&
      (report.backlog === null || report.backlog.check?.ok === true) &&
      recorder.malformed.length === 0 &&
      nemesis.unexpectedExits.length === 0;
    report.ops = tallyOps(recorder.counts(), recorder.batchCounts(), recorder.unansweredCounts());
    return report;
  } finally {
    writer.close();
    await admin.close();
    await cluster.stop(opts.keepFiles === true || report === null || !report.clean);
  }
}

function tallyOps(
  byKind: Partial<Record<OpKind, Readonly<Tally>>>,
  batches: Partial<Record<OpKind, Readonly<Tally>>>,
  unanswered: Readonly<Record<string, Readonly<Record<string, number>>>>,
): ChaosReport['ops'] {
  const out: ChaosReport['ops'] = { total: 0, byOutcome: { ok: 0, fail: 0, info: 0 }, byKind: {}, batches: {}, unanswered: {} };
  for (const [kind, causes] of Object.entries(unanswered)) out.unanswered[kind] = { ...causes };
  for (const [kind, tally] of Object.entries(batches) as Array<[OpKind, Tally]>) out.batches[kind] = { ...tally };
  for (const [kind, tally] of Object.entries(byKind) as Array<[OpKind, Tally]>) {
    out.byKind[kind] = { ...tally };
    for (const o of ['ok', 'fail', 'info'] as const) {
      out.byOutcome[o] += tally[o];
      out.total += tally[o];
    }
  }
  return out;
}

/** A client session for the runner's own questions, reopened whenever it stops answering. */
class AdminClient {
  private client: ForgeMailboxClient | null = null;

  constructor(private readonly open: () => Promise<ForgeMailboxClient>) {}

  async leader(): Promise<string | null> {
    try {
      this.client ??= await this.open();
      const pending = this.client.status();
      pending.catch(() => {});
      const st = (await Promise.race([pending, sleep(2000).then(() => 'silent' as const)])) as
        | { role?: string; node?: string }
        | 'silent';
      // A session that stays silent may be dead (router restarted): start a new one next time.
      if (st === 'silent') throw new Error('status request unanswered');
      return st.role === 'leader' && typeof st.node === 'string' ? st.node : null;
    } catch {
      await this.close();
      return null;
    }
  }

  /** remove-node, retried until done (UNKNOWN_NODE after a retry means an earlier attempt did it). */
  async removeNode(node: string): Promise<void> {
    await this.retried(`remove-node ${node}`, (c) => c.removeNode(node), 'UNKNOWN_NODE');
  }

  /** add-node at this machine's address, retried until done (ALREADY_MEMBER: an earlier attempt did it). */
  async addNode(node: string, port: number): Promise<void> {
    await this.retried(`add-node ${node}`, (c) => c.addNode(node, '127.0.0.1', port, { catchUpMs: 30_000 }), 'ALREADY_MEMBER');
  }

  private async retried(what: string, call: (c: ForgeMailboxClient) => Promise<unknown>, doneCode: string): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        this.client ??= await this.open();
        await call(this.client);
        return;
      } catch (e) {
        if (e instanceof MailboxClientError && e.code === doneCode) return;
        if (Date.now() > deadline) throw new Error(`${what} did not succeed in time: ${errorText(e)}`);
        if (!(e instanceof MailboxClientError) || e.code === 'TIMEOUT') await this.close();
        await sleep(500);
      }
    }
  }

  /**
   * Polls until node `id` is a follower or the leader that has applied the commit index its
   * cluster reports; returns that index.
   */
  async waitCaughtUp(id: string, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        this.client ??= await this.open();
        const all = (await this.client.nodeStatuses()) as Array<{ node: string; role: string; commitIndex: number; appliedIndex: number }>;
        const commit = Math.max(...all.map((s) => s.commitIndex));
        const me = all.find((s) => s.node === id);
        if (me !== undefined && (me.role === 'follower' || me.role === 'leader') && me.appliedIndex >= commit) return commit;
      } catch (e) {
        if (!(e instanceof MailboxClientError) || e.code === 'TIMEOUT') await this.close();
      }
      await sleep(200);
    }
    throw new Error(`${id} not caught up within ${timeoutMs} ms`);
  }

  async waitForLeader(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leader = await this.leader();
      if (leader !== null) return leader;
      await sleep(200);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c !== null) await Promise.race([c.close().catch(() => {}), sleep(2000)]);
  }
}

/**
 * Empties every user's mailbox and dead-letter queue with recorded consumes (request ids, so an
 * indeterminate one can be retried), waits out leases still running, and ends each user with
 * fresh empty consumes and a len of zero. False when some user could not be drained in time.
 */
async function drainAll(
  recorder: HistoryRecorder,
  openClient: () => Promise<ForgeMailboxClient>,
  users: { plain: string[]; leased: string[] },
  log: (line: string) => void,
): Promise<boolean> {
  const drainer = new Drainer(recorder, openClient);
  const deadline = Date.now() + 120_000;
  try {
    let all = true;
    for (const user of [...users.plain, ...users.leased]) {
      const ok = await drainer.drainUser(user, deadline);
      if (!ok) log(`drain: ${user} could not be drained`);
      all &&= ok;
    }
    return all;
  } finally {
    await drainer.close();
  }
}

class Drainer {
  private client: ForgeMailboxClient | null = null;
  private process: number;
  private nextRequest = 0;

  constructor(
    private readonly recorder: HistoryRecorder,
    private readonly open: () => Promise<ForgeMailboxClient>,
  ) {
    this.process = recorder.newProcess();
  }

  async drainUser(user: string, deadline: number): Promise<boolean> {
    while (Date.now() < deadline) {
      const main = await this.takeAll(user, false, deadline);
      const dead = await this.takeAll(user, true, deadline);
      if (main === null || dead === null) return false;
      const stats = await this.len(user);
      const empty = stats !== null && stats.count === 0 && stats.inFlight === 0 && stats.deadLetterCount === 0;
      if (empty && main.taken === 0 && dead.taken === 0 && main.fresh && dead.fresh) return true;
      // Leased messages come back when their lease runs out (the leader's expiry sweep).
      if (!empty) await sleep(300);
    }
    return false;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c !== null) await Promise.race([c.close().catch(() => {}), sleep(2000)]);
  }

  /**
   * Consumes until an answer says empty. `fresh` tells whether that empty answer came from the
   * first use of its request id (a retry could replay an older answer, which proves nothing).
   */
  private async takeAll(user: string, deadLetter: boolean, deadline: number): Promise<{ taken: number; fresh: boolean } | null> {
    let taken = 0;
    let requestId = `drain-r${++this.nextRequest}`;
    let attempts = 0;
    while (Date.now() < deadline) {
      const client = await this.connected(deadline);
      if (client === null) return null;
      attempts++;
      const input = { requestId, ...(deadLetter ? { deadLetter: true } : {}) };
      const r = await this.recorder.run<ConsumeOp>({ op: 'consume', client: 'drain', process: this.process, user, input }, async () => {
        const m = await client.consume(user, input);
        return { message: m === null ? null : messageRecord(m) };
      });
      if (r.outcome === 'info') await this.abandon();
      if (r.outcome !== 'ok') {
        await sleep(200);
        continue; // same request id: the retry gets the answer the first attempt may have had
      }
      if (r.value?.message === null) return { taken, fresh: attempts === 1 };
      taken++;
      requestId = `drain-r${++this.nextRequest}`;
      attempts = 0;
    }
    return null;
  }

  private async len(user: string): Promise<{ count: number; inFlight: number; deadLetterCount: number } | null> {
    const client = await this.connected(Date.now() + 10_000);
    if (client === null) return null;
    const r = await this.recorder.run({ op: 'len', client: 'drain', process: this.process, user, input: {} }, async () => {
      const s = await client.len(user);
      return { count: s.count, inFlight: s.inFlight, deadLetterCount: s.deadLetterCount };
    });
    if (r.outcome === 'info') await this.abandon();
    return r.value as { count: number; inFlight: number; deadLetterCount: number } | null;
  }

  private async abandon(): Promise<void> {
    this.process = this.recorder.newProcess();
    await this.close();
  }

  private async connected(deadline: number): Promise<ForgeMailboxClient | null> {
    while (this.client === null) {
      if (Date.now() >= deadline) return null;
      try {
        this.client = await this.open();
      } catch {
        await sleep(250);
      }
    }
    return this.client;
  }
}

/** The verdict as text: counts first, then whatever went wrong. */
export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  const t = (x: Tally) => `ok ${x.ok}, fail ${x.fail}, info ${x.info}`;
  lines.push(
    `chaos: seed ${r.seed}, ${r.nodes} nodes, ${r.timeSec} s${r.unsafe === null ? '' : `, UNSAFE build mode "${r.unsafe}"`}`,
  );
  lines.push(`ops: ${r.ops.total} (${t(r.ops.byOutcome)})`);
  for (const [kind, tally] of Object.entries(r.ops.byKind)) lines.push(`  ${kind.padEnd(8)} ${t(tally)}`);
  for (const [kind, tally] of Object.entries(r.ops.batches)) lines.push(`  ${kind} batch calls (one op per message above): ${t(tally)}`);
  const unanswered = Object.entries(r.ops.unanswered).sort(([a], [b]) => a.localeCompare(b));
  if (unanswered.length > 0) {
    const causes = (c: Record<string, number>) => Object.entries(c).sort(([, a], [, b]) => b - a).map(([code, n]) => `${code} ${n}`).join(', ');
    lines.push(`  info by cause: ${unanswered.map(([kind, c]) => `${kind}: ${causes(c)}`).join('; ')}`);
  }
  const faults = Object.entries(r.faults).filter(([, n]) => n > 0);
  lines.push(`faults: ${faults.reduce((s, [, n]) => s + n, 0)} (${faults.map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`);
  const av = r.availability;
  if (av !== null) {
    const ms = (v: number | null) => (v === null ? 'never served' : `${v} ms`);
    lines.push(`availability: longest time without a served request after a fault's start / heal, cut at the next fault's start (target: 1 s for single-node faults)`);
    for (const [kind, g] of Object.entries(av.byKind)) {
      lines.push(`  ${kind.padEnd(18)} ${String(g.faults).padStart(3)}x  after start ${ms(g.afterStartMaxMs).padStart(8)}  after heal ${ms(g.afterHealMaxMs).padStart(8)}`);
    }
    lines.push(`  longest gap between served requests in the whole run: ${av.longestGapMs} ms` + (av.worst === null ? '' : `; worst fault: ${av.worst.kind} ${av.worst.target}, ${av.worst.gapMs} ms after its ${av.worst.after}`));
  }
  const tq = r.totalQueue;
  if (tq !== null) {
    const c = tq.counts;
    lines.push(
      `total queue: ${tq.ok ? 'ok' : 'FAILED'}: messages ${c.messages}, acknowledged ${c.acknowledged}, taken ${c.taken}, ` +
        `lost ${c.lost}, duplicated ${c.duplicated}, unexpected ${c.unexpected}, maybe-consumed ${c.maybeConsumed}, ` +
        `recovered ${c.recovered}, redeliveries ${c.redeliveries}`,
    );
    const problems = totalQueueProblems(tq);
    for (const [name, list] of Object.entries(problems)) {
      if (list.length > 0) lines.push(`  ${name} (${list.length}): ${JSON.stringify(list.slice(0, 10))}${list.length > 10 ? ' ...' : ''}`);
    }
  }
  const lin = r.linearizability;
  if (lin !== null) {
    lines.push(`linearizable: ${lin.linearizable ? 'yes' : 'NO'} (${lin.users} users checked${lin.timedOut ? ', some timed out' : ''})`);
    for (const [user, u] of Object.entries(lin.perUser)) {
      if (u.result === 'ok') continue;
      const detail = [
        u.reason,
        `${u.checkedOps} ops checked, ${u.indeterminate} unanswered, ${u.unbounded} of them unbounded`,
        u.stuckOps && `stuck ops ${u.stuckOps.slice(0, 5).join(',')}`,
        u.visualization,
      ].filter(Boolean);
      lines.push(`  ${user}: ${u.result}${detail.length > 0 ? ` (${detail.join('; ')})` : ''}`);
    }
  }
  if (r.malformedReplies.length > 0) {
    lines.push(`malformed replies (${r.malformedReplies.length}):`);
    for (const m of r.malformedReplies.slice(0, 5)) lines.push(`  ${m}`);
  }
  const b = r.backlog;
  if (b !== null) {
    lines.push(
      `backlog: ${b.messages} messages of ${b.bodyBytes} bytes over ${b.mailboxes} mailboxes, filled in ${b.fillSeconds.toFixed(1)} s ` +
        `(${Math.round(b.messages / b.fillSeconds)}/s)${Object.keys(b.fillErrors).length > 0 ? `, errors retried ${JSON.stringify(b.fillErrors)}` : ''}`,
    );
    if (b.restarts.length > 0) lines.push(`  restarted after the fill, ms until caught up: ${b.restarts.map((x) => `${x.node} ${x.ms}`).join(', ')}`);
    const c = b.check;
    if (c !== null) {
      lines.push(`  counted after the run: ${c.ok ? 'ok' : 'FAILED'}: ${c.counted} (must be ${c.min}..${c.max})`);
      for (const w of c.wrong.slice(0, 10)) lines.push(`  ${w.user}: ${JSON.stringify(w)}`);
      if (c.unread.length > 0) lines.push(`  could not be read: ${c.unread.slice(0, 10).join(', ')}${c.unread.length > 10 ? ' ...' : ''}`);
    }
  }
  if (r.snapshotEntries !== null || r.snapshots.length > 0) {
    lines.push(`snapshots${r.snapshotEntries === null ? '' : ` (every ${r.snapshotEntries} entries)`}:${r.snapshots.length === 0 ? ' none' : ''}`);
    for (const l of formatSnapshotActivity(r.snapshots)) lines.push(`  ${l}`);
  }
  if (!r.drained) lines.push('drain: some mailbox could not be drained after healing');
  for (const e of r.unexpectedExits) lines.push(`storage fault not handled as it must be: ${e}`);
  if (r.checkError !== null) lines.push(`checker error: ${r.checkError}`);
  lines.push(`phases: ${r.phases.map((p) => `${p.phase} ${p.seconds.toFixed(1)} s`).join(', ')}`);
  lines.push(`history: ${r.historyPath}`);
  if (!r.clean) lines.push(`cluster data and node logs kept in ${r.clusterDir}`);
  lines.push(`verdict: ${r.clean ? 'CLEAN' : 'ANOMALIES FOUND'}`);
  return lines.join('\n');
}
