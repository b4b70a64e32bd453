// A forge-mailbox node: the composition root. It wires the Raft driver on LevelDB and TCP, the
// state machine it replicates (the mailbox and the peer directory), the Zenoh bridge that serves
// clients (through bridge-port.ts, which maps errors), the leader duties (expiry-sweep.ts,
// router-loss-handoff.ts) and the membership administration (membership-admin.ts). What it does
// itself: the command path (`command`) and the read path (`query`), with their metrics; long
// polls (`consumeWaiting`) park in long-poll.ts, woken by what the state machine applies.
//
// Peer addresses: this node's configured `peers`, overlaid by the replicated peer directory, which
// holds the address of every member added with add-node. Every node learns it from the log (or a
// snapshot), so any node that becomes leader can reach the members added at run time, also after
// a restart. The directory is not seeded from the configuration: bootstrap nodes may list each
// other at different addresses (proxies, NAT), which a replicated record cannot express.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJwks } from '../auth/key-files.js';
import { TokenVerifier } from '../auth/tokens.js';
import type { AdminOp, MembershipView } from '../bridge/cluster-admin.js';
import { ZenohBridge } from '../bridge/zenoh-bridge.js';
import type { ForgeConfig } from '../config/schema.js';
import type { PeerAddress } from '../identifiers.js';
import type { Logger } from '../logging.js';
import type { ConsumeCommand, MailboxCommand, MailboxQuery, MailboxResult } from '../mailbox/commands.js';
import type { BodyStore } from '../mailbox/body-store.js';
import { MailboxStateMachine } from '../mailbox/replicated.js';
import { RaftDriver } from '../raft/driver.js';
import { LevelStorage } from '../raft/level-storage.js';
import { isMember, MAX_LEARNERS, MAX_VOTERS } from '../raft/membership.js';
import { MIN_LIVENESS_TIMEOUT_MS } from '../raft/link-liveness.js';
import { readPeerTls } from '../raft/peer-tls.js';
import { TcpTransport } from '../raft/tcp-transport.js';
import { RaftError, type SoftState } from '../raft/types.js';
import { bridgePort, type NodeOperations } from './bridge-port.js';
import { ClusterStateMachine, type ClusterResult } from './cluster-state-machine.js';
import { DiskSpaceError, DiskWatermark } from './disk-watermark.js';
import { ExpirySweep } from './expiry-sweep.js';
import { FileBodyStore } from './file-body-store.js';
import { LongPollConsumes } from './long-poll.js';
import { MembershipAdmin } from './membership-admin.js';
import { ParkedConsumers } from './parked-consumers.js';
import { DEFAULT_MAX_APPLY_LAG, liveness, readiness, type HealthLimits, type HealthState } from './health.js';
import { LoopStallWatch } from './loop-stall-watch.js';
import { NodeMetrics } from './metrics.js';
import { runningAllocator } from './node-allocator.js';
import { OpsServer } from './ops-server.js';
import { proposeMailbox } from './proposals.js';
import { RouterLossHandoff } from './router-loss-handoff.js';
import { MUTATIONS, type MutationName } from '../verify/mutations.js';

/** Silence after which an established peer link is cut, at the least (see connectTimeoutMs below). */
const PEER_LINK_MIN_SILENCE_MS = 1000;
/**
 * Each node takes its snapshots after up to 20% more than raft.snapshotEntries (or
 * snapshotBytes), drawn anew each time: nodes that would all begin a take at the same index (they
 * apply the same log) begin it at different moments, so a take's work never lands on every node
 * at once. In bench:scale at 1,000,000 messages, the three nodes' simultaneous takes were what
 * starved all three together.
 */
const SNAPSHOT_JITTER = 0.2;
/**
 * A Raft loop that has not ticked for this long is not alive (/livez), at the least: far beyond any
 * election, GC pause or snapshot slice, so that a probe never restarts a node that is merely busy.
 */
