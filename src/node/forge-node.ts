// A forge-mailbox node: the Raft driver on LevelDB and TCP, the mailbox state machine it
// replicates, and the Zenoh bridge that serves clients. This is the wiring, and the
// implementation of the MailboxService the bridge calls.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ForgeConfig } from '../config/schema.js';
import type { Logger } from '../logging.js';
import { RaftDriver } from '../raft/driver.js';
import { LevelStorage } from '../raft/level-storage.js';
import { TcpTransport } from '../raft/tcp-transport.js';
import { RaftError, type SoftState } from '../raft/types.js';
import { decodeResult, encodeCommand } from '../mailbox/codec.js';
import type { MailboxCommand, MailboxQuery, MailboxResult } from '../mailbox/commands.js';
import { MailboxStateMachine } from '../mailbox/replicated.js';
import type { MailboxService } from '../bridge/mailbox-service.js';
import { ZenohBridge } from '../bridge/zenoh-bridge.js';
import { NodeMetrics } from './metrics.js';

const ROUTER_WATCH_MS = 500;
const ROUTER_LOSS_HANDOFF_MS = 3000;
const ROUTER_HANDOFF_COOLDOWN_MS = 15_000;

export class ForgeNode implements MailboxService {
  readonly driver: RaftDriver;
  private readonly transport: TcpTransport;
  private readonly stateMachine: MailboxStateMachine;
  private readonly bridge: ZenohBridge;
  readonly metrics: NodeMetrics;
  private lastLeader: string | null = null;
  private expireTimer: NodeJS.Timeout | null = null;
  private routerWatch: NodeJS.Timeout | null = null;
  private routerLostSince: number | null = null;
  private lastRouterHandoff = 0;
  private stopping = false;

  /** Opens the node's LevelDB and builds the node; `start()` then joins the cluster and Zenoh. */
  static async open(config: ForgeConfig, log: Logger): Promise<ForgeNode> {
    mkdirSync(config.dataDir, { recursive: true });
    const storage = await LevelStorage.open(join(config.dataDir, 'raft'));
    return new ForgeNode(config, log, storage);
  }

  private constructor(
    private readonly config: ForgeConfig,
    private readonly log: Logger,
    storage: LevelStorage,
  ) {
    const self = config.peers[config.nodeId]!;
    // A frame must hold the largest message Raft may send: a full AppendEntries, a snapshot chunk,
    // or one entry carrying the largest body; the queue must hold at least two such frames.
    const maxFrameBytes =
      Math.max(config.raft.maxBytesPerMsg, config.raft.snapshotChunkBytes, config.mailbox.maxBodyBytes) + 1024 * 1024;
    // One window for both put ids and consume request ids: the retry horizon clients are promised.
    this.stateMachine = new MailboxStateMachine({ ...config.mailbox, requestWindowMs: config.mailbox.dedupeWindowMs });
    this.transport = new TcpTransport({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      secret: config.secret,
      listenHost: config.listen.host ?? self.host,
      listenPort: config.listen.port ?? self.port,
      peers: Object.fromEntries(Object.entries(config.peers).filter(([id]) => id !== config.nodeId)),
      maxFrameBytes,
      maxQueueBytes: Math.max(2 * maxFrameBytes, 8 * config.raft.maxBytesPerMsg),
      logger: log.child({ component: 'transport' }),
    });
    this.driver = new RaftDriver({
      core: {
        id: config.nodeId,
        electionTick: config.raft.electionTicks,
        heartbeatTick: config.raft.heartbeatTicks,
        preVote: true,
        checkQuorum: true,
        maxInflightMsgs: config.raft.maxInflightMsgs,
        maxEntriesPerMsg: config.raft.maxEntriesPerMsg,
        maxBytesPerMsg: config.raft.maxBytesPerMsg,
        maxUncommittedBytes: config.raft.maxUncommittedBytes,
        snapshotChunkBytes: config.raft.snapshotChunkBytes,
      },
      initialMembership: { voters: Object.keys(config.peers).sort(), learners: [] },
      storage,
      transport: this.transport,
      stateMachine: this.stateMachine,
      tickMs: config.raft.tickMs,
      requestTimeoutMs: config.raft.requestTimeoutMs,
      snapshotEntries: config.raft.snapshotEntries,
      logger: log.child({ component: 'raft' }),
      onApplyBatch: (_n, seconds) => this.metrics.applyLatency.observe(seconds),
    });
    this.metrics = new NodeMetrics(
      {
        raft: () => {
          const st = this.driver.status();
          const followerLag: Record<string, number> = {};
          if (st.role === 'leader') {
            for (const [id, p] of Object.entries(st.progress)) if (id !== config.nodeId) followerLag[id] = st.lastIndex - p.match;
          }
          return { isLeader: st.role === 'leader', term: st.term, commitIndex: st.commit, appliedIndex: st.applied, followerLag };
        },
        transport: () => this.transport.stats(),
        mailbox: (topN) => this.stateMachine.mailbox.totals(topN),
      },
      { node: config.nodeId },
    );
    this.bridge = new ZenohBridge({
      routerUrl: config.zenoh.router,
      keyPrefix: config.zenoh.keyPrefix,
      nodeId: config.nodeId,
      maxBodyBytes: config.mailbox.maxBodyBytes,
      service: this,
      logger: log.child({ component: 'bridge' }),
    });
  }

