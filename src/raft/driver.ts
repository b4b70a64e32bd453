// The driver runs the pure Raft core against the world: time (a Scheduler: ticks, timeouts), a
// disk (RaftStorage) and a network (a PeerTransport). It is generic over the state machine, like
// the core, and knows nothing of the protocol: each Ready says what to send before the write,
// whether to write, what to send after it and when to apply (see Ready in types.ts), and the
// driver does exactly that. Production passes real timers, LevelDB and TCP; the simulator
// (src/sim) passes simulated ones, so the code it checks is the code that ships.
//
// One processing loop handles Ready after Ready, strictly in order. While one Ready is being
// written, new proposals pile up in the core's unstable log and all go out in the next Ready:
// that is the group commit which turns one fsync into many acknowledged entries. Taking a
// snapshot and restoring one run beside that loop, a slice at a time, so that neither stops it.

import type { LoggerPort as DriverLogger } from '../logger-port.js';
import { RaftCore, type RaftConfig } from './core.js';
import { sameBytes, snapshotDigest, snapshotHasher, wholeDataHasher, type SnapshotHasher } from './digest.js';
import { encodeConfChange } from './membership.js';
import type { ClockReading } from './entry-clock.js';
import { realScheduler, type Scheduler, type TimerHandle } from './scheduler.js';
import {
  RaftError,
  type ConfChange,
  type Entry,
  EntryType,
  type Membership,
  type Message,
  type NodeId,
  type RaftStorage,
  type Ready,
  type ReceivedChunk,
  type ReceivedSnapshot,
  type RestoreSink,
  type SnapshotMeta,
  type SnapshotSend,
  type SoftState,
  type SnapshotSource,
  type SnapshotWriter,
  type StateMachine,
  type StoredSnapshot,
} from './types.js';

/** The stored image did not match its digest (or its length) when it was read back. */
export class SnapshotDigestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotDigestError';
  }
}

export interface PeerTransport {
  send(m: Message): void;
  onMessage(handler: (m: Message) => void): void;
}

export interface DriverOptions<R> {
  /** `random` defaults to Math.random, `snapshotDigest` to SHA-256 (digest.ts). */
  core: Omit<RaftConfig, 'random' | 'snapshotDigest'> & Partial<Pick<RaftConfig, 'random' | 'snapshotDigest'>>;
  /**
   * Members of a brand-new cluster, written on first start as the bootstrap entries (see
   * `bootstrapEntries`); ignored once the disk holds anything. Empty for a node that joins an
   * existing cluster: it then waits, without campaigning, for a leader to add it.
   */
  initialMembership: Membership;
  storage: RaftStorage;
  transport: PeerTransport;
  stateMachine: StateMachine<R>;
  /** Clock, timers and deferral; Node's own by default. */
  scheduler?: Scheduler;
  /** Milliseconds per Raft tick. */
  tickMs: number;
  /**
   * A proposal or read not completed within this many ms fails with TIMEOUT (outcome unknown for
   * proposals). A leader stepping down fails its pending proposals at once with LEADERSHIP_LOST.
   */
  requestTimeoutMs: number;
  /** Take a state machine snapshot and compact the log once this many entries were applied since the last one. */
  snapshotEntries: number;
  /**
   * Also take one once the entries applied since the last one carry this many bytes of payload
   * (large messages fill the disk and slow a restart's replay long before the entry count is
   * reached). Absent: entry count only.
   */
  snapshotBytes?: number;
  /**
   * The entry trigger grows with the state: a snapshot waits for at least one entry applied per
   * this many bytes of the last image (taken, installed or loaded), when that is more than
   * `snapshotEntries`. A take rewrites the whole image, so with a fixed count its cost per entry
   * grows with the state: at 10,000,000 queued messages a 1.3 GB image every 100,000 entries of
   * single puts kept every node taking snapshots most of the time. Scaled, a take costs at most
   * this many bytes per entry applied, and a restart replays entries in proportion to the image
   * it loads. `snapshotBytes` still bounds the log. Absent or 0: the entry count is fixed.
   */
  snapshotImageBytesPerEntry?: number;
  /**
   * Each node stretches both triggers by a factor of 1 + jitter × r, r in [0, 1) drawn from
   * `core.random` at start and anew after each snapshot taken or installed (default 0: no
   * stretch). Every node applies the same log, so without it all nodes reach the trigger at the
   * same index and take their snapshots at the same moment: the work of a take, and the burst of
   * copies it makes the state machine do as the take begins, then lands on every node at once,
   * leaving no quorum free of it.
   */
  snapshotJitter?: number;
  /**
   * Taking a snapshot runs beside the Raft loop, in slices: each pulls pieces of the image from the
   * state machine for at most this many ms (default 4), then lets timers, messages and writes run.
   */
  snapshotSliceMs?: number;
  /** And at most this many pieces per slice (default 64): the bound when the clock does not move, as in the simulator. */
  snapshotSlicePieces?: number;
  /** Pause between slices in ms (default 0: once pending I/O and timers had their turn). */
  snapshotYieldMs?: number;
  /**
   * Restoring a snapshot (one installed from the leader, or the stored one at start) runs in slices
   * too, with the same budgets: each feeds the state machine pieces of this many bytes (default
   * 64 KiB) for at most `snapshotSliceMs` or `snapshotSlicePieces` pieces, then yields.
   */
  restorePieceBytes?: number;
  /**
   * Digest of an image fed a piece at a time; must agree with `core.snapshotDigest` over the
   * whole image. Defaults to SHA-256, like it; with a `core.snapshotDigest` of its own and no
   * hasher, the pieces are kept and digested whole at the end (tests only).
   */
  snapshotHasher?: () => SnapshotHasher;
  logger?: DriverLogger;
  /**
   * Committed entries are applied for at most this many ms at a time (default 10; at least one
   * entry per turn), the rest in the next turns of the event loop, between which ticks, peer
   * messages and writes go on. A state machine may make some applies slow (the mailbox copies a
   * mailbox before a snapshot being taken would see it change: at the start of a take, that can be
   * the whole state within one batch), and a batch handed out after a long replay or a catch-up is
   * large: applied in one go, it would hold the event loop past the election timeout.
   */
  applySliceMs?: number;
  /** And at most this many entries at a time (default: no bound): the bound when the clock does not move, as in the simulator. */
  applySliceEntries?: number;
  /**
   * Told, for each proposal of this node that applied, how long its stages took (metrics: where a
   * request's time goes on the leader).
   */
  onProposalStages?: (stages: ProposalStages) => void;
  /** Told after each synced save of log entries or hard state (metrics: what a request costs in fsyncs). */
  onSynced?: () => void;
  /** Told how long each batch of committed entries took to apply (metrics). */
  onApplyBatch?: (entries: number, seconds: number) => void;
  /**
   * Told once, with the cause, when a storage failure halted the node (see `halted`): the
   * process should then stop serving and exit, so that its supervisor restarts it.
   */
  onHalt?: (cause: Error) => void;
}

