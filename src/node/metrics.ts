// Operator metrics in the Prometheus text format (prom-client); served by ops-server.ts at /metrics.
// Counters and histograms are fed as things happen; gauges (and the counters that mirror a running
// total kept elsewhere) are read from the node when scraped, so a scrape always sees current Raft
// and mailbox state and costs nothing between scrapes.
//
// Names follow the Prometheus conventions (and etcd's, e.g. etcd_server_is_leader): one quantity
// per metric, base units in the name (`_seconds`, `_bytes`), `_total` only on counters, no label
// that tells quantities apart. test/node/metric-names.test.ts holds us to that. User ids appear as
// label values only with `metrics.perUserDepth` on.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, type ELDHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MailboxTotals } from '../mailbox/mailbox.js';
import type { PeerStats } from '../raft/tcp-transport.js';
import { repoRoot } from '../repo-root.js';

export interface MetricsSource {
  raft(): {
    isLeader: boolean;
    /** The leader known in the current term, or null (an election). */
    leader: string | null;
    term: number;
    commitIndex: number;
    appliedIndex: number;
    /** Entries each follower is behind the leader's last index (leader only; empty elsewhere). */
    followerLag: Record<string, number>;
    /** Why the Raft loop halted (a storage failure), or null while it runs. */
    halted: string | null;
    /** Log entries held in memory (after the last snapshot). */
    logEntries: number;
  };
  transport(): Record<string, PeerStats>;
  mailbox(topN: number): MailboxTotals;
  /** Wall-clock ms since the oldest message waiting to be consumed was put (leased ones apart); null when none. */
  oldestMessageAgeMs(): number | null;
  disk(): { freeBytes: number | null; minFreeBytes: number; low: boolean };
  /** Long-poll consumes waiting on this node now. */
  parkedConsumers(): number;
}

