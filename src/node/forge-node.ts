// A forge-mailbox node: the Raft driver on LevelDB and TCP, the state machine it replicates (the
// mailbox and the peer directory), and the Zenoh bridge that serves clients. This is the wiring,
// and the implementation of the MailboxService and ClusterAdmin the bridge calls.
//
// Peer addresses: this node's configured `peers`, overlaid by the replicated peer directory, which
// holds the address of every member added with add-node. Every node learns it from the log (or a
// snapshot), so any node that becomes leader can reach the members added at run time, also after
// a restart. The directory is not seeded from the configuration: bootstrap nodes may list each
// other at different addresses (proxies, NAT), which a replicated record cannot express.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ForgeConfig } from '../config/schema.js';
import type { Logger } from '../logging.js';
import { RaftDriver } from '../raft/driver.js';
import { LevelStorage } from '../raft/level-storage.js';
import { TcpTransport } from '../raft/tcp-transport.js';
import { RaftError, type SoftState } from '../raft/types.js';
import { decodeResult } from '../mailbox/codec.js';
import { isMember } from '../raft/membership.js';
import { AdminError, type AdminOp, type ClusterAdmin, type MembershipView } from '../bridge/cluster-admin.js';
import {
  ClusterStateMachine,
  decodeDirectoryResult,
  encodeDirectoryEntry,
  encodeMailboxEntry,
  type PeerAddress,
} from './cluster-state-machine.js';
import type { MailboxCommand, MailboxQuery, MailboxResult } from '../mailbox/commands.js';
import { MailboxStateMachine } from '../mailbox/replicated.js';
import type { MailboxService } from '../bridge/mailbox-service.js';
import { ZenohBridge } from '../bridge/zenoh-bridge.js';
import { NodeMetrics } from './metrics.js';

const ROUTER_WATCH_MS = 500;
const ROUTER_LOSS_HANDOFF_MS = 3000;
const ROUTER_HANDOFF_COOLDOWN_MS = 15_000;
const CATCH_UP_POLL_MS = 50;
const CATCH_UP_LOG_MS = 2000;
/**
 * Deliberately unsafe, off unless FORGE_UNSAFE_ACK_BEFORE_COMMIT=1: a consume without lease is
 * proposed and answered at once with the head of the leader's applied state, without waiting for
 * the commit (so two consumers can get the same message, and an answer can outlive a lost
 * proposal). It exists only so the fault-injection runner (`npm run chaos -- --unsafe
 * ack-before-commit`) can show that it catches the bug. Never set it anywhere else.
 */
const UNSAFE_ACK_BEFORE_COMMIT = process.env.FORGE_UNSAFE_ACK_BEFORE_COMMIT === '1';