interface PendingProposal<R> {
  term: number;
  resolve: (result: R) => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
  /** On the scheduler's monotonic clock: proposed, stored by this node's own write, handed out committed. */
  proposedAt: number;
  writtenAt: number | null;
  committedAt: number | null;
}

/**
 * Where one proposal's time went on the node that proposed it, in ms: `writeMs` from proposal to
 * its entry durable in this node's own log, `commitMs` from proposal to committed (a majority
 * durable), `applyMs` from committed to applied (queued behind earlier entries, then applied).
 * `writeMs` is null when the entry committed before this node's own write of it ended: the
 * followers' writes made the majority (see RaftCore.takeCommitted), so the write was not part of
 * the commit. Membership changes are not told.
 */
export interface ProposalStages {
  writeMs: number | null;
  commitMs: number;
  applyMs: number;
}

interface PendingRead {
  /** Once the read may be served (at readTime, taken when it is evaluated). */
  resolve: () => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
}

/** A batch of reads sharing one ReadIndex round (§6.4). */
interface ReadBatch {
  context: number;
  reads: PendingRead[];
  /** Set once the leader confirmed the round: serve when applied >= index. */
  index: number | null;
}

/** A snapshot being taken beside the Raft loop (see `takeSnapshotSlice`). */
interface SnapshotTake {
  /** The applied index the image is of. */
  index: number;
  source: SnapshotSource;
  hasher: SnapshotHasher;
  /** Stores the pieces as they come; committed by the processing loop once the image is complete. */
  writer: SnapshotWriter;
  bytes: number;
  /** The source handed out its last piece. */
  sourceDone: boolean;
  /** `bytesSinceSnapshot` when it began: what was applied after counts toward the next snapshot. */
  bytesAtStart: number;
  started: number;
  slices: number;
  longestSliceMs: number;
  /** Set once the image is complete and staged, for the processing loop to commit. */
  done: { digest: Uint8Array } | null;
}

/** A leader's snapshot being staged in storage as its chunks arrive. */
interface ReceivedTransfer {
  meta: SnapshotMeta;
  writer: SnapshotWriter;
  bytes: number;
}

/** A leader's snapshot being restored beside the Raft loop (see `beginRestore`). */
interface SnapshotRestore {
  meta: SnapshotMeta;
  bytes: number;
  started: number;
  /** Committed entries handed out meanwhile: applied, in order, once the image is live. */
  queued: Entry[];
  /** Set once every piece is in, for the processing loop to finish; or the error that stopped it. */
  done: { sink: RestoreSink; slices: number; longestSliceMs: number } | { error: unknown } | null;
}

export type RoleListener = (state: SoftState) => void;

const BOOTSTRAP_TERM = 1;
/** Bytes of the stored image read per storage read when it is loaded at start (then fed in restorePieceBytes pieces). */
const LOAD_READ_BYTES = 1 << 20;

/**
 * The log prefix every node of a new cluster writes for itself on first start: one configuration
 * entry per step building `m` (voters in sorted order, each added as a learner then promoted,
 * then the learners), all in term 1 and committed. The entries depend on nothing but the member
 * ids, so every bootstrap node writes the same ones: committing them without a leader is safe
 * (as etcd's bootstrap does), and they are in every log and snapshot handed to a later member.
 */
export function bootstrapEntries(m: Membership): Entry[] {
  const changes: ConfChange[] = [];
  for (const id of [...m.voters].sort()) changes.push({ type: 'addLearner', node: id }, { type: 'promote', node: id });
  for (const id of [...m.learners].sort()) changes.push({ type: 'addLearner', node: id });
  return changes.map((cc, i) => ({ term: BOOTSTRAP_TERM, index: i + 1, type: EntryType.ConfChange, time: 0, data: encodeConfChange(cc) }));
}

const noopLogger: DriverLogger = { info() {}, warn() {}, error() {}, debug() {} };

export class RaftDriver<R> {
  private core!: RaftCore;
  private readonly time: Scheduler;
  private readonly log: DriverLogger;
  private readonly applyBeforeCommit: boolean;
  /** A deferred send of the appends queued during a Ready's handling is pending (queueAppendFlush). */
  private appendFlushQueued = false;
  private ticker: TimerHandle | null = null;
  /** Monotonic time of the last tick (of the start, before the first), or null before the start: how a liveness probe sees the loop run. */
  private lastTick: number | null = null;
  private processing = false;
  private rerun = false;
  private stopped = false;
  private applied = 0;
  private snapshotIndex = 0;
  /** Payload bytes of the entries applied since the last snapshot (taken or installed), for `snapshotBytes`. */
  private bytesSinceSnapshot = 0;
  /** This node's stretch of the snapshot triggers until its next snapshot (see `snapshotJitter`). */
  private snapshotStretch = 1;
  /** Size of the last snapshot image taken, installed or loaded, for `snapshotImageBytesPerEntry`. */
  private lastImageBytes = 0;
  private soft: SoftState = { role: 'follower', leader: null, term: 0 };
  private readonly proposals = new Map<number, PendingProposal<R>>();
  private readonly confWaiters = new Map<number, PendingProposal<undefined>>();
  private nextReadContext = 1;
  private readonly readBatches: ReadBatch[] = [];
  private queuedReads: PendingRead[] = [];
  private readonly roleListeners = new Set<RoleListener>();
  private readonly appliedWaiters: Array<{ index: number; resolve: () => void }> = [];
  private lastError: Error | null = null;
  private take: SnapshotTake | null = null;
  private restore: SnapshotRestore | null = null;
  /**
   * Committed entries handed out by the core (which counts them applied) and not applied yet:
   * applied in order, a slice at a time (`applySliceMs`), by `applyQueued`.
   */
  private toApply: Entry[] = [];
  private toApplyHead = 0;
  /** A leader's snapshot being received: its chunks staged in storage as they arrive (see `stageReceivedChunks`). */
  private receiving: ReceivedTransfer | null = null;
  /**
   * Transfers received whole, awaiting the Ready that installs one of them (the core may have begun
   * another meanwhile, or refused one whose digest did not match): the rest are dropped then.
   */
  private received: ReceivedTransfer[] = [];
  /** Per follower, the last snapshot chunk being read and sent: the next one leaves after it. */
  private readonly chunksOnTheirWay = new Map<NodeId, Promise<void>>();
  private readonly runLoop = () => void this.processLoop();

