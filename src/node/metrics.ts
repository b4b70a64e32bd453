// Operator metrics in the Prometheus text format (prom-client), served over HTTP at /metrics.
// Counters and histograms are fed as things happen; gauges are read from the node when scraped,
// so a scrape always sees current Raft and mailbox state and costs nothing between scrapes.

import { createServer, type Server } from 'node:http';
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MailboxTotals } from '../mailbox/mailbox.js';
import type { PeerStats } from '../raft/tcp-transport.js';

export interface MetricsSource {
  raft(): {
    isLeader: boolean;
    term: number;
    commitIndex: number;
    appliedIndex: number;
    /** Entries each follower is behind the leader's last index (leader only; empty elsewhere). */
    followerLag: Record<string, number>;
    /** Why the Raft loop halted (a storage failure), or null while it runs. */
    halted: string | null;
    /** Log entries held in memory: those after the last snapshot (taken or installed). */
    logEntries: number;
  };
  transport(): Record<string, PeerStats>;
  mailbox(topN: number): MailboxTotals;
  /** Long-poll consumes waiting on this node now. */
  parkedConsumers(): number;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const TOP_MAILBOXES = 10;
/**
 * Sampling period of the event-loop delay monitor, in ms. A pause shorter than this can go unseen;
 * the ones that matter here (a Raft loop blocked past a heartbeat, 10s of ms and up) are not.
 */
const EVENT_LOOP_RESOLUTION_MS = 5;

export class NodeMetrics {
  readonly registry = new Registry();
  readonly commitLatency: Histogram;
  readonly readLatency: Histogram;
  readonly applyLatency: Histogram;
  readonly proposals: Counter<'op' | 'outcome'>;
  readonly reads: Counter<'op' | 'outcome'>;
  readonly leaderChanges: Counter;
  readonly parkedWakeups: Counter;
  readonly parkedReleased: Counter<'reason'>;
  private server: Server | null = null;
  /** Event-loop delay since start: a blocked loop sends no heartbeats, answers no clients. */
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  /** Garbage collections, the other thing that pauses the loop: a heap of queued messages makes them long. */
  private readonly gcObserver: PerformanceObserver;
  private gcMaxMs = 0;