const MIN_TICK_SILENCE_MS = 10_000;
/** A stall this long is logged: two thirds of the shortest election timeout (300 ms in production). */
const LOOP_STALL_MS = 200;
const LOOP_STALL_CHECK_MS = 20;

export interface ForgeNodeOptions {
  /**
   * Deliberate bugs (src/verify/mutations.ts), for the mutation tests only: `forge-mailbox serve`
   * takes them from FORGE_UNSAFE_MUTATIONS. Never set in production.
   */
  unsafeMutations?: readonly MutationName[];
  /**
   * Called once the node has halted on a storage failure and left Zenoh (fail-stop): the process
   * should exit (SERVE_EXIT.storageFailed) so that its supervisor restarts it.
   */
  onHalted?: (cause: Error) => void;
}

export class ForgeNode implements NodeOperations {
  readonly driver: RaftDriver<ClusterResult>;
  private readonly transport: TcpTransport;
  private readonly stateMachine: MailboxStateMachine;
  private readonly clusterState: ClusterStateMachine;
  private readonly bridge: ZenohBridge;
  private readonly membership: MembershipAdmin;
  private readonly expirySweep: ExpirySweep;
  private readonly routerLossHandoff: RouterLossHandoff;
  private readonly diskWatermark: DiskWatermark;
  private readonly parked: ParkedConsumers;
  private readonly longPolls: LongPollConsumes;
  readonly metrics: NodeMetrics;
  private readonly ops: OpsServer;
  private readonly healthLimits: HealthLimits;
  private lastLeader: string | null = null;
  private stopping = false;
  private stallWatch: LoopStallWatch | null = null;
  /** Mutation ack-before-commit: a consume without lease is answered before its entry commits. */
  private readonly unsafeAckBeforeCommit: boolean;
  /** Mutation read-without-read-index: peek/len served from local state while this node thinks it leads. */
  private readonly unsafeReadWithoutReadIndex: boolean;

  /** Opens the node's LevelDB and builds the node; `start()` then joins the cluster and Zenoh. */
  static async open(config: ForgeConfig, log: Logger, options: ForgeNodeOptions = {}): Promise<ForgeNode> {
    mkdirSync(config.dataDir, { recursive: true });
    const storage = await LevelStorage.open(join(config.dataDir, 'raft'));
    if (storage.migratedFrom !== null) log.info({ from: storage.migratedFrom }, 'store migrated to the current layout (checksums on every record, snapshot chunks under generations)');
    // A cache of the live messages' bodies, refilled from the snapshot and log replay: wiped here,
    // once LevelDB's lock on the data dir is held (a second process on it fails before this).
    const bodies = FileBodyStore.open(join(config.dataDir, 'bodies'));
    return new ForgeNode(config, log, storage, bodies, options.unsafeMutations ?? [], options.onHalted ?? (() => {}));
  }