  constructor(private readonly opts: DriverOptions<R>) {
    this.time = opts.scheduler ?? realScheduler;
    this.log = opts.logger ?? noopLogger;
    this.applyBeforeCommit = opts.core.mutations?.includes('apply-before-commit') ?? false;
  }

  async start(): Promise<void> {
    let persisted = await this.opts.storage.load();
    const initial = this.opts.initialMembership;
    if (persisted.snapshot === null && persisted.entries.length === 0 && initial.voters.length + initial.learners.length > 0) {
      // The membership must live in the log, not in the configuration: storage hands back an
      // empty initial membership on restart, and a node that joins later replays the log from
      // index 1 (when no snapshot covers it) with nothing but the log to go on.
      const entries = bootstrapEntries(initial);
      const hardState = { term: BOOTSTRAP_TERM, vote: null, commit: entries.length };
      await this.opts.storage.save({ hardState, entries, snapshot: null });
      persisted = { hardState, snapshot: null, entries, initialMembership: { voters: [], learners: [] } };
    }
    if (persisted.snapshot) {
      // Read from storage a range at a time and restored in slices, so that the process goes on
      // answering (its peer links' liveness pings) while it loads and no buffer holds the image.
      const { meta, size } = persisted.snapshot;
      const started = this.time.now();
      const hasher = this.newHasher();
      const restored = await this.restoreInSlices(size, this.storedReader(meta.index, size, hasher), () => false);
      if (restored === null) return; // stopped while loading
      if (!sameBytes(hasher.digest(), meta.digest)) {
        restored.sink.abort();
        throw new SnapshotDigestError(`the stored snapshot at index ${meta.index} does not match its digest`);
      }
      restored.sink.finish();
      this.applied = meta.index;
      this.snapshotIndex = meta.index;
      this.lastImageBytes = size;
      this.log.info(
        { index: meta.index, bytes: size, ms: this.time.now() - started, slices: restored.slices, longestSliceMs: restored.longestSliceMs },
        'restored snapshot from disk',
      );
    }
    const random = this.opts.core.random ?? Math.random;
    this.drawSnapshotStretch();
    // Received snapshots are hashed chunk by chunk with the hasher that hashes takes (see snapshotHasher).
    this.core = new RaftCore(
      { ...this.opts.core, random, snapshotDigest: this.opts.core.snapshotDigest ?? snapshotDigest, snapshotHasher: () => this.newHasher() },
      persisted,
    );
    this.opts.transport.onMessage((m) => this.onPeerMessage(m));
    this.ticker = this.time.every(this.opts.tickMs, () => this.onTick());
    this.lastTick = this.time.monotonic();
    this.log.info(
      { applied: this.applied, entries: persisted.entries.length, term: persisted.hardState.term },
      'raft node started from disk',
    );
    this.schedule();
  }

  /** Propose a command; resolves with the state machine's result once committed and applied here. */
  propose(data: Uint8Array): Promise<R> {
    this.assertRunning();
    const { index, term } = this.core.propose(data, this.clockReading());
    const p = new Promise<R>((resolve, reject) => {
      const timer = this.time.after(this.opts.requestTimeoutMs, () => {
        this.proposals.delete(index);
        reject(new RaftError('TIMEOUT', `proposal ${index} not committed within ${this.opts.requestTimeoutMs} ms; outcome unknown`));
      });
      this.proposals.set(index, { term, resolve, reject, timer, proposedAt: this.time.monotonic(), writtenAt: null, committedAt: null });
    });
    this.schedule();
    return p;
  }

  /**
   * The replicated time an entry proposed now would carry on a leader (RaftCore.readTime), the latest
   * known elsewhere. Not a linearizable read: for local looks at the applied state whose answer is
   * confirmed another way (a long poll's wake-ups, which propose or wait again).
   */
  replicatedTime(): number {
    return this.core.readTime(this.clockReading());
  }

  /**
   * The replicated time to evaluate a read at on the state applied now, after readBarrier: never
   * past an entry in the log that this state has not applied (RaftCore.readTime), never a bare
   * wall clock.
   */
  readTime(): number {
    return this.core.readTime(this.clockReading(), this.applied);
  }

  /**
   * Resolves once this node may serve a linearizable read from its state machine (ReadIndex, §6.4).
   * Evaluate the read at readTime(), taken in the same synchronous step as the evaluation: more
   * entries may be applied between the resolution and the awaiting code.
   */
  readBarrier(): Promise<void> {
    this.assertRunning();
    if (this.soft.role !== 'leader') {
      throw new RaftError('NOT_LEADER', 'reads are served by the leader', this.soft.leader);
    }
    const p = new Promise<void>((resolve, reject) => {
      const read: PendingRead = {
        resolve,
        reject,
        timer: this.time.after(this.opts.requestTimeoutMs, () => {
          this.dropRead(read);
          reject(new RaftError('TIMEOUT', `read not confirmed within ${this.opts.requestTimeoutMs} ms`));
        }),
      };
      this.queuedReads.push(read);
    });
    this.startReadRound();
    return p;
  }

  async changeMembership(cc: ConfChange): Promise<void> {
    this.assertRunning();
    const { index, term } = this.core.proposeConfChange(cc, this.clockReading());
    await new Promise<undefined>((resolve, reject) => {
      const timer = this.time.after(this.opts.requestTimeoutMs, () => {
        this.confWaiters.delete(index);
        reject(new RaftError('TIMEOUT', `membership change ${cc.type} ${cc.node} not committed in time`));
      });
      this.confWaiters.set(index, { term, resolve, reject, timer, proposedAt: this.time.monotonic(), writtenAt: null, committedAt: null });
      this.schedule();
    });
  }

  /**
   * Hand leadership to the most up-to-date voter (§3.10), for a graceful shutdown. Resolves when
   * this node is no longer leader or the attempt timed out.
   */
  async transferLeadership(timeoutMs: number): Promise<boolean> {
    if (this.stopped || this.soft.role !== 'leader') return true;
    const st = this.core.status();
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const id of st.membership.voters) {
      if (id === st.id) continue;
      const pr = st.progress[id];
      if (pr && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === null) return false;
    this.log.info({ to: best }, 'transferring leadership');
    this.core.transferLeadership(best);
    this.schedule();
    const deadline = this.time.now() + timeoutMs;
    while (this.soft.role === 'leader' && this.time.now() < deadline) {
      await new Promise((r) => this.time.after(this.opts.tickMs, () => r(undefined)));
    }
    return this.soft.role !== 'leader';
  }