  async start(): Promise<void> {
    await this.transport.start();
    await this.driver.start();
    this.driver.onRoleChange((s) => this.onRole(s));
    this.bridge.start();
    this.routerWatch = setInterval(() => this.watchRouter(), ROUTER_WATCH_MS);
    if (this.config.metrics.port > 0) {
      const port = await this.metrics.listen(this.config.metrics.host, this.config.metrics.port);
      this.log.info({ url: `http://${this.config.metrics.host}:${port}/metrics` }, 'serving Prometheus metrics');
    }
    this.log.info({ peers: Object.keys(this.config.peers), router: this.config.zenoh.router }, 'node started');
  }

  /** Graceful stop: stop taking requests, hand leadership over, let in-flight work finish, close the disk. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({}, 'stopping');
    this.setExpiry(false);
    if (this.routerWatch) clearInterval(this.routerWatch);
    await this.bridge.stop();
    const transferred = await this.driver.transferLeadership(2000);
    if (!transferred) this.log.warn({}, 'leadership transfer did not complete before shutdown');
    await this.driver.stop();
    await this.transport.close();
    await this.metrics.close();
    this.log.info({}, 'stopped');
  }

  isLeader(): boolean {
    return !this.stopping && this.driver.softState().role === 'leader';
  }

  onRoleChange(listener: (isLeader: boolean) => void): () => void {
    return this.driver.onRoleChange((s) => listener(!this.stopping && s.role === 'leader'));
  }

  async command(cmd: MailboxCommand): Promise<MailboxResult> {
    if (this.stopping) throw new RaftError('STOPPED', 'node is shutting down');
    const started = performance.now();
    try {
      const result = decodeResult(await this.driver.propose(encodeCommand(cmd)));
      this.metrics.commitLatency.observe((performance.now() - started) / 1000);
      this.metrics.proposals.inc({ op: cmd.op, outcome: result.kind === 'error' ? 'rejected' : 'ok' });
      return result;
    } catch (err) {
      this.metrics.proposals.inc({ op: cmd.op, outcome: err instanceof RaftError ? err.code : 'error' });
      throw err;
    }
  }

  async query(q: MailboxQuery): Promise<MailboxResult> {
    if (this.stopping) throw new RaftError('STOPPED', 'node is shutting down');
    const started = performance.now();
    try {
      await this.driver.readBarrier();
    } catch (err) {
      this.metrics.reads.inc({ op: q.op, outcome: err instanceof RaftError ? err.code : 'error' });
      throw err;
    }
    this.metrics.readLatency.observe((performance.now() - started) / 1000);
    this.metrics.reads.inc({ op: q.op, outcome: 'ok' });
    return this.stateMachine.query(q, Date.now());
  }

  async status(): Promise<unknown> {
    const st = this.driver.status();
    return {
      node: this.config.nodeId,
      role: st.role,
      leader: st.leader,
      term: st.term,
      commitIndex: st.commit,
      appliedIndex: st.applied,
      lastIndex: st.lastIndex,
      snapshotIndex: st.snapshotIndex,
      members: st.membership,
      followers:
        st.role === 'leader'
          ? Object.fromEntries(
              Object.entries(st.progress)
                .filter(([id]) => id !== this.config.nodeId)
                .map(([id, p]) => [id, { match: p.match, lag: st.lastIndex - p.match, state: p.state }]),
            )
          : undefined,
      transport: this.transport.stats(),
    };
  }

  /**
   * Only the leader serves clients, so a leader that lost its Zenoh router leaves clients of the
   * other routers with no service although Raft is healthy. After a grace period it hands
   * leadership to another voter (whose router is hopefully up); the cool-down bounds the
   * ping-pong when every router is down.
   */
  private watchRouter(): void {
    if (this.bridge.isConnected() || this.driver.softState().role !== 'leader') {
      this.routerLostSince = null;
      return;
    }
    const now = Date.now();
    this.routerLostSince ??= now;
    if (now - this.routerLostSince < ROUTER_LOSS_HANDOFF_MS || now - this.lastRouterHandoff < ROUTER_HANDOFF_COOLDOWN_MS) return;
    this.lastRouterHandoff = now;
    this.log.warn({ downMs: now - this.routerLostSince }, 'leader has no Zenoh router: handing leadership over');
    void this.driver.transferLeadership(2000).then((moved) => {
      if (!moved) this.log.warn({}, 'leadership handoff after router loss did not complete');
    });
  }

  private onRole(s: SoftState): void {
    if (s.leader !== null && s.leader !== this.lastLeader) {
      this.lastLeader = s.leader;
      this.metrics.leaderChanges.inc();
    }
    this.setExpiry(s.role === 'leader' && !this.stopping);
  }

  /** The leader proposes the expiry sweep periodically; time inside it comes from the log entry. */
  private setExpiry(on: boolean): void {
    if (on && !this.expireTimer) {
      this.expireTimer = setInterval(() => {
        this.command({ op: 'expire' }).catch((err: Error) => {
          if (!(err instanceof RaftError)) this.log.warn({ err }, 'expiry sweep failed');
        });
      }, this.config.mailbox.expireIntervalMs);
    } else if (!on && this.expireTimer) {
      clearInterval(this.expireTimer);
      this.expireTimer = null;
    }
  }
}