  private constructor(
    private readonly config: ForgeConfig,
    private readonly log: Logger,
    storage: LevelStorage,
    bodies: BodyStore,
    private readonly unsafeMutations: readonly MutationName[],
    private readonly onHalted: (cause: Error) => void,
  ) {
    this.unsafeAckBeforeCommit = unsafeMutations.includes('ack-before-commit');
    this.unsafeReadWithoutReadIndex = unsafeMutations.includes('read-without-read-index');
    const self = config.peers[config.nodeId]!;
    // A frame must hold the largest message Raft may send: a full AppendEntries, a snapshot chunk,
    // or one entry carrying the largest body; the queue must hold at least two such frames.
    const maxFrameBytes =
      Math.max(config.raft.maxBytesPerMsg, config.raft.snapshotChunkBytes, config.mailbox.maxBodyBytes) + 1024 * 1024;
    // One window for both put ids and consume request ids: the retry horizon clients are promised.
    this.stateMachine = new MailboxStateMachine(
      {
        ...config.mailbox,
        requestWindowMs: config.mailbox.dedupeWindowMs,
        unsafeLeaseReceiptReuse: unsafeMutations.includes('lease-receipt-reuse'),
      },
      bodies,
    );
    this.clusterState = new ClusterStateMachine(this.stateMachine, (directory) => this.transport.setPeers(this.peerAddresses(directory)));
    const electionTimeoutMs = Math.max(MIN_LIVENESS_TIMEOUT_MS, config.raft.tickMs * Math.max(config.raft.electionTicks, 3 * config.raft.heartbeatTicks));
    this.transport = new TcpTransport({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      ...(config.peerTls !== undefined ? { tls: readPeerTls(config.peerTls) } : { secret: config.secret! }),
      listenHost: config.listen.host ?? self.host,
      listenPort: config.listen.port ?? self.port,
      peers: this.peerAddresses({}),
      maxFrameBytes,
      // Room for a window of snapshot chunks besides the appends.
      maxQueueBytes: Math.max(2 * maxFrameBytes, 8 * config.raft.maxBytesPerMsg, 2 * config.raft.snapshotChunkBytes * config.raft.snapshotChunksInFlight),
      // A redial gives up after an election timeout (at least three heartbeats), so that once a
      // partition heals the next attempt comes within about half a second. An established link
      // is given longer: silence there is also what a peer busy with one large entry (decoding,
      // encrypting, checksumming an 8 MiB body) looks like from outside, and cutting the link
      // mid-entry only has the entry sent again; a link lost to a long partition is cut either way
      // and redialled on the short deadline.
      connectTimeoutMs: electionTimeoutMs,
      livenessTimeoutMs: Math.max(PEER_LINK_MIN_SILENCE_MS, 2 * electionTimeoutMs),
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
        snapshotChunksInFlight: config.raft.snapshotChunksInFlight,
        catchUpLogBytes: config.raft.catchUpLogBytes,
        maxVoters: MAX_VOTERS,
        maxLearners: MAX_LEARNERS,
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
      snapshotBytes: config.raft.snapshotBytes,
      snapshotImageBytesPerEntry: config.raft.snapshotImageBytesPerEntry,
      snapshotJitter: SNAPSHOT_JITTER,
      logger: log.child({ component: 'raft' }),
      onApplyBatch: (_n, seconds) => this.metrics.applyLatency.observe(seconds),
      onProposalStages: ({ writeMs, commitMs, applyMs }) => {
        if (writeMs !== null) this.metrics.proposalStage.observe({ stage: 'write' }, writeMs / 1000);
        this.metrics.proposalStage.observe({ stage: 'commit' }, commitMs / 1000);
        this.metrics.proposalStage.observe({ stage: 'apply' }, applyMs / 1000);
      },
      onSynced: () => this.metrics.logSyncs.inc(),
      onHalt: (cause) => void this.leaveAfterHalt(cause),
    });
    this.metrics = new NodeMetrics(
      {
        raft: () => {
          const st = this.driver.status();
          const followerLag: Record<string, number> = {};
          if (st.role === 'leader') {
            for (const [id, p] of Object.entries(st.progress)) if (id !== config.nodeId) followerLag[id] = st.lastIndex - p.match;
          }
          return {
            isLeader: st.role === 'leader',
            leader: st.leader,
            term: st.term,
            commitIndex: st.commit,
            appliedIndex: st.applied,
            followerLag,
            halted: this.driver.halted()?.message ?? null,
            logEntries: st.lastIndex - st.compactedThrough,
          };
        },
        transport: () => this.transport.stats(),
        mailbox: (topN) => this.stateMachine.mailbox.totals(topN),
        parkedConsumers: () => this.parked.size,
        oldestMessageAgeMs: () => this.oldestMessageAgeMs(),
        disk: () => this.diskWatermark.status(),
      },
      { node: config.nodeId },
      { perUserDepth: config.metrics.perUserDepth },
    );
    this.parked = new ParkedConsumers(config.zenoh.maxParkedConsumers);
    this.longPolls = new LongPollConsumes(
      {
        canWait: (cmd, now) => this.stateMachine.consumeCanWait(cmd, now),
        nextVisibleAt: (user, now) => this.stateMachine.nextVisibleAt(user, now),
        now: () => this.driver.replicatedTime(),
        readBarrier: () => this.driver.readBarrier(),
        readTime: () => this.driver.readTime(),
        isLeader: () => this.isLeader(),
        consume: (cmd) => this.command(cmd),
        notLeader: () => new RaftError('NOT_LEADER', 'not the leader', this.driver.softState().leader),
      },
      this.parked,
      { woke: (n) => this.metrics.parkedWakeups.inc(n) },
    );
    this.stateMachine.onApplied((cmd, result) => this.longPolls.applied(cmd, result));
    this.healthLimits = { maxTickSilenceMs: Math.max(MIN_TICK_SILENCE_MS, 10 * electionTimeoutMs), maxApplyLag: DEFAULT_MAX_APPLY_LAG };
    this.ops = new OpsServer({
      registry: this.metrics.registry,
      livez: () => liveness(this.healthState(), this.healthLimits),
      readyz: () => readiness(this.healthState(), this.healthLimits),
    });
    const port = bridgePort(this);
    this.bridge = new ZenohBridge({
      routerUrl: config.zenoh.router,
      keyPrefix: config.zenoh.keyPrefix,
      nodeId: config.nodeId,
      maxBodyBytes: config.mailbox.maxBodyBytes,
      maxConsumeWaitMs: config.mailbox.maxConsumeWaitMs,
      maxBatch: config.mailbox.maxBatch,
      maxInflightRequests: config.zenoh.maxInflightRequests,
      service: port,
      admin: port,
      verifier: config.auth.enabled ? new TokenVerifier({ jwks: readJwks(config.auth.jwksFile!), audience: config.clusterId }) : null,
      logger: log.child({ component: 'bridge' }),
      onAnswered: ({ handleMs, replyMs }) => {
        this.metrics.requestStage.observe({ stage: 'handle' }, handleMs / 1000);
        this.metrics.requestStage.observe({ stage: 'reply' }, replyMs / 1000);
      },
    });
    this.membership = new MembershipAdmin({
      nodeId: config.nodeId,
      driver: this.driver,
      directory: () => this.clusterState.peers(),
      isLeader: () => this.isLeader(),
      log: this.log,
    });
    this.diskWatermark = new DiskWatermark({
      dir: config.dataDir,
      minFreeBytes: config.disk.minFreeBytes,
      checkIntervalMs: config.disk.checkIntervalMs,
      log: log.child({ component: 'disk' }),
    });
    this.expirySweep = new ExpirySweep(config.mailbox.expireIntervalMs, () => this.command({ op: 'expire' }), this.log);
    this.routerLossHandoff = new RouterLossHandoff({
      routerDownSince: () => this.bridge.routerDownSince(),
      isLeader: () => this.driver.softState().role === 'leader',
      transferLeadership: (timeoutMs) => this.driver.transferLeadership(timeoutMs),
      log: this.log,
    });
  }