  onRoleChange(listener: RoleListener): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  softState(): SoftState {
    return { ...this.soft };
  }

  /** Whether start() has made the core: status() and the rest need it. */
  hasStarted(): boolean {
    return this.core !== undefined;
  }

  status() {
    return { ...this.core.status(), applied: this.applied, snapshotIndex: this.snapshotIndex };
  }

  /** Resolves once the local state machine has applied `index` (used by tests and catch-up checks). */
  waitApplied(index: number): Promise<void> {
    if (this.applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  async stop(): Promise<void> {
    if (this.stopped) {
      // A halted node still lets go of its store (closing is idempotent; the store may be broken).
      if (this.lastError !== null) await this.opts.storage.close().catch(() => undefined);
      return;
    }
    this.stopped = true;
    if (this.ticker !== null) this.time.cancel(this.ticker);
    this.abandonSnapshot();
    this.abandonReceived();
    // Let an in-flight write finish so that nothing acknowledged is left half-written.
    while (this.processing) await new Promise((r) => this.time.after(1, () => r(undefined)));
    const err = new RaftError('STOPPED', 'node is shutting down');
    this.failPendingProposals(err);
    this.failAllReads(err);
    await this.opts.storage.close();
  }

  /** The storage failure that halted this node, or null while it runs. */
  halted(): Error | null {
    return this.lastError;
  }

  /**
   * Milliseconds since the Raft loop last ticked or started ticking (on the scheduler's monotonic
   * clock), or null before the start. Grows without bound once the node stopped or halted: its
   * ticker is cancelled.
   */
  sinceLastTickMs(): number | null {
    return this.lastTick === null ? null : this.time.monotonic() - this.lastTick;
  }

  /** True while a leader's snapshot, received and durable, is being restored into the state machine. */
  installingSnapshot(): boolean {
    return this.restore !== null;
  }

  private assertRunning(): void {
    if (this.lastError) throw new RaftError('STOPPED', `node halted after a storage failure: ${this.lastError.message}`);
    if (this.stopped) throw new RaftError('STOPPED', 'node is shutting down');
  }

  private clockReading(): ClockReading {
    return { wall: this.time.now(), mono: this.time.monotonic() };
  }

  private onTick(): void {
    this.lastTick = this.time.monotonic();
    this.core.tick(this.clockReading());
    this.sendHeartbeats();
    this.schedule();
  }

  private onPeerMessage(m: Message): void {
    if (this.stopped) return;
    this.core.step(m, this.clockReading());
    this.sendHeartbeats();
    this.applyCommittedDuringWrite();
    this.schedule();
  }

  /**
   * What a message committed while a Ready's write is under way is applied, and its waiters told,
   * at once rather than after that write (see RaftCore.takeCommitted); the processing loop applies
   * what a slice leaves, as for any batch. The snapshot triggers are checked by the loop, after
   * the Ready.
   */
  private applyCommittedDuringWrite(): void {
    const entries = this.core.takeCommitted();
    if (entries.length === 0) return;
    this.applyCommitted(entries);
    this.serveReads();
    this.notifyApplied();
  }

  /** Heartbeats and their answers leave at once, without waiting for a write in progress (see RaftCore.takeHeartbeats). */
  private sendHeartbeats(): void {
    for (const m of this.core.takeHeartbeats()) this.opts.transport.send(m);
  }

  private startReadRound(): void {
    if (this.queuedReads.length === 0) return;
    // One round in flight at a time: reads arriving meanwhile share the next round.
    if (this.readBatches.some((b) => b.index === null)) return;
    const batch: ReadBatch = { context: this.nextReadContext++, reads: this.queuedReads, index: null };
    this.queuedReads = [];
    try {
      this.core.readIndex(batch.context);
    } catch (err) {
      for (const r of batch.reads) {
        this.time.cancel(r.timer);
        r.reject(err as Error);
      }
      return;
    }
    this.readBatches.push(batch);
    this.schedule();
  }

  private dropRead(read: PendingRead): void {
    this.queuedReads = this.queuedReads.filter((r) => r !== read);
    for (const b of this.readBatches) b.reads = b.reads.filter((r) => r !== read);
  }

  private failAllReads(err: Error): void {
    for (const r of [...this.queuedReads, ...this.readBatches.flatMap((b) => b.reads)]) {
      this.time.cancel(r.timer);
      r.reject(err);
    }
    this.queuedReads = [];
    this.readBatches.length = 0;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.processing) {
      this.rerun = true;
      this.queueAppendFlush();
      return;
    }
    this.processing = true;
    this.time.defer(this.runLoop);
  }

  /**
   * While a Ready is being handled (its write under way, mostly), a leader's appends queued in this
   * turn leave at its end, all the turn's proposals in one append per follower (RaftCore.takeAppends),
   * instead of waiting for the write to end.
   */
  private queueAppendFlush(): void {
    if (this.appendFlushQueued) return;
    this.appendFlushQueued = true;
    this.time.defer(() => {
      this.appendFlushQueued = false;
      if (this.stopped) return;
      for (const m of this.core.takeAppends()) this.opts.transport.send(m);
    });
  }

  private async processLoop(): Promise<void> {
    try {
      do {
        this.rerun = false;
        if (this.restore?.done) this.finishRestore(this.restore);
        while (!this.stopped && this.core.hasReady()) {
          await this.handleReady(this.core.ready());
          if (!this.stopped && this.restore?.done) this.finishRestore(this.restore);
        }
        if (!this.stopped && this.toApplyHead < this.toApply.length) {
          // Entries left from a slow batch: yield first, so that timers and messages get their
          // turn (their Readies come before the next slice), then apply the next slice.
          await new Promise<void>((resolve) => this.time.defer(resolve));
          if (!this.stopped) {
            this.applyQueued();
            this.serveReads();
            this.notifyApplied();
            this.maybeBeginSnapshot();
          }
          this.rerun = true;
          continue;
        }
        // A finished image is committed here, between Readies (its bytes are already on disk).
        if (!this.stopped && this.take?.done) await this.storeSnapshot(this.take);
      } while (this.rerun && !this.stopped);
    } catch (err) {
      // A failed fsync leaves us unsure what is on disk: stop taking part rather than risk
      // acknowledging something that is not durable.
      this.halt(err as Error);
    } finally {
      this.processing = false;
    }
  }

  /**
   * Fail-stop: nothing more is written, sent or answered. Waiting requests fail at once (their
   * outcome is unknown, as for a crash); the owner is told so that it can leave the cluster's way.
   */
  private halt(cause: Error): void {
    this.lastError = cause;
    this.log.error({ err: cause }, 'raft storage failure: node halted');
    this.stopped = true;
    if (this.ticker !== null) this.time.cancel(this.ticker);
    this.abandonSnapshot();
    this.abandonReceived();
    const err = new RaftError('STOPPED', `node halted after a storage failure: ${cause.message}`);
    this.failPendingProposals(err);
    this.failAllReads(err);
    this.opts.onHalt?.(cause);
  }

  /** Carries out one Ready in the order its contract gives (see Ready in types.ts). */
  private async handleReady(rd: Ready): Promise<void> {
    const transport = this.opts.transport;
    for (const m of rd.messagesNow) transport.send(m);
    if (this.applyBeforeCommit && this.restore === null) this.applyUncommitted(rd.entries);
    if (rd.applyBeforeWrite) this.applyCommitted(rd.committedEntries);
    const acks = this.stageReceivedChunks(rd.receivedChunks);
    if (rd.mustSync) {
      await this.opts.storage.save({ hardState: rd.hardState, entries: rd.entries, snapshot: await this.receivedSnapshot(rd) });
      this.opts.onSynced?.();
    }
    if (this.opts.onProposalStages !== undefined) this.stamp(rd.entries, 'writtenAt');
    for (const m of rd.messagesAfterWrite) transport.send(m);
    for (const send of rd.snapshotSends) this.sendSnapshotChunk(send);
    for (const { ack, room } of acks) {
      room.then(
        () => {
          if (!this.stopped) transport.send(ack);
        },
        (err: Error) => {
          if (!this.stopped) this.halt(err);
        },
      );
    }
    if (rd.snapshot) {
      // The leader's image replaces the state a local take is writing out, and covers it.
      this.abandonSnapshot();
      this.beginRestore(rd.snapshot);
    }
    if (!rd.applyBeforeWrite) this.applyCommitted(rd.committedEntries);
    for (const rs of rd.readStates) {
      const batch = this.readBatches.find((b) => b.context === rs.context);
      if (batch) batch.index = rs.index;
    }
    this.core.advance(rd);
    // Before any later compaction: snapshots being sent stay readable when a newer one replaces them.
    this.opts.storage.keepSnapshots(this.core.snapshotsBeingSent());
    if (rd.softState) this.onSoftState(rd.softState);
    this.serveReads();
    this.notifyApplied();
    this.maybeBeginSnapshot();
    this.startReadRound();
  }

  /**
   * Hands the chunks of a leader's snapshot to a storage writer (a new one at offset 0, dropping
   * what an earlier transfer staged), beside the Raft loop; returns their acknowledgments, each with
   * the promise that the writer has room for the next chunk, after which it may leave.
   */
  private stageReceivedChunks(chunks: ReceivedChunk[]): Array<{ ack: Message; room: Promise<void> }> {
    const acks: Array<{ ack: Message; room: Promise<void> }> = [];
    for (const chunk of chunks) {
      if (chunk.offset === 0) {
        this.receiving?.writer.abort();
        this.receiving = { meta: chunk.meta, writer: this.opts.storage.beginSnapshot(), bytes: 0 };
      }
      const r = this.receiving;
      // The core accepts chunks in order from offset 0 only.
      if (r === null || r.meta.index !== chunk.meta.index || r.bytes !== chunk.offset) {
        throw new Error(`snapshot chunk at ${chunk.offset} of ${chunk.meta.index} does not continue the transfer being staged`);
      }
      r.bytes += chunk.data.length;
      const mayWrite = r.writer.write(chunk.data);
      if (chunk.ack !== null) acks.push({ ack: chunk.ack, room: mayWrite ? Promise.resolve() : r.writer.drained() });
      if (r.bytes === chunk.total) {
        this.received.push(r);
        this.receiving = null;
      }
    }
    return acks;
  }

  /** The snapshot of `rd`, if any, with the writer that staged it, once that writer stored its last batch. */
  private async receivedSnapshot(rd: Ready): Promise<ReceivedSnapshot | null> {
    if (rd.snapshot === null) return null;
    const { index } = rd.snapshot.meta;
    let r: ReceivedTransfer | undefined;
    for (const t of this.received) if (t.meta.index === index && t.bytes === rd.snapshot.size) r = t;
    for (const other of this.received) if (other !== r) other.writer.abort();
    this.received = [];
    if (r === undefined) throw new Error(`the snapshot at ${index} was not staged as it was received`);
    await r.writer.end();
    return { ...rd.snapshot, writer: r.writer };
  }

  private maybeBeginSnapshot(): void {
    const stretch = this.snapshotStretch;
    if (this.applied - this.snapshotIndex >= this.snapshotEntryTrigger() * stretch || this.bytesSinceSnapshot >= (this.opts.snapshotBytes ?? Infinity) * stretch) {
      this.beginSnapshot();
    }
  }

  /** Entries applied since the last snapshot that trigger the next: `snapshotEntries`, or more for a large image. */
  private snapshotEntryTrigger(): number {
    const perEntry = this.opts.snapshotImageBytesPerEntry ?? 0;
    if (perEntry <= 0) return this.opts.snapshotEntries;
    return Math.max(this.opts.snapshotEntries, Math.ceil(this.lastImageBytes / perEntry));
  }

  /** Draws this node's stretch of the snapshot triggers until its next snapshot (no draw without jitter). */
  private drawSnapshotStretch(): void {
    const jitter = this.opts.snapshotJitter ?? 0;
    if (jitter > 0) this.snapshotStretch = 1 + jitter * (this.opts.core.random ?? Math.random)();
  }

  /** The 'apply-before-commit' mutation: applies (and answers) new entries as they are appended. */
  private applyUncommitted(entries: Entry[]): void {
    for (const e of entries) if (e.index === this.applied + 1) this.applyEntry(e);
  }

  private applyCommitted(entries: Entry[]): void {
    if (entries.length === 0) return;
    if (this.opts.onProposalStages !== undefined) this.stamp(entries, 'committedAt');
    if (this.restore !== null) {
      // They follow the image being restored: applied once it is live (write, restore, apply).
      for (const e of entries) this.restore.queued.push(e);
      return;
    }
    for (const e of entries) this.toApply.push(e);
    this.applyQueued();
  }

  /**
   * Applies queued committed entries, in order, for at most `applySliceMs` (at least one entry);
   * what is left waits for the processing loop's next turn. The caller then serves reads, tells
   * waiters and checks the snapshot triggers (after the core counted the Ready's entries applied:
   * a snapshot is of what both have seen applied).
   */
  private applyQueued(): void {
    const sliceMs = this.opts.applySliceMs ?? 10;
    const maxEntries = this.opts.applySliceEntries ?? Infinity;
    const t0 = this.time.monotonic();
    const started = performance.now();
    let n = 0;
    while (this.toApplyHead < this.toApply.length && n < maxEntries) {
      this.applyEntry(this.toApply[this.toApplyHead++]!);
      n++;
      if (this.time.monotonic() - t0 >= sliceMs) break;
    }
    if (this.toApplyHead === this.toApply.length) {
      this.toApply = [];
      this.toApplyHead = 0;
    }
    if (n > 0) this.opts.onApplyBatch?.(n, (performance.now() - started) / 1000);
  }

  /** Drops queued entries a leader's image covers (all of them: the core installs only images past its commit index). */
  private dropQueuedCoveredBy(index: number): Entry[] {
    const left = this.toApply.slice(this.toApplyHead).filter((e) => e.index > index);
    this.toApply = [];
    this.toApplyHead = 0;
    return left;
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.applied) return;
    const result = e.type === EntryType.Normal ? this.opts.stateMachine.apply(e.data, { index: e.index, term: e.term, time: e.time }) : undefined;
    this.applied = e.index;
    this.bytesSinceSnapshot += e.data.length;
    if (e.type === EntryType.ConfChange) this.settle(this.confWaiters, e, undefined);
    else this.settle(this.proposals, e, result);
  }