export class ForgeNode implements MailboxService, ClusterAdmin {
  readonly driver: RaftDriver<Uint8Array>;
  private readonly transport: TcpTransport;
  private readonly stateMachine: MailboxStateMachine;
  private readonly clusterState: ClusterStateMachine;
  /** Nodes an add-node of this leader is working on: their directory entries are not stale. */
  private readonly adding = new Set<string>();
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
    this.clusterState = new ClusterStateMachine(this.stateMachine, (directory) => this.transport.setPeers(this.peerAddresses(directory)));
    this.transport = new TcpTransport({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      secret: config.secret,
      listenHost: config.listen.host ?? self.host,
      listenPort: config.listen.port ?? self.port,
      peers: this.peerAddresses({}),
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
      // A joining node starts with no membership: it never campaigns, and learns the members from
      // the log its leader sends once it is added.
      initialMembership: { voters: config.join ? [] : Object.keys(config.peers).sort(), learners: [] },
      storage,
      transport: this.transport,
      stateMachine: this.clusterState,
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
      admin: this,
      logger: log.child({ component: 'bridge' }),
    });
  }

  async start(): Promise<void> {
    if (UNSAFE_ACK_BEFORE_COMMIT) this.log.warn({}, 'UNSAFE: FORGE_UNSAFE_ACK_BEFORE_COMMIT=1, consumes are answered before they commit');
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
    const st = this.driver.status();
    if (!isMember(st.membership, this.config.nodeId)) {
      this.log.warn(
        { members: st.membership },
        st.membership.voters.length === 0 ? 'not a member yet: waiting to be added (forge-mailbox add-node)' : 'not a member of the cluster (removed?)',
      );
    }
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
    if (UNSAFE_ACK_BEFORE_COMMIT && cmd.op === 'consume' && cmd.leaseMs === undefined) {
      this.driver.propose(encodeMailboxEntry(cmd)).catch(() => {});
      const head = this.stateMachine.query({ op: 'peek', user: cmd.user, deadLetter: cmd.deadLetter }, Date.now());
      if (head.kind !== 'message') return head;
      const { id, seq, body, enqueuedAt, expiresAt, deliveries } = head.message;
      return { kind: 'message', message: { id, seq, body, enqueuedAt, expiresAt, deliveries: deliveries + 1 } };
    }
    const started = performance.now();
    try {
      const result = decodeResult(await this.driver.propose(encodeMailboxEntry(cmd)));
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
      directory: this.clusterState.peers(),
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

  async admin(op: AdminOp): Promise<MembershipView> {
    if (this.stopping) throw new RaftError('STOPPED', 'node is shutting down');
    if (!this.isLeader()) throw new RaftError('NOT_LEADER', 'membership changes are made by the leader', this.driver.softState().leader);
    return op.op === 'addNode' ? this.addNode(op) : this.removeNode(op.node);
  }

  /**
   * §4.2.1: the address first (the leader must reach the node as soon as it is a learner), then
   * the node as a learner, which catches up without counting for the quorum, then the promotion.
   * Each step is skipped when already done, so a retry finishes an interrupted add.
   */
  private async addNode(op: Extract<AdminOp, { op: 'addNode' }>): Promise<MembershipView> {
    const { node, host, port } = op;
    const membership = this.driver.status().membership;
    if (membership.voters.includes(node)) throw new AdminError('ALREADY_MEMBER', `${node} is already a voter`);
    this.adding.add(node);
    try {
      const known = this.clusterState.peers()[node];
      if (known?.host !== host || known.port !== port) {
        const refused = decodeDirectoryResult(await this.driver.propose(encodeDirectoryEntry({ op: 'set', node, host, port })));
        if (refused !== null) throw new RaftError('INVALID_REQUEST', refused);
        this.log.info({ node, host, port }, 'add-node: address recorded in the peer directory');
      }
      if (!membership.learners.includes(node)) {
        await this.driver.changeMembership({ type: 'addLearner', node });
        this.log.info({ node }, 'add-node: added as a learner, catching up');
      }
      await this.waitCaughtUp(node, op.catchUpMs);
      await this.driver.changeMembership({ type: 'promote', node });
      this.log.info({ node }, 'add-node: promoted to voter');
      return this.membershipView();
    } finally {
      this.adding.delete(node);
    }
  }

  /** Until the learner holds every entry committed when the wait began (the log keeps growing meanwhile). */
  private async waitCaughtUp(node: string, timeoutMs: number): Promise<void> {
    const target = this.driver.status().commit;
    const started = Date.now();
    let lastLog = started;
    for (;;) {
      const st = this.driver.status();
      if (st.role !== 'leader') throw new RaftError('NOT_LEADER', `lost leadership while ${node} was catching up`, st.leader);
      if (!st.membership.learners.includes(node)) throw new AdminError('UNKNOWN_NODE', `${node} was removed while it was catching up`);
      const match = st.progress[node]?.match ?? 0;
      if (match >= target) {
        this.log.info({ node, match, target, ms: Date.now() - started }, 'add-node: caught up');
        return;
      }
      const now = Date.now();
      if (now - started >= timeoutMs) {
        throw new RaftError(
          'TIMEOUT',
          `${node} reached index ${match} of ${target} within ${timeoutMs} ms; it stays a learner: run add-node again to finish (check its address and that it runs with "join": true)`,
        );
      }
      if (now - lastLog >= CATCH_UP_LOG_MS) {
        lastLog = now;
        this.log.info({ node, match, target, waitedMs: now - started }, 'add-node: learner catching up');
      }
      await new Promise((r) => setTimeout(r, CATCH_UP_POLL_MS));
    }
  }

  /**
   * §4.2.2: a leader removing itself steps down once the removal commits (the core hands over to
   * the most up-to-date voter); its directory entry is then dropped by the next leader.
   */
  private async removeNode(node: string): Promise<MembershipView> {
    if (!isMember(this.driver.status().membership, node)) throw new AdminError('UNKNOWN_NODE', `${node} is not a member`);
    await this.driver.changeMembership({ type: 'remove', node });
    this.log.info({ node }, 'remove-node: removed from the membership');
    if (node !== this.config.nodeId && this.clusterState.peers()[node] !== undefined) {
      await this.driver.propose(encodeDirectoryEntry({ op: 'delete', node }));
    }
    return this.membershipView();
  }

  private membershipView(): MembershipView {
    const m = this.driver.status().membership;
    return { voters: [...m.voters].sort(), learners: [...m.learners].sort() };
  }

  /**
   * A new leader drops directory entries of nodes that are no longer members: those left by a
   * leader that removed itself, or by an add-node cut short before the node became a learner.
   */
  private async pruneDirectory(): Promise<void> {
    try {
      // Once a read is confirmed, every entry of earlier terms is applied: the directory is current.
      await this.driver.readBarrier();
    } catch {
      return;
    }
    for (const node of Object.keys(this.clusterState.peers())) {
      if (!this.isLeader()) return;
      if (node === this.config.nodeId || this.adding.has(node) || isMember(this.driver.status().membership, node)) continue;
      this.log.info({ node }, 'dropping the directory entry of a node that is not a member');
      try {
        await this.driver.propose(encodeDirectoryEntry({ op: 'delete', node }));
      } catch (err) {
        this.log.warn({ node, err }, 'could not drop a stale directory entry');
        return;
      }
    }
  }

  /** This node's configured peers overlaid by the replicated directory, without this node. */
  private peerAddresses(directory: Record<string, PeerAddress>): Record<string, PeerAddress> {
    const peers: Record<string, PeerAddress> = { ...this.config.peers, ...directory };
    delete peers[this.config.nodeId];
    return peers;
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
    if (s.role === 'leader' && !this.stopping) void this.pruneDirectory();
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