  async start(): Promise<void> {
    if (!this.config.auth.enabled) {
      this.log.warn({}, 'authorization is OFF (auth.enabled=false): any Zenoh client may read, wipe or administer any mailbox');
    }
    if (this.config.peerTls === undefined) {
      this.log.warn({}, 'peer links use the development-only shared secret (no peerTls): Raft frames travel unauthenticated and unencrypted');
    }
    for (const m of MUTATIONS) {
      if (this.unsafeMutations.includes(m.name)) this.log.warn({ mutation: m.name }, `UNSAFE BUILD, deliberate bug switched on: ${m.what}`);
    }
    this.watchStalls();
    await this.diskWatermark.start();
    await this.transport.start();
    await this.driver.start();
    this.driver.onRoleChange((s) => this.onRole(s));
    this.bridge.start();
    this.routerLossHandoff.start();
    if (this.config.metrics.port > 0) {
      const port = await this.ops.listen(this.config.metrics.host, this.config.metrics.port);
      this.log.info({ url: `http://${this.config.metrics.host}:${port}/metrics` }, 'serving Prometheus metrics, /livez and /readyz');
    }
    this.log.info(
      { peers: Object.keys(this.config.peers), router: this.config.zenoh.router, allocator: runningAllocator(() => readFileSync('/proc/self/maps', 'utf8')) },
      'node started',
    );
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
    if (this.stopping) {
      // After a halt (leaveAfterHalt) the operator endpoint stayed up so that /livez could say why; let it go now.
      if (this.driver.halted() !== null) await this.closeOps();
      return;
    }
    this.stopping = true;
    this.log.info({}, 'stopping');
    this.expirySweep.setLeading(false);
    this.routerLossHandoff.stop();
    this.diskWatermark.stop();
    this.releaseParked('stopping', new RaftError('STOPPED', 'node is shutting down: nothing was taken, retry on the new leader'));
    await this.bridge.stop();
    const transferred = await this.driver.transferLeadership(2000);
    if (!transferred) this.log.warn({}, 'leadership transfer did not complete before shutdown');
    await this.driver.stop();
    await this.transport.close();
    await this.closeOps();
    this.log.info({}, 'stopped');
  }