  /** Notes when this node's pending proposals among `entries` reached a stage (first time only). */
  private stamp(entries: Entry[], stage: 'writtenAt' | 'committedAt'): void {
    if (this.proposals.size === 0) return;
    const now = this.time.monotonic();
    for (const e of entries) {
      const pending = this.proposals.get(e.index);
      if (pending !== undefined && pending.term === e.term && pending[stage] === null) pending[stage] = now;
    }
  }

  /** Completes the proposal waiting at `e.index`, if any: with `result` only if `e` is the very entry it proposed. */
  private settle<T>(waiters: Map<number, PendingProposal<T>>, e: Entry, result: T | undefined): void {
    const pending = waiters.get(e.index);
    if (!pending) return;
    waiters.delete(e.index);
    this.time.cancel(pending.timer);
    // A different term at the index means another leader overwrote the proposal (and a Noop or
    // ConfChange at a proposal's index can only be such an overwrite).
    if (pending.term === e.term && (e.type !== EntryType.Normal || result !== undefined)) {
      this.tellStages(pending);
      pending.resolve(result as T);
    } else pending.reject(new RaftError('NOT_LEADER', 'leadership changed and the proposal was overwritten; it was not applied', this.soft.leader));
  }

  private tellStages<T>(p: PendingProposal<T>): void {
    // Membership changes are never stamped (stamp looks at proposals only).
    if (this.opts.onProposalStages === undefined || p.committedAt === null) return;
    const now = this.time.monotonic();
    this.opts.onProposalStages({
      writeMs: p.writtenAt !== null && p.writtenAt <= p.committedAt ? p.writtenAt - p.proposedAt : null,
      commitMs: p.committedAt - p.proposedAt,
      applyMs: now - p.committedAt,
    });
  }