export interface MetricsOptions {
  /** Export the depth of the deepest mailboxes labelled by user id (README: Metrics). Off by default. */
  perUserDepth?: boolean;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const TOP_MAILBOXES = 10;
/**
 * Sampling period of the event-loop delay monitor, in ms. A pause shorter than this can go unseen;
 * the ones that matter here (a Raft loop blocked past a heartbeat, 10s of ms and up) are not.
 */
const EVENT_LOOP_RESOLUTION_MS = 5;

/** `read` computed at most once per macrotask: the collect callbacks of one scrape share its result. */
function oncePerScrape<T>(read: () => T): () => T {
  let cached: { value: T } | null = null;
  return () => {
    if (cached === null) {
      cached = { value: read() };
      setImmediate(() => (cached = null));
    }
    return cached.value;
  };
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly commitLatency: Histogram;
  readonly readLatency: Histogram;
  readonly applyLatency: Histogram;
  readonly proposalStage: Histogram<'stage'>;
  readonly logSyncs: Counter;
  readonly requestStage: Histogram<'stage'>;
  readonly proposals: Counter<'op' | 'outcome'>;
  readonly reads: Counter<'op' | 'outcome'>;
  readonly leaderChanges: Counter;
  readonly loopStalls: Counter;
  readonly parkedWakeups: Counter;
  readonly parkedReleased: Counter<'reason'>;
  /** Event-loop delay since start: a blocked loop sends no heartbeats, answers no clients. */
  private readonly loopDelay: ELDHistogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  /** Garbage collections, the other thing that pauses the loop: a heap of queued messages makes them long. */
  private readonly gcObserver: PerformanceObserver;
  private gcMaxMs = 0;

  constructor(source: MetricsSource, labels: { node: string }, options: MetricsOptions = {}) {
    const registers = [this.registry];
    // The mailbox totals are read once per scrape, not once per metric that reads them (with
    // perUserDepth they walk every mailbox for the deepest).
    const totals = oncePerScrape(() => source.mailbox(0));
    this.registry.setDefaultLabels(labels);
    // process_* and nodejs_* (CPU, memory, heap, handles, GC durations, event-loop lag).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });

    new Gauge({ name: 'forge_build_info', help: 'Always 1; the labels say which build runs', labelNames: ['version', 'node_version'], registers }).set(
      { version: packageVersion(), node_version: process.version },
      1,
    );

    // ---- requests
    this.commitLatency = new Histogram({
      name: 'forge_commit_latency_seconds',
      help: 'Proposal to committed-and-applied result, on the leader',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.readLatency = new Histogram({
      name: 'forge_read_latency_seconds',
      help: 'Linearizable read (ReadIndex round + catch-up) to answer',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.proposalStage = new Histogram({
      name: 'forge_proposal_stage_seconds',
      help: "Where a proposal's time goes on the leader: stage write (proposed to durable in its own log; only when that came before the commit), commit (proposed to committed on a majority), apply (committed to applied)",
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.requestStage = new Histogram({
      name: 'forge_request_stage_seconds',
      help: "Where a request's time goes in the bridge: stage handle (arrived to result: authorization and the node's work), reply (result to replies handed to the router); long polls that waited are not counted",
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.applyLatency = new Histogram({
      name: 'forge_apply_batch_seconds',
      help: 'Time the state machine took to apply one batch of committed entries',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.logSyncs = new Counter({
      name: 'forge_raft_log_syncs_total',
      help: 'Synced saves of Raft log entries or hard state by this node (one fsync each)',
      registers,
    });
    this.proposals = new Counter({
      name: 'forge_proposals_total',
      help: 'Mailbox commands proposed by this node, by operation and outcome (ok, rejected, or the error code)',
      labelNames: ['op', 'outcome'],
      registers,
    });
    this.reads = new Counter({
      name: 'forge_reads_total',
      help: 'Linearizable reads served by this node, by operation (peek, len, and consumes answered without a log entry: nothing to take) and outcome',
      labelNames: ['op', 'outcome'],
      registers,
    });

    // ---- Raft
    this.leaderChanges = new Counter({
      name: 'forge_leader_changes_total',
      help: 'Times this node saw the cluster leader change',
      registers,
    });
    this.loopStalls = new Counter({
      name: 'forge_event_loop_stalls_total',
      help: 'Event-loop stalls over 200 ms (each logged as "event loop stalled", with the garbage collection inside it)',
      registers,
    });
    gauge('forge_raft_term', 'Current Raft term of this node', () => source.raft().term);
    gauge('forge_raft_commit_index', 'Highest log index this node knows committed', () => source.raft().commitIndex);
    gauge('forge_raft_applied_index', 'Highest log index applied to the state machine of this node', () => source.raft().appliedIndex);
    gauge('forge_raft_is_leader', '1 if this node is the leader', () => (source.raft().isLeader ? 1 : 0));
    gauge('forge_raft_has_leader', '1 if this node knows a leader in its current term (0 during an election)', () =>
      source.raft().leader === null ? 0 : 1,
    );
    gauge('forge_raft_halted', '1 once the Raft loop halted on a storage failure (GET /livez is then 503)', () =>
      source.raft().halted === null ? 0 : 1,
    );
    gauge('forge_raft_log_entries', 'Raft log entries held in memory by this node (those after the snapshot its log was compacted to; a leader keeps more for a follower catching up)', () => source.raft().logEntries);
    new Gauge({
      name: 'forge_replication_lag_entries',
      help: 'Log entries each follower is behind the leader (reported by the leader)',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        for (const [peer, lag] of Object.entries(source.raft().followerLag)) this.set({ peer }, lag);
      },
    });

    // ---- peer links
    const peerGauge = (name: string, help: string, read: (s: PeerStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['peer'],
        registers,
        collect() {
          this.reset();
          for (const [peer, s] of Object.entries(source.transport())) this.set({ peer }, read(s));
        },
      });
    // Running totals the transport keeps: counters, set to the total at scrape time (a link made
    // anew starts again from 0, which rate() reads as a counter reset).
    const peerCounter = (name: string, help: string, read: (s: PeerStats) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['peer'],
        registers,
        collect() {
          this.reset();
          for (const [peer, s] of Object.entries(source.transport())) this.inc({ peer }, read(s));
        },
      });
    peerGauge('forge_peer_connected', '1 while the Raft link to the peer is up', (s) => (s.connected ? 1 : 0));
    peerGauge('forge_peer_queued_bytes', 'Bytes queued for the peer, not yet written to its socket', (s) => s.queuedBytes);
    peerCounter('forge_peer_sent_frames_total', 'Frames written to the peer', (s) => s.sent);
    peerCounter('forge_peer_dropped_frames_total', 'Frames dropped because the queue for the peer was full', (s) => s.dropped);
    peerCounter('forge_peer_silent_teardowns_total', 'Links to the peer cut because it heard nothing for the liveness timeout', (s) => s.silentTeardowns);

    // ---- long polls
    this.parkedWakeups = new Counter({
      name: 'forge_parked_consumer_wakeups_total',
      help: 'Waiting long-poll consumes woken to take a message (one per message made visible while some waited)',
      registers,
    });
    this.parkedReleased = new Counter({
      name: 'forge_parked_consumers_released_total',
      help: 'Waiting long-poll consumes answered at once with an error because this node stopped leading or stopped',
      labelNames: ['reason'],
      registers,
    });
    gauge('forge_parked_consumers', 'Long-poll consumes (consume?wait=) waiting on this node', () => source.parkedConsumers());

    // ---- mailbox
    gauge('forge_mailbox_messages', 'Messages waiting in the mailboxes of this replica, leased ones included, dead letters not', () => totals().messages);
    gauge('forge_mailbox_bytes', 'Body bytes of forge_mailbox_messages', () => totals().bytes);
    gauge('forge_mailbox_dead_letters', 'Messages in the dead-letter queues', () => totals().deadLetters);
    gauge('forge_mailboxes', 'Mailboxes holding anything', () => totals().mailboxes);
    new Counter({
      name: 'forge_mailbox_expired_total',
      help: 'Messages removed by expiry since this process started',
      registers,
      collect() {
        this.reset();
        this.inc(totals().expiredTotal);
      },
    });
    gauge('forge_mailbox_oldest_message_age_seconds', 'Age of the oldest message waiting to be consumed, leased ones and dead letters apart (0 when none)', () => (source.oldestMessageAgeMs() ?? 0) / 1000);
    gauge('forge_mailbox_held_messages', 'Messages the cluster quota counts (dead letters included)', () => totals().usage.messages);
    gauge('forge_mailbox_held_bytes', 'Body bytes the cluster quota counts (dead letters included)', () => totals().usage.bytes);
    gauge('forge_mailbox_quota_messages', 'Cluster quota: messages held by all mailboxes together', () => totals().quotas.maxMessages);
    gauge('forge_mailbox_quota_bytes', 'Cluster quota: body bytes held by all mailboxes together', () => totals().quotas.maxBytes);
    gauge('forge_mailbox_quota_mailboxes', 'Cluster quota: mailboxes holding anything', () => totals().quotas.maxMailboxes);
    gauge('forge_mailbox_put_ids', 'Put ids remembered (the put id table; expired ones not yet forgotten included)', () => totals().putIds);
    gauge('forge_mailbox_quota_put_ids', 'Cluster quota: put ids remembered at once', () => totals().quotas.maxPutIds);
    gauge('forge_mailbox_consume_results', 'Consume results remembered for request-id retries (expired ones not yet forgotten included)', () => totals().consumeResults);
    gauge('forge_mailbox_quota_consume_results', 'Cluster quota: consume results remembered at once', () => totals().quotas.maxConsumeResults);
    if (options.perUserDepth === true) {
      new Gauge({
        name: 'forge_mailbox_depth',
        help: `Messages waiting in each of the ${TOP_MAILBOXES} deepest mailboxes, by user id (metrics.perUserDepth)`,
        labelNames: ['user'],
        registers,
        collect() {
          this.reset();
          for (const t of source.mailbox(TOP_MAILBOXES).top) this.set({ user: t.user }, t.count);
        },
      });
    }

    // ---- bodies (node-local cache of the queued messages' bodies, <dataDir>/bodies)
    gauge('forge_body_store_live_bytes', "Bytes of the messages this node's state holds (bodies and client ids), in its body store", () => totals().bodyStore.liveBytes);
    gauge('forge_body_store_stored_bytes', "Bytes of this node's body store segment files: the live bytes plus the released messages of segments not yet deleted", () => totals().bodyStore.storedBytes);

    // ---- disk
    gauge('forge_disk_free_bytes', 'Free bytes on the data directory\'s file system, as last measured (-1 before the first measure)', () => source.disk().freeBytes ?? -1);
    gauge('forge_disk_min_free_bytes', 'disk.minFreeBytes: below it puts are refused', () => source.disk().minFreeBytes);
    gauge('forge_disk_low', '1 while free space is below disk.minFreeBytes (puts refused)', () => (source.disk().low ? 1 : 0));

    // ---- process pauses
    const loopDelay = this.loopDelay;
    loopDelay.enable();
    this.gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.gcMaxMs = Math.max(this.gcMaxMs, e.duration);
    });
    this.gcObserver.observe({ entryTypes: ['gc'] });
    // process_resident_memory_bytes and nodejs_heap_size_{used,total}_bytes, nodejs_external_memory_bytes
    // come with the default metrics; not V8's limit, where it gives up with out of memory.
    gauge('forge_v8_heap_limit_bytes', 'V8 heap size limit of this process: out of memory there (see docs/performance.md for what a deep backlog costs)', () => getHeapStatistics().heap_size_limit);
    gauge('forge_gc_pause_max_seconds', 'Longest garbage collection of this process since it started', () => this.gcMaxMs / 1000);
    // Nanoseconds; the histogram reports 0 rather than nothing before its first sample.
    gauge('forge_event_loop_delay_max_seconds', 'Longest event-loop pause of this process since it started (perf_hooks.monitorEventLoopDelay)', () => loopDelay.max / 1e9);
  }

  close(): void {
    this.loopDelay.disable();
    this.gcObserver.disconnect();
  }
}