  private async closeOps(): Promise<void> {
    this.stallWatch?.stop();
    await this.ops.close();
    this.metrics.close();
  }

  /** Logs each event-loop stall over LOOP_STALL_MS, with the collections inside it and where Raft stood. */
  private watchStalls(): void {
    this.stallWatch = new LoopStallWatch({
      thresholdMs: LOOP_STALL_MS,
      intervalMs: LOOP_STALL_CHECK_MS,
      onStall: (stall) => {
        this.metrics.loopStalls.inc();
        // The watch runs from the start of start(): a stall while the store opens comes before the
        // Raft loop exists (a busy machine's CI once lost a node to reading its status then).
        const st = this.driver.hasStarted() ? this.driver.status() : null;
        this.log.warn(
          {
            stallMs: Math.round(stall.stallMs),
            gcMs: Math.round(stall.gcMs),
            gcCount: stall.gcCount,
            role: st?.role ?? 'starting',
            term: st?.term,
            commit: st?.commit,
            applied: st?.applied,
            heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
          },
          'event loop stalled: no heartbeats, replies or applies meanwhile',
        );
      },
    });
  }

  /**
   * Fail-stop after the Raft loop halted on a storage failure: a halted leader would otherwise keep
   * its queryables and answer UNAVAILABLE for ever. Undeclare them (bridge stop), let go of the
   * peers and the store, then hand over to `onHalted` (the process exits, its supervisor restarts it).
   */
  private async leaveAfterHalt(cause: Error): Promise<void> {
    const wasStopping = this.stopping;
    this.stopping = true;
    this.log.error({ err: cause }, 'storage failure halted raft: leaving Zenoh and exiting so that the supervisor restarts this node');
    if (!wasStopping) {
      this.releaseParked('halted', new RaftError('STOPPED', 'node halted on a storage failure: nothing was taken, retry on the new leader'));
      this.expirySweep.setLeading(false);
      this.routerLossHandoff.stop();
      this.diskWatermark.stop();
      await this.bridge.stop().catch((err: unknown) => this.log.warn({ err }, 'bridge stop after halt failed'));
      await this.driver.stop();
      await this.transport.close().catch(() => undefined);
    }
    this.onHalted(cause);
  }