  private onSoftState(s: SoftState): void {
    const changed = s.role !== this.soft.role || s.leader !== this.soft.leader || s.term !== this.soft.term;
    const lostLeadership = this.soft.role === 'leader' && s.role !== 'leader';
    this.soft = { ...s };
    if (!changed) return;
    this.log.info({ role: s.role, leader: s.leader, term: s.term }, 'raft role changed');
    if (lostLeadership) {
      // Reads need a current leader: refused, they changed nothing. Proposals may still commit
      // under the new leader (or be overwritten by it), and this node can no longer say which
      // before the client's deadline, so they are answered now as "outcome unknown": a client
      // retrying with the same id/rid at once gets the one result, instead of waiting out the
      // request timeout for the same unknown.
      this.failAllReads(new RaftError('NOT_LEADER', 'lost leadership before the read was confirmed', s.leader));
      this.failPendingProposals(
        new RaftError('LEADERSHIP_LOST', `stepped down in term ${s.term} before the request committed; outcome unknown, retry with the same id`, s.leader),
      );
    }
    for (const l of this.roleListeners) l(this.softState());
  }

  private failPendingProposals(err: RaftError): void {
    for (const p of [...this.proposals.values(), ...this.confWaiters.values()]) {
      this.time.cancel(p.timer);
      p.reject(err);
    }
    this.proposals.clear();
    this.confWaiters.clear();
  }

  private serveReads(): void {
    while (this.readBatches.length > 0) {
      const b = this.readBatches[0]!;
      if (b.index === null || b.index > this.applied) return;
      this.readBatches.shift();
      for (const r of b.reads) {
        this.time.cancel(r.timer);
        r.resolve();
      }
    }
  }