  constructor(
    private readonly source: MetricsSource,
    labels: { node: string },
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
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
    this.applyLatency = new Histogram({
      name: 'forge_apply_batch_seconds',
      help: 'Time the state machine took to apply one batch of committed entries',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.proposals = new Counter({
      name: 'forge_proposals_total',
      help: 'Mailbox commands proposed by this node, by operation and outcome',
      labelNames: ['op', 'outcome'],
      registers,
    });
    this.reads = new Counter({
      name: 'forge_reads_total',
      help: 'Linearizable reads served by this node, by operation (peek, len, and consumes answered without a log entry: nothing to take) and outcome',
      labelNames: ['op', 'outcome'],
      registers,
    });
    this.leaderChanges = new Counter({
      name: 'forge_leader_changes_total',
      help: 'Times this node saw the cluster leader change',
      registers,
    });
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
    new Gauge({
      name: 'forge_parked_consumers',
      help: 'Long-poll consumes (consume?wait=) waiting on this node',
      registers,
      collect() {
        this.set(source.parkedConsumers());
      },
    });
    new Gauge({
      name: 'forge_raft_state',
      help: 'Raft state of this node: term, commit_index, applied_index, is_leader, halted, log_entries (held in memory, after the last snapshot)',
      labelNames: ['field'],
      registers,
      collect() {
        const r = source.raft();
        this.set({ field: 'term' }, r.term);
        this.set({ field: 'commit_index' }, r.commitIndex);
        this.set({ field: 'applied_index' }, r.appliedIndex);
        this.set({ field: 'is_leader' }, r.isLeader ? 1 : 0);
        this.set({ field: 'halted' }, r.halted === null ? 0 : 1);
        this.set({ field: 'log_entries' }, r.logEntries);
      },
    });
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
    new Gauge({
      name: 'forge_peer_link',
      help: 'Raft peer link: connected (0/1), queued_bytes, dropped and sent message totals',
      labelNames: ['peer', 'field'],
      registers,
      collect() {
        this.reset();
        for (const [peer, s] of Object.entries(source.transport())) {
          this.set({ peer, field: 'connected' }, s.connected ? 1 : 0);
          this.set({ peer, field: 'queued_bytes' }, s.queuedBytes);
          this.set({ peer, field: 'dropped' }, s.dropped);
          this.set({ peer, field: 'sent' }, s.sent);
        }
      },
    });
    new Gauge({
      name: 'forge_mailbox',
      help: 'Mailbox totals on this replica: messages, bytes, dead_letters, expired_total, mailboxes',
      labelNames: ['field'],
      registers,
      collect() {
        const m = source.mailbox(0);
        this.set({ field: 'messages' }, m.messages);
        this.set({ field: 'bytes' }, m.bytes);
        this.set({ field: 'dead_letters' }, m.deadLetters);
        this.set({ field: 'expired_total' }, m.expiredTotal);
        this.set({ field: 'mailboxes' }, m.mailboxes);
      },
    });
    new Gauge({
      name: 'forge_body_store_bytes',
      help: 'Message bodies in this node\'s body store: live (bytes of the messages held) and stored (segment file bytes: live plus the dead bodies of segments not yet deleted)',
      labelNames: ['field'],
      registers,
      collect() {
        const b = source.mailbox(0).bodyStore;
        this.set({ field: 'live' }, b.liveBytes);
        this.set({ field: 'stored' }, b.storedBytes);
      },
    });
    new Gauge({
      name: 'forge_mailbox_quota',
      help: 'Cluster quotas (limit) and what they count now (used): messages, bytes, mailboxes',
      labelNames: ['quota', 'field'],
      registers,
      collect() {
        const { quotas, usage } = source.mailbox(0);
        for (const [quota, limit, used] of [
          ['messages', quotas.maxMessages, usage.messages],
          ['bytes', quotas.maxBytes, usage.bytes],
          ['mailboxes', quotas.maxMailboxes, usage.mailboxes],
        ] as const) {
          this.set({ quota, field: 'limit' }, limit);
          this.set({ quota, field: 'used' }, used);
        }
      },
    });
    const loopDelay = this.loopDelay;
    loopDelay.enable();
    this.gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.gcMaxMs = Math.max(this.gcMaxMs, e.duration);
    });
    this.gcObserver.observe({ entryTypes: ['gc'] });
    const gcMax = () => this.gcMaxMs / 1000;
    new Gauge({
      name: 'forge_gc_pause_max_seconds',
      help: 'Longest garbage collection of this process since it started',
      registers,
      collect() {
        this.set(gcMax());
      },
    });
    new Gauge({
      name: 'forge_process_memory_bytes',
      help:
        'Memory of this process: rss (resident), heap_used and heap_total (V8 heap: live and garbage objects, and what V8 reserved for them), ' +
        'heap_limit (where V8 gives up with out of memory), external (memory V8 objects hold outside the heap) and array_buffers (the part of it in ArrayBuffers); ' +
        'rss minus heap_total minus external is native: LevelDB, TLS, the WebAssembly of the Zenoh client, code and allocator slack',
      labelNames: ['field'],
      registers,
      collect() {
        const m = process.memoryUsage();
        this.set({ field: 'rss' }, m.rss);
        this.set({ field: 'heap_used' }, m.heapUsed);
        this.set({ field: 'heap_total' }, m.heapTotal);
        this.set({ field: 'heap_limit' }, getHeapStatistics().heap_size_limit);
        this.set({ field: 'external' }, m.external);
        this.set({ field: 'array_buffers' }, m.arrayBuffers);
      },
    });
    new Gauge({
      name: 'forge_event_loop_delay_max_seconds',
      help: 'Longest event-loop pause of this process since it started (perf_hooks.monitorEventLoopDelay)',
      registers,
      collect() {
        // Nanoseconds; the histogram reports 0 rather than nothing before its first sample.
        this.set(loopDelay.max / 1e9);
      },
    });
    new Gauge({
      name: 'forge_mailbox_depth',
      help: `Queued messages of the ${TOP_MAILBOXES} deepest mailboxes`,
      labelNames: ['user'],
      registers,
      collect() {
        this.reset();
        for (const t of source.mailbox(TOP_MAILBOXES).top) this.set({ user: t.user }, t.count);
      },
    });
  }

  /**
   * Serves GET /metrics on host:port, and GET /healthz for liveness probes: 200 while the Raft loop
   * runs, 503 with the cause once it halted. Resolves with the bound port (port 0 picks one).
   */
  listen(host: string, port: number): Promise<number> {
    this.server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/healthz') {
        const halted = this.source.raft().halted;
        if (halted === null) res.writeHead(200).end('ok\n');
        else res.writeHead(503).end(`halted: ${halted}\n`);
        return;
      }
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end('not found: GET /metrics or /healthz\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
    });
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  async close(): Promise<void> {
    this.loopDelay.disable();
    this.gcObserver.disconnect();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