  /** What /livez and /readyz judge (health.ts). */
  healthState(): HealthState {
    const st = this.driver.status();
    return {
      halted: this.driver.halted()?.message ?? null,
      sinceLastTickMs: this.driver.sinceLastTickMs(),
      stopping: this.stopping,
      term: st.term,
      leader: st.leader,
      commitIndex: st.commit,
      appliedIndex: st.applied,
      installingSnapshot: this.driver.installingSnapshot(),
      routerConnected: this.bridge.routerDownSince() === null,
    };
  }

  /**
   * Age of the oldest message waiting to be consumed in any mailbox (leased ones and dead letters
   * apart), by the wall clock: from the mailbox's index of queue heads (oldest-queued.ts), O(1)
   * per scrape.
   */
  private oldestMessageAgeMs(): number | null {
    const oldest = this.stateMachine.mailbox.oldestQueuedAt();
    return oldest === null ? null : Math.max(0, Date.now() - oldest);
  }

  isLeader(): boolean {
    return !this.stopping && this.driver.softState().role === 'leader';
  }

  onRoleChange(listener: (isLeader: boolean) => void): () => void {
    return this.driver.onRoleChange((s) => listener(!this.stopping && s.role === 'leader'));
  }

  async command(cmd: MailboxCommand): Promise<MailboxResult> {
    if (this.stopping) throw new RaftError('STOPPED', 'node is shutting down');
    if (this.unsafeAckBeforeCommit && cmd.op === 'consume' && cmd.leaseMs === undefined && cmd.max === undefined) {
      proposeMailbox(this.driver, cmd).catch(() => {});
      const head = this.stateMachine.query({ op: 'peek', user: cmd.user, deadLetter: cmd.deadLetter }, Date.now());
      if (head.kind !== 'message') return head;
      const { id, seq, body, enqueuedAt, expiresAt, deliveries } = head.message;
      return { kind: 'message', message: { id, seq, body, enqueuedAt, expiresAt, deliveries: deliveries + 1 } };
    }
    if (cmd.op === 'consume') {
      const answer = await this.consumeWithoutLog(cmd);
      if (answer !== null) return answer;
    }
    const started = performance.now();
    try {
      if (cmd.op === 'put' || cmd.op === 'putBatch') this.diskWatermark.admitPut();
      const result = await proposeMailbox(this.driver, cmd);
      this.metrics.commitLatency.observe((performance.now() - started) / 1000);
      this.metrics.proposals.inc({ op: cmd.op, outcome: result.kind === 'error' ? 'rejected' : 'ok' });
      return result;
    } catch (err) {
      this.metrics.proposals.inc({ op: cmd.op, outcome: err instanceof RaftError || err instanceof DiskSpaceError ? err.code : 'error' });
      throw err;
    }
  }

  /**
   * A consume that would change nothing (malformed, or nothing to take) is answered without a log
   * entry, so idle polls cost no fsync: if the local state has nothing to take, a linearizable read
   * (ReadIndex, at the leader's read time) confirms it. Null when it must be proposed. The local
   * look first keeps a consume that finds a message at one round trip, not two.
   */
  private async consumeWithoutLog(cmd: Extract<MailboxCommand, { op: 'consume' }>): Promise<MailboxResult | null> {
    const local = this.stateMachine.consumeWithoutLog(cmd, Date.now());
    if (local === null || local.kind === 'error') return local;
    // The read-without-read-index mutation answers from the local state here too.
    if (this.unsafeReadWithoutReadIndex) {
      if (!this.isLeader()) throw new RaftError('NOT_LEADER', 'reads are served by the leader', this.driver.softState().leader);
      return local;
    }
    const started = performance.now();
    try {
      await this.driver.readBarrier();
    } catch (err) {
      this.metrics.reads.inc({ op: 'consume', outcome: err instanceof RaftError ? err.code : 'error' });
      throw err;
    }
    const answer = this.stateMachine.consumeWithoutLog(cmd, this.driver.readTime());
    if (answer !== null) {
      this.metrics.readLatency.observe((performance.now() - started) / 1000);
      this.metrics.reads.inc({ op: 'consume', outcome: 'ok' });
    }
    return answer;
  }