  private notifyApplied(): void {
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      const w = this.appliedWaiters[i]!;
      if (w.index <= this.applied) {
        this.appliedWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /**
   * Begins taking a snapshot, unless one is under way: the state machine hands out a point-in-time
   * source, and `takeSnapshotSlice` pulls its pieces a slice at a time, beside the Raft loop, which
   * goes on ticking, replicating and applying. Each piece goes to a storage writer, which stages it
   * in batches beside the Raft loop's writes; the processing loop commits the image once complete
   * (a crash before that leaves the previous snapshot and the log as they were).
   */
  private beginSnapshot(): void {
    // Nothing is applied while a leader's image is being restored: it is taken after.
    if (this.take !== null || this.restore !== null) return;
    // The core snapshots only what it has seen applied (the 'apply-before-commit' mutation runs ahead).
    const index = Math.min(this.applied, this.core.status().applied);
    // A snapshot from the leader may have replaced the core's log while this Ready was being
    // written; it is installed with the next Ready, and already covers this one.
    if (index <= this.snapshotIndex || index <= this.core.latestSnapshotIndex()) return;
    const take: SnapshotTake = {
      index,
      source: this.opts.stateMachine.snapshotSource(),
      hasher: this.newHasher(),
      writer: this.opts.storage.beginSnapshot(),
      bytes: 0,
      sourceDone: false,
      bytesAtStart: this.bytesSinceSnapshot,
      started: this.time.now(),
      slices: 0,
      longestSliceMs: 0,
      done: null,
    };
    this.take = take;
    this.time.defer(() => this.takeSnapshotSlice(take));
  }

  /**
   * One slice of a take: pieces until the slice's time or piece budget is spent, then yield; or,
   * when the storage writer has enough to store, wait until it took some.
   */
  private takeSnapshotSlice(take: SnapshotTake): void {
    if (this.take !== take || this.stopped) return;
    const sliceMs = this.opts.snapshotSliceMs ?? 4;
    const maxPieces = this.opts.snapshotSlicePieces ?? 64;
    const t0 = this.time.monotonic();
    take.slices++;
    let mayWrite = true;
    for (let n = 0; n < maxPieces && mayWrite && this.time.monotonic() - t0 < sliceMs; n++) {
      const piece = take.source.next();
      if (piece === null) {
        take.longestSliceMs = Math.max(take.longestSliceMs, this.time.monotonic() - t0);
        this.finishTake(take);
        return;
      }
      if (piece.length === 0) continue;
      take.hasher.update(piece);
      take.bytes += piece.length;
      mayWrite = take.writer.write(piece);
    }
    take.longestSliceMs = Math.max(take.longestSliceMs, this.time.monotonic() - t0);
    const next = () => this.takeSnapshotSlice(take);
    if (!mayWrite) {
      take.writer.drained().then(
        () => this.time.defer(next),
        (err: Error) => this.snapshotStoreFailed(take, err),
      );
      return;
    }
    const pause = this.opts.snapshotYieldMs ?? 0;
    if (pause > 0) this.time.after(pause, next);
    else this.time.defer(next);
  }

  /** The source is exhausted: once the writer staged the rest, the image is ready to commit. */
  private finishTake(take: SnapshotTake): void {
    take.sourceDone = true;
    const digest = take.hasher.digest();
    take.writer.end().then(
      () => {
        if (this.take !== take || this.stopped) return;
        take.done = { digest };
        this.schedule();
      },
      (err: Error) => this.snapshotStoreFailed(take, err),
    );
  }

  /** Staging the image failed: a storage failure like any other (see `halt`). */
  private snapshotStoreFailed(take: SnapshotTake, err: Error): void {
    if (this.take !== take || this.stopped) return;
    this.halt(err);
  }

  /**
   * Commits a complete, staged image (one small synced write) and compacts the log up to it; in the
   * processing loop, between Readies, as compaction always was.
   */
  private async storeSnapshot(take: SnapshotTake): Promise<void> {
    this.take = null;
    const { index } = take;
    // A leader's snapshot installed meanwhile abandons the take; this is the belt to those braces.
    if (index <= this.snapshotIndex || index <= this.core.latestSnapshotIndex()) {
      take.writer.abort();
      return;
    }
    const committing = this.time.monotonic();
    const snapshot = this.core.createSnapshot(index, take.bytes, take.done!.digest);
    await take.writer.commit(snapshot.meta);
    this.core.compact(snapshot);
    // How long the processing loop, and so the Raft loop, waited for this snapshot.
    const commitMs = Math.round((this.time.monotonic() - committing) * 10) / 10;
    this.snapshotIndex = snapshot.meta.index;
    this.lastImageBytes = take.bytes;
    this.drawSnapshotStretch();
    this.bytesSinceSnapshot = Math.max(0, this.bytesSinceSnapshot - take.bytesAtStart);
    this.log.info(
      {
        index: snapshot.meta.index,
        bytes: snapshot.size,
        ms: this.time.now() - take.started,
        slices: take.slices,
        longestSliceMs: Math.round(take.longestSliceMs * 10) / 10,
        commitMs,
        // Below `index` when the log keeps the entries it covers for a follower catching up (catchUpLogBytes).
        compactedThrough: this.core.compactedThrough(),
      },
      'snapshot taken',
    );
  }

  /**
   * Begins restoring a leader's snapshot, now durable, beside the Raft loop (replacing one under
   * way): the loop goes on handling Readies meanwhile — ticks, peer messages, writes, and the
   * acknowledgments and votes that follow them — so the node keeps its place in the cluster, but
   * the committed entries they hand out wait in `queued` (write, restore, apply). Once every
   * piece is in, the processing loop makes the image live and applies them (`finishRestore`).
   */
  private beginRestore(snapshot: StoredSnapshot): void {
    const earlier = this.restore;
    const restore: SnapshotRestore = {
      meta: snapshot.meta,
      bytes: snapshot.size,
      started: this.time.now(),
      // The core hands out nothing the newer image does not cover; the filter is for safety only.
      queued: [...this.dropQueuedCoveredBy(snapshot.meta.index), ...(earlier?.queued.filter((e) => e.index > snapshot.meta.index) ?? [])],
      done: null,
    };
    this.restore = restore;
    // An earlier image complete but not yet live is dropped; one still being fed stops at its next slice.
    if (earlier?.done && 'sink' in earlier.done) earlier.done.sink.abort();
    // Read back from storage, where it is durable by now (step 5 follows step 3).
    const hasher = this.newHasher();
    const { meta, size } = snapshot;
    this.restoreInSlices(size, this.storedReader(meta.index, size, hasher), () => this.restore !== restore).then(
      (restored) => {
        if (restored === null) return;
        if (this.restore !== restore) {
          restored.sink.abort();
          return;
        }
        if (!sameBytes(hasher.digest(), meta.digest)) {
          restored.sink.abort();
          restore.done = { error: new SnapshotDigestError(`the snapshot at ${meta.index} read back from storage does not match its digest`) };
          this.schedule();
          return;
        }
        restore.done = restored;
        this.schedule();
      },
      (error: unknown) => {
        if (this.restore !== restore) return;
        restore.done = { error };
        this.schedule();
      },
    );
  }

  /** Makes a restored image live and applies what was committed meanwhile (in the processing loop). */
  private finishRestore(restore: SnapshotRestore): void {
    this.restore = null;
    const done = restore.done!;
    // A bad image: the state as it was, and the node halts as for a storage failure.
    if ('error' in done) throw done.error;
    done.sink.finish();
    this.applied = restore.meta.index;
    this.snapshotIndex = restore.meta.index;
    this.lastImageBytes = restore.bytes;
    this.drawSnapshotStretch();
    this.bytesSinceSnapshot = 0;
    this.log.info(
      {
        index: restore.meta.index,
        bytes: restore.bytes,
        ms: this.time.now() - restore.started,
        slices: done.slices,
        longestSliceMs: done.longestSliceMs,
        queued: restore.queued.length,
      },
      'installed snapshot from leader',
    );
    this.applyCommitted(restore.queued);
    this.serveReads();
    this.notifyApplied();
    this.maybeBeginSnapshot();
  }

  /**
   * Feeds an image of `size` bytes, got a piece at a time from `read(offset, length)`, to a new
   * restore sink of the state machine a slice at a time (as a take is pulled), yielding between
   * slices; the caller finishes the sink. Null if the node stopped or `cancelled()` meanwhile (the
   * sink aborted: the state as it was); a bad image, or a failed read, rejects with its error, the
   * sink aborted.
   */
  private async restoreInSlices(
    size: number,
    read: (offset: number, length: number) => Uint8Array | Promise<Uint8Array>,
    cancelled: () => boolean,
  ): Promise<{ sink: RestoreSink; slices: number; longestSliceMs: number } | null> {
    const sink = this.opts.stateMachine.restoreSink(size);
    const pieceBytes = this.opts.restorePieceBytes ?? 64 * 1024;
    const sliceMs = this.opts.snapshotSliceMs ?? 4;
    const maxPieces = this.opts.snapshotSlicePieces ?? 64;
    let at = 0;
    let slices = 0;
    let longest = 0;
    try {
      while (at < size) {
        if (slices > 0) await this.yieldSlice();
        if (this.stopped || cancelled()) {
          sink.abort();
          return null;
        }
        const t0 = this.time.monotonic();
        slices++;
        for (let n = 0; n < maxPieces && at < size && this.time.monotonic() - t0 < sliceMs; n++) {
          const length = Math.min(size - at, pieceBytes);
          let piece = read(at, length);
          if (piece instanceof Promise) {
            // A read from storage: the slice ends there (the wait is not the slice's work).
            longest = Math.max(longest, this.time.monotonic() - t0);
            try {
              piece = await piece;
            } catch (err) {
              // A newer snapshot replaced this one in storage: the restore was cancelled anyway.
              if (this.stopped || cancelled()) {
                sink.abort();
                return null;
              }
              throw err;
            }
            if (this.stopped || cancelled()) {
              sink.abort();
              return null;
            }
            sink.write(piece);
            at += length;
            break;
          }
          sink.write(piece);
          at += length;
        }
        longest = Math.max(longest, this.time.monotonic() - t0);
      }
    } catch (err) {
      sink.abort();
      throw err;
    }
    return { sink, slices, longestSliceMs: Math.round(longest * 10) / 10 };
  }

  /**
   * Reads the stored image at `index` for `restoreInSlices`: LOAD_READ_BYTES from storage at a
   * time (a promise), then the pieces of that range from memory, each hashed as it is handed out.
   */
  private storedReader(index: number, size: number, hasher: SnapshotHasher): (offset: number, length: number) => Uint8Array | Promise<Uint8Array> {
    let range: Uint8Array = new Uint8Array(0);
    let rangeAt = 0;
    const piece = (offset: number, length: number): Uint8Array => {
      const p = range.subarray(offset - rangeAt, offset - rangeAt + length);
      hasher.update(p);
      return p;
    };
    return (offset, length) => {
      if (offset >= rangeAt && offset + length <= rangeAt + range.length) return piece(offset, length);
      const want = Math.max(length, Math.min(LOAD_READ_BYTES, size - offset));
      return this.opts.storage.readSnapshot(index, offset, want).then((bytes) => {
        if (bytes.length !== want) throw new SnapshotDigestError(`storage returned ${bytes.length} bytes of the snapshot at ${index}, ${want} asked`);
        range = bytes;
        rangeAt = offset;
        return piece(offset, length);
      });
    };
  }

  /**
   * Fills a chunk the core wants sent with its bytes, read from storage beside the Raft loop, and
   * sends it after the chunks asked for before it to the same follower: reads go on side by side,
   * but a follower takes chunks in order only. A read that fails drops the chunk, and the core is
   * told: it starts over with its latest snapshot if storage let that one go, or resends from the
   * follower's last confirmed chunk when the follower is found idle.
   */
  private sendSnapshotChunk(send: SnapshotSend): void {
    const { length, ...chunk } = send;
    // What to do once the chunks before it left: send it, or tell the core it could not be read.
    const ready = this.opts.storage.readSnapshot(send.meta.index, send.offset, length).then(
      (data) => () => {
        if (!this.stopped) this.opts.transport.send({ ...chunk, data });
      },
      (err: Error) => () => {
        this.log.debug({ to: send.to, index: send.meta.index, offset: send.offset, err: err.message }, 'snapshot chunk not sent: read failed');
        if (this.stopped) return;
        this.core.snapshotReadFailed(send.to, send.meta.index);
        this.schedule();
      },
    );
    const sent = (this.chunksOnTheirWay.get(send.to) ?? Promise.resolve()).then(() => ready).then((then) => then());
    this.chunksOnTheirWay.set(send.to, sent);
    void sent.then(() => {
      if (this.chunksOnTheirWay.get(send.to) === sent) this.chunksOnTheirWay.delete(send.to);
    });
  }

  private newHasher(): SnapshotHasher {
    if (this.opts.snapshotHasher) return this.opts.snapshotHasher();
    const digest = this.opts.core.snapshotDigest;
    return digest ? wholeDataHasher(digest) : snapshotHasher();
  }

  /** Lets timers, I/O and messages run between two slices of a restore. */
  private yieldSlice(): Promise<void> {
    const pause = this.opts.snapshotYieldMs ?? 0;
    return new Promise((resolve) => {
      if (pause > 0) this.time.after(pause, resolve);
      else this.time.defer(resolve);
    });
  }

  /** Drops what transfers from a leader staged and no Ready installed (stop, halt). */
  private abandonReceived(): void {
    this.receiving?.writer.abort();
    this.receiving = null;
    for (const t of this.received) t.writer.abort();
    this.received = [];
  }

  /** Drops a take under way (stop, halt, or a leader's snapshot replacing the state), and what it staged. */
  private abandonSnapshot(): void {
    if (this.take === null) return;
    if (!this.take.sourceDone) this.take.source.close();
    this.take.writer.abort();
    this.take = null;
  }
}