  /** A long-poll consume (long-poll.ts): waits up to `waitMs` for a message, on the leader, without writing while it waits. */
  async consumeWaiting(cmd: ConsumeCommand, waitMs: number): Promise<MailboxResult> {
    if (this.stopping) throw new RaftError('STOPPED', 'node is shutting down');
    return this.longPolls.consume(cmd, waitMs);
  }

  /** Answers every waiting long poll at once with `error` (they must not hang until their wait ends). */
  private releaseParked(reason: string, error: RaftError): void {
    const n = this.longPolls.releaseAll(error);
    if (n > 0) {
      this.metrics.parkedReleased.inc({ reason }, n);
      this.log.info({ released: n, reason }, 'answered waiting long-poll consumes');
    }
  }

  async query(q: MailboxQuery): Promise<MailboxResult> {
    if (this.stopping) throw new RaftError('STOPPED', 'node is shutting down');
    const started = performance.now();
    // The mutation reads without ReadIndex, at the wall clock, as the node once did.
    let at = Date.now();
    try {
      if (!this.unsafeReadWithoutReadIndex) {
        await this.driver.readBarrier();
        at = this.driver.readTime();
      } else if (!this.isLeader()) throw new RaftError('NOT_LEADER', 'reads are served by the leader', this.driver.softState().leader);
    } catch (err) {
      this.metrics.reads.inc({ op: q.op, outcome: err instanceof RaftError ? err.code : 'error' });
      throw err;
    }
    this.metrics.readLatency.observe((performance.now() - started) / 1000);
    this.metrics.reads.inc({ op: q.op, outcome: 'ok' });
    return this.stateMachine.query(q, at);
  }

  async status(): Promise<unknown> {
    const st = this.driver.status();
    return {
      node: this.config.nodeId,
      role: st.role,
      halted: this.driver.halted()?.message ?? null,
      leader: st.leader,
      term: st.term,
      commitIndex: st.commit,
      appliedIndex: st.applied,
      lastIndex: st.lastIndex,
      snapshotIndex: st.snapshotIndex,
      members: st.membership,
      directory: this.clusterState.peers(),
      quotas: { ...this.stateMachine.mailbox.quotas(), usage: this.stateMachine.mailbox.usage() },
      followers:
        st.role === 'leader'
          ? Object.fromEntries(
              Object.entries(st.progress)
                .filter(([id]) => id !== this.config.nodeId)
                .map(([id, p]) => [id, { match: p.match, lag: st.lastIndex - p.match, state: p.state }]),
            )
          : undefined,
      transport: this.transport.stats(),
      disk: this.diskWatermark.status(),
    };
  }

  async admin(op: AdminOp): Promise<MembershipView> {
    if (this.stopping) throw new RaftError('STOPPED', 'node is shutting down');
    return this.membership.run(op);
  }

  /** This node's configured peers overlaid by the replicated directory, without this node. */
  private peerAddresses(directory: Record<string, PeerAddress>): Record<string, PeerAddress> {
    const peers: Record<string, PeerAddress> = { ...this.config.peers, ...directory };
    delete peers[this.config.nodeId];
    return peers;
  }

  private onRole(s: SoftState): void {
    if (s.leader !== null && s.leader !== this.lastLeader) {
      this.lastLeader = s.leader;
      this.metrics.leaderChanges.inc();
    }
    const leading = s.role === 'leader' && !this.stopping;
    if (!leading) {
      this.releaseParked('leadership-lost', new RaftError('NOT_LEADER', 'this node stopped leading while the consume waited: nothing was taken, retry on the new leader', s.leader));
    }
    this.expirySweep.setLeading(leading);
    if (leading) void this.membership.pruneDirectory();
  }
}
