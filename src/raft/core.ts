// The Raft consensus core (Ongaro's dissertation, shaped like etcd's raft): a deterministic state
// machine driven by tick/step/propose. It never touches a clock, disk or socket; it emits Ready
// batches that say what to write, what to send before and after the write, and what to apply
// (see Ready in types.ts).
//
// Durability: everything a message depends on (term, vote, entries) is in the same Ready as the
// message or an earlier one. The core knows which term and vote are durable (reported through
// `advance`), so it alone decides which messages may leave before the write and whether a write
// is needed at all. A leader counts its own log toward a quorum only up to what the caller
// reported persisted through `advance`.

import { utf8Length } from '../wire/text.js';
import { DEFAULT_CODEC_LIMITS } from './codec.js';
import { EntryClock, type ClockReading } from './entry-clock.js';
import { entryBytes, RaftLog } from './log.js';
import {
  applyConfChange,
  cloneMembership,
  decodeConfChange,
  encodeConfChange,
  isMember,
  isVoter,
  MembershipHistory,
  quorumSize,
  sameMembership,
} from './membership.js';
import { Progress } from './progress.js';
import { ReadIndexQueue } from './read-index.js';
import {
  EntryType,
  RaftError,
  type AppendRequest,
  type AppendResponse,
  type ConfChange,
  type Entry,
  type HardState,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type Membership,
  type Message,
  type NodeId,
  type PersistedState,
  type RaftMutation,
  type ReadState,
  type Ready,
  type Role,
  type SnapshotChunk,
  type ReceivedChunk,
  type SnapshotSend,
  type StoredSnapshot,
  type SnapshotResponse,
  type SoftState,
  type VoteRequest,
  type PreVoteRequest,
  type VoteResponse,
} from './types.js';

export interface RaftConfig {
  id: NodeId;
  /** Election timeout in ticks; each election picks a random timeout in [electionTick, 2*electionTick). */
  electionTick: number;
  heartbeatTick: number;
  /** §9.6: probe with a Pre-Vote before disrupting the cluster with a new term. */
  preVote: boolean;
  /** A leader that has not heard from a quorum within an election timeout steps down. */
  checkQuorum: boolean;
  /** Unacknowledged appends in flight per follower in replicate state. */
  maxInflightMsgs: number;
  maxEntriesPerMsg: number;
  maxBytesPerMsg: number;
  /** Proposals beyond this many uncommitted bytes in the leader's term are refused (BACKLOG_FULL). */
  maxUncommittedBytes: number;
  snapshotChunkBytes: number;
  /**
   * Chunks of a snapshot in flight to one follower, unconfirmed (absent: 1). More than one keeps
   * the link busy while the follower stages and syncs what it received.
   */
  snapshotChunksInFlight?: number;
  /**
   * A leader keeps up to this many bytes of entries its latest snapshot covers while a follower can
   * still catch up from them instead of from an image: one being sent an older image, or one heard
   * from within the last two election timeouts whose log ends among them (0 or absent: compact at
   * once; beyond the bound, too: the follower is then sent the latest image). Without
   * them, a follower whose transfer outlasts the leader's next snapshot finishes an image the log
   * no longer continues, and is sent the newer one, and so on for as long as the load lasts.
   */
  catchUpLogBytes?: number;
  /**
   * A leader refuses (MEMBERSHIP_FULL) a promotion beyond this many voters and an addLearner
   * beyond this many learners; removals are always allowed. Checked when a change is proposed, so
   * a membership never outgrows what the snapshot metadata codec encodes (their sum must fit it).
   */
  maxVoters: number;
  maxLearners: number;
  /** Uniform in [0, 1); seeded in simulation. The core's only source of randomness. */
  random: () => number;
  /**
   * The digest of a snapshot's data (SHA-256 in production, src/raft/digest.ts): stamped on every
   * snapshot taken here, and checked on every snapshot received before it is installed.
   */
  snapshotDigest: (data: Uint8Array) => Uint8Array;
  /**
   * The same digest fed a piece at a time: a snapshot received in chunks is hashed chunk by chunk
   * as they arrive, instead of whole once complete (a long pause for a large image). Absent: whole.
   */
  snapshotHasher?: () => { update(piece: Uint8Array): void; digest(): Uint8Array };
  /** Deliberate bugs for the mutation tests; never set in production (see RaftMutation). */
  mutations?: readonly RaftMutation[];
}

export interface ProgressStatus {
  match: number;
  next: number;
  state: string;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  leader: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  /** The log holds the entries after this one (see `compactedThrough`). */
  compactedThrough: number;
  membership: Membership;
  progress: Record<NodeId, ProgressStatus>;
}

type CampaignKind = 'preVote' | 'election' | 'transfer';

interface IncomingSnapshot {
  chunk: SnapshotChunk;
  received: number;
  /** Kept only without a `snapshotHasher`, to digest the data whole at the end (tests). */
  parts?: Uint8Array[];
  hasher: { update(piece: Uint8Array): void; digest(): Uint8Array } | null;
}

const EMPTY = new Uint8Array(0);

export class RaftCore {
  private readonly cfg: RaftConfig;
  private readonly id: NodeId;
  private term: number;
  private vote: NodeId | null;
  private role: Role = 'follower';
  private leader: NodeId | null = null;
  private readonly log: RaftLog;
  private readonly members: MembershipHistory;
  /** Replicated time: what this node's entries are stamped with when it leads. */
  private readonly clock: EntryClock;
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private msgs: Message[] = [];
  /**
   * The append to each follower that is still in `msgs` as the last message for it, and the bytes
   * of its entries: entries appended before the next Ready join it instead of going in a message
   * of their own (after raft-rs's batch_append). A proposal per turn used to cost one append per
   * follower and one answer back, about 15,000 Raft messages a second at 10,000 puts a second.
   */
  private openAppends = new Map<NodeId, { m: AppendRequest; bytes: number }>();
  private snapshotSends: SnapshotSend[] = [];
  private receivedChunks: ReceivedChunk[] = [];
  private readStates: ReadState[] = [];
  private reads = new ReadIndexQueue();
  private leadTransferee: NodeId | null = null;
  /** Index of the latest configuration entry this leader appended (or its first entry, until committed). */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private incoming: IncomingSnapshot | null = null;
  /**
   * The latest snapshot, stored, when the log still holds the entries it covers for a follower
   * catching up (`catchUpLogBytes`), and their bytes: sent to followers behind the log's start, and
   * compacted to once no follower needs them (`compactHeld`).
   */
  private held: { snapshot: StoredSnapshot; bytes: number } | null = null;
  private prevSoft: SoftState;
  private prevHard: HardState;
  /** A Ready was handed out and not yet advanced. */
  private outstanding = false;
  /**
   * The last committed index handed to the caller: in a Ready's committed entries, or by
   * `takeCommitted` while that Ready's write is under way. `advance` counts it applied.
   */
  private handedThrough = 0;
  /** The outstanding Ready applies its committed entries before its write (no snapshot in it). */
  private outstandingAppliesFirst = false;
  /** Term and vote as of the last synced write (from disk at start, then through `advance`). */
  private durableTerm: number;
  private durableVote: NodeId | null;
  private readonly ackBeforeSync: boolean;
  private readonly commitOldTermByCounting: boolean;
  private readonly voteNotPersisted: boolean;
  private readonly snapshotDropsEntries: boolean;
  private readonly rawWallClockTime: boolean;

  constructor(config: RaftConfig, persisted: PersistedState) {
    validateConfig(config);
    this.cfg = config;
    this.id = config.id;
    this.term = persisted.hardState.term;
    this.vote = persisted.hardState.vote;
    this.log = new RaftLog(persisted.snapshot, persisted.entries, persisted.hardState.commit);
    const base = persisted.snapshot?.meta.membership ?? persisted.initialMembership;
    if (base.voters.length + base.learners.length > DEFAULT_CODEC_LIMITS.maxMembers) {
      // It could never be written into a snapshot: refuse it at start, not at the first snapshot.
      throw new RangeError(`a membership of ${base.voters.length + base.learners.length} members exceeds the codec's ${DEFAULT_CODEC_LIMITS.maxMembers}`);
    }
    this.members = new MembershipHistory(base);
    this.clock = new EntryClock(persisted.snapshot?.meta.time ?? 0);
    for (let i = this.log.firstIndex(); i <= this.log.lastIndex(); i++) {
      const e = this.log.entry(i)!;
      this.noteConfEntry(e);
      this.clock.learned(e.time);
    }
    const bugs = new Set(config.mutations ?? []);
    this.ackBeforeSync = bugs.has('ack-before-sync');
    this.commitOldTermByCounting = bugs.has('commit-old-term-by-counting');
    this.voteNotPersisted = bugs.has('vote-not-persisted');
    this.snapshotDropsEntries = bugs.has('snapshot-drops-entries');
    this.rawWallClockTime = bugs.has('raw-wall-clock-time');
    this.durableTerm = persisted.hardState.term;
    this.durableVote = persisted.hardState.vote;
    this.prevHard = this.hardState();
    this.prevSoft = this.softState();
    this.resetElectionTimer();
  }

  // ---------------------------------------------------------------- driver API

  /** One tick of the election/heartbeat clock; `now`, the node's clocks, anchors replicated time (entry-clock.ts). */
  tick(now?: ClockReading): void {
    if (now) this.clock.observe(now);
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** One message from a peer; `now`, the node's clocks as it arrived, anchors the entry times it carries. */
  step(m: Message, now?: ClockReading): void {
    if (now) this.clock.observe(now);
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.term) {
      if (m.type === 'preVote' || m.type === 'vote') {
        const transfer = m.type === 'vote' && m.transfer;
        // Leader stickiness (§4.2.3): within an election timeout of hearing from a live leader,
        // ignore candidates (e.g. removed servers) that would disrupt it; a transfer is invited.
        const inLease = this.leader !== null && this.electionElapsed < this.cfg.electionTick;
        if (inLease && !transfer) return;
      }
      if (m.type === 'preVote' || (m.type === 'voteResp' && m.preVote && m.granted)) {
        // A Pre-Vote exchange never changes anyone's term.
      } else {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      this.stepStale(m);
      return;
    }

    switch (m.type) {
      case 'preVote':
      case 'vote':
        this.handleVoteRequest(m);
        return;
      case 'voteResp':
        this.handleVoteResponse(m);
        return;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        if (this.role === 'leader') return;
        if (this.role !== 'follower') this.becomeFollower(m.term, m.from);
        this.leader = m.from;
        this.electionElapsed = 0;
        if (m.type === 'append') this.handleAppend(m);
        else if (m.type === 'heartbeat') this.handleHeartbeat(m);
        else this.handleSnapshotChunk(m);
        return;
      case 'appendResp':
        this.handleAppendResponse(m);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m);
        return;
      case 'snapshotResp':
        this.handleSnapshotResponse(m);
        return;
      case 'timeoutNow':
        if (this.role === 'follower' && m.from === this.leader && this.promotable()) this.campaign('transfer');
        return;
    }
  }

  /** Appends a command stamped with replicated time from `now` (without a reading, time stands still). */
  propose(data: Uint8Array, now?: ClockReading): { index: number; term: number } {
    this.checkCanPropose();
    const size = entryBytes({ term: this.term, index: 0, type: EntryType.Normal, time: 0, data });
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + size > this.cfg.maxUncommittedBytes) {
      throw new RaftError('BACKLOG_FULL', `${this.uncommittedBytes} uncommitted bytes pending`);
    }
    // Stamped once accepted: a refused proposal takes no time.
    const time = now ? this.stamp(now) : this.clock.current();
    const index = this.appendAsLeader(EntryType.Normal, data, time);
    this.uncommittedBytes += size;
    return { index, term: this.term };
  }

  /**
   * The replicated time a read of the state applied through `applied` is evaluated at (ReadIndex
   * reads, which append nothing): a leader stamps it exactly as it would an entry, so what a read
   * sees never runs ahead of the entries this leader appends after it (its wall clock may lead
   * replicated time by seconds after an outage, and a read at wall time could see a lease expired
   * that a later consume still finds held). Nor does it run ahead of an entry already in the log
   * but not applied in that state: such an entry (a consume proposed just before the read, committed
   * after its read index) comes after the read, at its own earlier time, and a read evaluated later
   * could see a lease run out that the consume then still found held (a chaos run in CI: a len
   * counted a returned message that a batch consume beside it skipped). Entry times never decrease
   * along the log, so the first such entry bounds them all. Anything but a leader answers the
   * latest time it knows, within the same bound.
   */
  readTime(now: ClockReading, applied: number = this.log.lastIndex()): number {
    // The bound holds whatever the role: a read whose barrier passed may be evaluated just after
    // this node stepped down.
    const time = this.role === 'leader' ? this.stamp(now) : this.clock.current();
    return applied < this.log.lastIndex() ? Math.min(time, this.log.time(applied + 1)) : time;
  }

  private stamp(now: ClockReading): number {
    const time = this.clock.stamp(now);
    return this.rawWallClockTime ? Math.max(0, Math.floor(now.wall)) : time;
  }

  /** One server at a time (§4.1); refused while an earlier change (or this leader's first entry) is uncommitted. */
  proposeConfChange(cc: ConfChange, now?: ClockReading): { index: number; term: number } {
    this.checkCanPropose();
    if (this.pendingConfIndex > this.log.committed) {
      throw new RaftError('CONF_CHANGE_IN_PROGRESS', `configuration change at ${this.pendingConfIndex} not committed yet`);
    }
    const current = this.members.current();
    applyConfChange(current, cc);
    this.checkMembershipLimits(current, cc);
    const index = this.appendAsLeader(EntryType.ConfChange, encodeConfChange(cc), now ? this.stamp(now) : this.clock.current());
    this.pendingConfIndex = index;
    return { index, term: this.term };
  }

  /** Refuses a change that adds a member the limits (or the codec) leave no room for; `cc` is otherwise valid on `m`. */
  private checkMembershipLimits(m: Membership, cc: ConfChange): void {
    const idBytes = utf8Length(cc.node);
    if (idBytes > DEFAULT_CODEC_LIMITS.maxNodeIdBytes) {
      throw new RaftError('INVALID_REQUEST', `node id of ${idBytes} bytes exceeds ${DEFAULT_CODEC_LIMITS.maxNodeIdBytes}`);
    }
    if (cc.type === 'addLearner' && m.learners.length >= this.cfg.maxLearners) {
      throw new RaftError('MEMBERSHIP_FULL', `already ${m.learners.length} learners (at most ${this.cfg.maxLearners})`);
    }
    if (cc.type === 'promote' && m.voters.length >= this.cfg.maxVoters) {
      throw new RaftError('MEMBERSHIP_FULL', `already ${m.voters.length} voters (at most ${this.cfg.maxVoters})`);
    }
  }

  readIndex(context: number): void {
    if (this.role !== 'leader') throw this.notLeader();
    // §6.4 step 1: a new leader does not know the commit index until an entry of its term commits.
    if (this.log.term(this.log.committed) !== this.term) {
      this.reads.wait(context);
      return;
    }
    this.startRead(context);
  }

  /** §3.10: hand leadership to `to` once its log is caught up; proposals are refused meanwhile. */
  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader') throw this.notLeader();
    if (to === this.id) return;
    if (!isVoter(this.members.current(), to)) throw new RaftError('INVALID_REQUEST', `${to} is not a voter`);
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to, from: this.id, term: this.term });
    else this.replicateTo(to, true);
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    return (
      this.msgs.length > 0 ||
      this.snapshotSends.length > 0 ||
      this.receivedChunks.length > 0 ||
      this.readStates.length > 0 ||
      this.log.unstableSnapshot !== null ||
      this.log.stableIndex < this.log.lastIndex() ||
      this.log.committed > this.log.applied ||
      !sameHardState(this.hardState(), this.prevHard) ||
      !sameSoftState(this.softState(), this.prevSoft)
    );
  }

  /** The next batch of work; the caller must `advance` it before asking for another. */
  ready(): Ready {
    if (this.outstanding) throw new Error('ready() called again before advance()');
    const hard = this.hardState();
    const soft = this.softState();
    const entries = this.log.unstableEntries();
    const snapshot = this.log.unstableSnapshot;
    const termDurable = hard.term === this.durableTerm && hard.vote === this.durableVote;
    let messagesNow: Message[] = [];
    let messagesAfterWrite = this.msgs;
    if (this.ackBeforeSync) {
      messagesNow = this.msgs;
      messagesAfterWrite = [];
    } else if (this.role === 'leader' && termDurable && this.msgs.length > 0) {
      // §10.2.1: a leader's appends and heartbeats may go while it writes (see Ready).
      messagesAfterWrite = [];
      for (const m of this.msgs) {
        if (m.type === 'append' || m.type === 'heartbeat') messagesNow.push(m);
        else messagesAfterWrite.push(m);
      }
    }
    const rd: Ready = {
      softState: sameSoftState(soft, this.prevSoft) ? null : soft,
      hardState: sameHardState(hard, this.prevHard) ? null : hard,
      entries,
      snapshot,
      // Without new entries, snapshot, term or vote, only the volatile commit index moved.
      mustSync: snapshot !== null || entries.length > 0 || !termDurable,
      messagesNow,
      messagesAfterWrite,
      snapshotSends: this.snapshotSends,
      receivedChunks: this.receivedChunks,
      committedEntries: this.log.nextCommitted(),
      applyBeforeWrite: snapshot === null,
      readStates: this.readStates,
    };
    this.handedThrough = rd.committedEntries.at(-1)?.index ?? this.log.applied;
    this.outstandingAppliesFirst = rd.applyBeforeWrite;
    this.prevHard = hard;
    this.prevSoft = soft;
    this.msgs = [];
    this.openAppends.clear();
    this.snapshotSends = [];
    this.receivedChunks = [];
    this.readStates = [];
    this.reads.outboxFlushed();
    this.outstanding = true;
    return rd;
  }

  /**
   * Heartbeats and their answers queued since the last Ready, taken out of the outbox to leave at
   * once, also while that Ready's write is still going on. They promise nothing about this node's
   * log, only that it leads or follows in a term whose term and vote are on disk (nothing is taken
   * otherwise). Without this, a slow fsync (a 1 MiB entry on a busy disk) silences both sides for
   * its length: followers stop answering, and the leader's CheckQuorum deposes a healthy leader, or
   * its heartbeats stop and the followers start an election.
   */
  takeHeartbeats(): Message[] {
    if (!this.termDurable()) return [];
    const taken = this.takeOut(this.role === 'leader' ? 'heartbeat' : 'heartbeatResp');
    // They carry the current read round: a read registered from now on needs a round of its own.
    if (taken.length > 0 && this.role === 'leader') this.reads.outboxFlushed();
    return taken;
  }

  /** This node's term and vote are on disk: as hardState() would say, without its allocation (this runs on every message and tick). */
  private termDurable(): boolean {
    const vote = this.voteNotPersisted ? null : this.vote;
    return this.term === this.durableTerm && vote === this.durableVote;
  }

  /** Takes the queued messages of `type` out of the outbox, in order, and leaves the rest (allocates nothing when there are none). */
  private takeOut(type: Message['type']): Message[] {
    if (!this.msgs.some((m) => m.type === type)) return [];
    const taken: Message[] = [];
    const kept: Message[] = [];
    for (const m of this.msgs) (m.type === type ? taken : kept).push(m);
    this.msgs = kept;
    return taken;
  }

  /**
   * Entries committed since the outstanding Ready was handed out, to apply now, while its write is
   * still under way: committed means durable on a majority, which this node's own write does not
   * change, and a Ready applies its committed entries before its write anyway (`applyBeforeWrite`).
   * Without this, a commit learned from a follower's answer during the leader's next fsync waited
   * for that fsync, and so did the client's reply (at 16 puts in flight the leader is writing a
   * third to a half of the time). Empty when no Ready is out, when it carries a leader's snapshot (its
   * entries are applied after the write), or when one replaced the log since; `advance` counts
   * what was taken as applied.
   */
  takeCommitted(): Entry[] {
    if (!this.outstanding || !this.outstandingAppliesFirst || this.log.unstableSnapshot !== null) return [];
    if (this.log.committed <= this.handedThrough) return [];
    const entries = this.log.committedAfter(this.handedThrough);
    this.handedThrough = this.log.committed;
    return entries;
  }

  /**
   * A leader's appends queued since its outstanding Ready was handed out, taken out to leave while
   * that Ready's write is under way (§10.2.1, as a Ready's own appends leave before its write):
   * the entries proposed during the leader's fsync reach the followers then, not after it, and
   * with `takeCommitted` the followers' writes can commit them while the leader writes the ones
   * before. Only once this term and vote are on disk (as `messagesNow`). Each follower's open
   * append is closed by being taken: later entries go in a message of their own.
   */
  takeAppends(): Message[] {
    if (!this.outstanding || this.role !== 'leader' || !this.termDurable()) return [];
    const taken = this.takeOut('append');
    if (taken.length > 0) this.openAppends.clear();
    return taken;
  }

  /** The caller wrote (if `mustSync`), sent and applied `rd`, and applied what `takeCommitted` handed out. */
  advance(rd: Ready): void {
    this.outstanding = false;
    if (rd.mustSync && rd.hardState !== null) {
      this.durableTerm = rd.hardState.term;
      this.durableVote = rd.hardState.vote;
    }
    if (rd.snapshot !== null && this.log.unstableSnapshot === rd.snapshot) this.log.unstableSnapshot = null;
    const last = rd.entries.at(-1);
    if (last) this.log.stableTo(last.index, last.term);
    // A leader's image installed meanwhile moved the applied index past it: appliedTo keeps the larger.
    this.log.appliedTo(this.handedThrough);
    if (this.role === 'leader' && last && this.maybeCommit()) this.broadcastAppend();
    if (this.held !== null) this.compactHeld();
  }

  /** Index of the last entry the log's snapshot covers (0 if none): the log holds what follows it. */
  compactedThrough(): number {
    return this.log.snapshotIndex;
  }

  /**
   * Describes a state machine image of `size` bytes taken at `index` (<= applied), whose data has
   * the digest `digest` (snapshotDigest of the data), with the metadata the log knows for it.
   */
  createSnapshot(index: number, size: number, digest: Uint8Array): StoredSnapshot {
    const term = this.log.term(index);
    if (index > this.log.applied || term === undefined) {
      throw new RangeError(`cannot snapshot at ${index}: applied ${this.log.applied}, log starts after ${this.log.snapshotIndex}`);
    }
    return { meta: { index, term, membership: cloneMembership(this.members.at(index)), time: this.timeThrough(index), digest }, size };
  }

  /** The latest entry time at or before `index` (which is in the log or its snapshot). */
  private timeThrough(index: number): number {
    let time = this.log.snapshot?.meta.time ?? 0;
    for (let i = this.log.firstIndex(); i <= index; i++) time = Math.max(time, this.log.time(i));
    return time;
  }

  /**
   * The application snapshotted its state through `snapshot.meta.index` and storage holds it in
   * place of the previous one; drop the log through it, now or, on a leader with followers catching
   * up from those entries, once they no longer need them (`catchUpLogBytes`). Sends of earlier
   * snapshots under way go on (storage keeps those readable, see `snapshotsBeingSent`).
   */
  compact(snapshot: StoredSnapshot): void {
    const { index, term, membership } = snapshot.meta;
    const latest = this.latestSnapshotIndex();
    if (index <= latest) return;
    if (index > this.log.applied || index > this.log.stableIndex) {
      throw new RangeError(`cannot compact to ${index}: applied ${this.log.applied}, persisted ${this.log.stableIndex}`);
    }
    if (this.log.term(index) !== term) throw new RangeError(`snapshot term ${term} does not match the log at ${index}`);
    if (!sameMembership(this.members.at(index), membership)) {
      throw new RangeError(`snapshot membership does not match the membership at ${index}`);
    }
    let bytes = this.held?.bytes ?? 0;
    for (let i = latest + 1; i <= index; i++) bytes += this.log.bytes(i);
    this.held = { snapshot, bytes };
    this.compactHeld();
  }

  /** Index of the latest snapshot, which the log may not be compacted to yet (0 if none). */
  latestSnapshotIndex(): number {
    return this.held?.snapshot.meta.index ?? this.log.snapshotIndex;
  }

  /** Compacts to the held snapshot unless a follower still catches up from the entries it covers, within the bound. */
  private compactHeld(): void {
    const held = this.held!;
    const { index, membership } = held.snapshot.meta;
    // A leader's image installed meanwhile (as a follower) replaced the log, and covers this one.
    if (index <= this.log.snapshotIndex) {
      this.held = null;
      return;
    }
    if (this.role === 'leader' && held.bytes <= (this.cfg.catchUpLogBytes ?? 0)) {
      for (const pr of this.progress.values()) {
        if (pr.sending !== null && pr.sending.snapshot.meta.index < index) return;
        const live = pr.recentActive || pr.activeLastRound;
        if (live && pr.match >= this.log.snapshotIndex && pr.match < index) return;
      }
    }
    this.held = null;
    this.members.compactTo(index, membership);
    this.log.compact(held.snapshot);
  }

  /** Indexes of the snapshots being sent to followers: the caller's storage keeps them readable. */
  snapshotsBeingSent(): number[] {
    const indexes = new Set<number>();
    if (this.role === 'leader') for (const pr of this.progress.values()) if (pr.sending) indexes.add(pr.sending.snapshot.meta.index);
    return [...indexes];
  }

  /**
   * A chunk of snapshot `index` for `to` could not be read from storage: if that snapshot is no
   * longer the latest (storage let it go), the send starts over with the latest; otherwise the
   * chunk is sent again once the follower is found idle on it.
   */
  snapshotReadFailed(to: NodeId, index: number): void {
    const pr = this.progress.get(to);
    const latest = this.held?.snapshot ?? this.log.snapshot;
    if (this.role !== 'leader' || !pr?.sending || pr.sending.snapshot.meta.index !== index || latest === null || latest.meta.index === index) return;
    pr.becomeSnapshot(latest);
    this.sendSnapshotChunks(to, pr);
  }

  status(): RaftStatus {
    const progress: Record<NodeId, ProgressStatus> = {};
    if (this.role === 'leader') {
      progress[this.id] = { match: this.log.stableIndex, next: this.log.lastIndex() + 1, state: 'replicate' };
      for (const [id, pr] of this.progress) progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    }
    const m = this.members.current();
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      compactedThrough: this.log.snapshotIndex,
      membership: { voters: [...m.voters], learners: [...m.learners] },
      progress,
    };
  }

  // ---------------------------------------------------------------- roles and elections

  private promotable(): boolean {
    return isVoter(this.members.current(), this.id);
  }

  private resetElectionTimer(): void {
    this.electionElapsed = 0;
    this.randomizedElectionTimeout =
      this.cfg.electionTick + Math.floor(this.cfg.random() * this.cfg.electionTick);
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.resetElectionTimer();
    this.heartbeatElapsed = 0;
    this.votes.clear();
    this.progress.clear();
    this.leadTransferee = null;
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.reads = new ReadIndexQueue();
  }

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.syncProgress();
    for (const pr of this.progress.values()) pr.recentActive = true;
    // §5.4.2: entries of earlier terms commit only under an entry of this term, so append one now.
    // It carries the time already known: no clock reading comes with an election.
    const noop = this.appendAsLeader(EntryType.Noop, EMPTY, this.clock.current());
    // §4.1: no configuration change until this leader has committed an entry of its term.
    this.pendingConfIndex = noop;
  }

  private campaign(kind: CampaignKind): void {
    const membership = this.members.current();
    let voteTerm: number;
    if (kind === 'preVote') {
      this.reset(this.term);
      this.role = 'preCandidate';
      voteTerm = this.term + 1;
    } else {
      this.reset(this.term + 1);
      this.role = 'candidate';
      this.vote = this.id;
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (this.tallyVotes()) return;
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const to of membership.voters) {
      if (to === this.id) continue;
      if (kind === 'preVote') {
        this.send({ type: 'preVote', from: this.id, to, term: voteTerm, lastLogIndex, lastLogTerm });
      } else {
        const transfer = kind === 'transfer';
        this.send({ type: 'vote', from: this.id, to, term: voteTerm, lastLogIndex, lastLogTerm, transfer });
      }
    }
  }

  /** Acts on the votes so far; returns true if the campaign ended (won or lost). */
  private tallyVotes(): boolean {
    const membership = this.members.current();
    let granted = 0;
    let rejected = 0;
    for (const v of membership.voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    const quorum = quorumSize(membership);
    if (granted >= quorum) {
      if (this.role === 'preCandidate') this.campaign('election');
      else this.becomeLeader();
      return true;
    }
    if (membership.voters.length - rejected < quorum) {
      this.becomeFollower(this.term, null);
      return true;
    }
    return false;
  }

  private handleVoteRequest(m: PreVoteRequest | VoteRequest): void {
    const preVote = m.type === 'preVote';
    const canVote =
      this.vote === m.from || (this.vote === null && this.leader === null) || (preVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      this.send({ type: 'voteResp', from: this.id, to: m.from, term: m.term, preVote, granted: true });
      if (!preVote) {
        this.vote = m.from;
        this.electionElapsed = 0;
      }
    } else {
      this.send({ type: 'voteResp', from: this.id, to: m.from, term: this.term, preVote, granted: false });
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const campaigning = this.role === 'preCandidate' ? true : this.role === 'candidate' ? false : null;
    if (campaigning === null || campaigning !== m.preVote) return;
    if (m.preVote && m.granted && m.term !== this.term + 1) return;
    if (!isVoter(this.members.current(), m.from)) return;
    this.votes.set(m.from, m.granted);
    this.tallyVotes();
  }

  /** A message from an older term: tell a stale leader or candidate about our term, drop the rest. */
  private stepStale(m: Message): void {
    if (m.type === 'append' || m.type === 'heartbeat') {
      // Figure 2: the answer carries our term. Without it, a node whose term rose while it was
      // partitioned would ignore the leader forever while the leader, under stickiness, ignores
      // its vote requests; the answer makes the leader step down and a new election settles it.
      this.send({
        type: 'appendResp', from: this.id, to: m.from, term: this.term,
        success: false, index: 0, conflictTerm: 0, conflictIndex: 0,
      });
    } else if (m.type === 'preVote' || m.type === 'vote') {
      // Figure 2: the answer carries our term, so a candidate stuck in an old term catches up
      // instead of campaigning forever below a voter whose term keeps rising.
      this.send({ type: 'voteResp', from: this.id, to: m.from, term: this.term, preVote: m.type === 'preVote', granted: false });
    }
  }

  private tickElection(): void {
    this.electionElapsed++;
    // A non-voter keeps counting: once it has not heard from a leader for an election timeout it
    // must stop defending that leader's lease, or it could never vote in the leader's successor.
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote ? 'preVote' : 'election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      // A new round of hearing from followers begins with or without CheckQuorum: the log kept for
      // followers catching up (compactHeld) counts on it to stop waiting for one that went quiet.
      const quorumActive = this.closeActivityRound();
      if (this.cfg.checkQuorum && !quorumActive) {
        this.becomeFollower(this.term, null);
        return;
      }
      this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /** Whether a quorum was heard from in the round of hearing from followers now ending; begins the next round. */
  private closeActivityRound(): boolean {
    const membership = this.members.current();
    let active = 0;
    for (const v of membership.voters) {
      if (v === this.id) active++;
      else if (this.progress.get(v)?.recentActive) active++;
    }
    for (const pr of this.progress.values()) {
      pr.activeLastRound = pr.recentActive;
      pr.recentActive = false;
    }
    return active >= quorumSize(membership);
  }

  // ---------------------------------------------------------------- leader: replication

  private checkCanPropose(): void {
    if (this.role !== 'leader') throw this.notLeader();
    if (this.leadTransferee !== null) {
      throw new RaftError('TRANSFER_IN_PROGRESS', `leadership is moving to ${this.leadTransferee}`, this.leadTransferee);
    }
  }

  private notLeader(): RaftError {
    return new RaftError('NOT_LEADER', `${this.id} is not the leader`, this.leader);
  }

  private appendAsLeader(type: EntryType, data: Uint8Array, time: number): number {
    const index = this.log.lastIndex() + 1;
    this.appendToLog([{ term: this.term, index, type, time, data }]);
    this.broadcastAppend();
    return index;
  }

  /** Appends (after truncating any conflicting suffix); configuration entries take effect now. */
  private appendToLog(entries: Entry[]): void {
    const first = entries[0];
    if (!first) return;
    const before = this.members.current();
    this.members.truncateFrom(first.index);
    this.log.append(entries);
    for (const e of entries) {
      this.noteConfEntry(e);
      this.clock.learned(e.time);
    }
    if (!sameMembership(before, this.members.current())) this.membershipChanged();
  }

  private noteConfEntry(e: Entry): void {
    if (e.type !== EntryType.ConfChange) return;
    const cc = decodeConfChange(e.data);
    if (cc === null) return;
    try {
      this.members.record(e.index, applyConfChange(this.members.current(), cc));
    } catch (err) {
      // Every replica rejects the same invalid change the same way: it simply has no effect.
      if (!(err instanceof RaftError)) throw err;
    }
  }

  private membershipChanged(): void {
    if (this.role === 'leader') {
      this.syncProgress();
      if (this.leadTransferee !== null && !isVoter(this.members.current(), this.leadTransferee)) {
        this.leadTransferee = null;
      }
      if (this.maybeCommit()) this.broadcastAppend();
    } else if (this.role !== 'follower' && !this.promotable()) {
      this.becomeFollower(this.term, null);
    }
  }

  /** One Progress per member other than us, new ones probing from the end of our log. */
  private syncProgress(): void {
    const m = this.members.current();
    for (const id of [...m.voters, ...m.learners]) {
      if (id !== this.id && !this.progress.has(id)) {
        this.progress.set(id, new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightMsgs));
      }
    }
    for (const id of [...this.progress.keys()]) if (!isMember(m, id)) this.progress.delete(id);
  }

  private broadcastAppend(): void {
    for (const to of this.progress.keys()) this.replicateTo(to, true);
  }

  /** Sends what `to` is missing, pipelining up to the inflight limit; `allowEmpty` to carry the commit index. */
  private replicateTo(to: NodeId, allowEmpty: boolean): void {
    const pr = this.progress.get(to);
    if (!pr) return;
    let sent = this.sendAppend(to, pr, allowEmpty);
    while (sent && pr.state === 'replicate' && !pr.paused() && pr.next <= this.log.lastIndex()) {
      sent = this.sendAppend(to, pr, false);
    }
  }

  private sendAppend(to: NodeId, pr: Progress, allowEmpty: boolean): boolean {
    if (this.extendOpenAppend(to, pr)) return true;
    if (pr.paused()) return false;
    const prevLogIndex = pr.next - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    if (prevLogTerm === undefined) {
      // The entries this follower needs are compacted away: send the latest snapshot instead.
      const snapshot = this.held?.snapshot ?? this.log.snapshot;
      if (snapshot === null) return false;
      pr.becomeSnapshot(snapshot);
      this.sendSnapshotChunks(to, pr);
      return true;
    }
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.cfg.maxEntriesPerMsg, this.cfg.maxBytesPerMsg);
    if (entries.length === 0 && !allowEmpty) return false;
    const m: AppendRequest = {
      type: 'append', from: this.id, to, term: this.term,
      prevLogIndex, prevLogTerm, entries, commit: this.log.committed,
    };
    this.send(m);
    this.openAppends.set(to, { m, bytes: entries.reduce((n, e) => n + entryBytes(e), 0) });
    pr.sentAppend(entries.at(-1)?.index ?? prevLogIndex, entries.length);
    return true;
  }

  /**
   * When the last message queued for `to` is an append of this term ending where `to` needs entries
   * next, those entries join it, as far as its size bounds allow, and it carries the commit index
   * as it is now. It keeps its place in the pipeline, so a full pipeline does not stop entries
   * joining an append that holds the last place. False when there is no such append, it is full,
   * or `to` needs a snapshot: the caller sends a new message (or waits).
   */
  private extendOpenAppend(to: NodeId, pr: Progress): boolean {
    const open = this.openAppends.get(to);
    if (open === undefined || open.m.term !== this.term || pr.state === 'snapshot') return false;
    const { m } = open;
    if (m.prevLogIndex + m.entries.length !== pr.next - 1 || m.entries.length >= this.cfg.maxEntriesPerMsg) return false;
    // An append without entries holds no place in the pipeline: joining it would take one.
    if (pr.paused() && (pr.state !== 'replicate' || m.entries.length === 0)) return false;
    const more = this.log.slice(pr.next, this.log.lastIndex() + 1, this.cfg.maxEntriesPerMsg - m.entries.length, this.cfg.maxBytesPerMsg - open.bytes);
    let bytes = 0;
    for (const e of more) bytes += entryBytes(e);
    // slice hands out at least one entry, even one over the bound: that one needs a message of its own.
    if (open.bytes + bytes > this.cfg.maxBytesPerMsg) return false;
    for (const e of more) m.entries.push(e);
    open.bytes += bytes;
    m.commit = this.log.committed;
    if (more.length > 0) pr.extendedAppend(pr.next - 1, more.at(-1)!.index);
    return true;
  }

  /** Sends the chunks of `pr`'s snapshot from `next` while fewer than the window are unconfirmed. */
  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const s = pr.sending;
    if (!s) return;
    const { snapshot } = s;
    const total = snapshot.size;
    const chunkBytes = this.cfg.snapshotChunkBytes;
    const window = chunkBytes * (this.cfg.snapshotChunksInFlight ?? 1);
    while (!s.allSent && s.next - s.acked < window) {
      const offset = s.next;
      const end = Math.min(total, offset + chunkBytes);
      // The caller reads the bytes from storage (see SnapshotSend): the core holds no image.
      this.snapshotSends.push({
        type: 'snapshot', from: this.id, to, term: this.term, meta: snapshot.meta,
        offset, total, length: end - offset, done: end === total,
      });
      s.next = end;
      s.allSent = end === total;
    }
  }

  /** Sends `pr`'s snapshot again from `offset` (the follower holds what precedes it). */
  private resendSnapshotFrom(to: NodeId, pr: Progress, offset: number): void {
    const s = pr.sending!;
    s.acked = offset;
    s.next = offset;
    s.allSent = false;
    this.sendSnapshotChunks(to, pr);
  }

  private broadcastHeartbeat(): void {
    for (const [to, pr] of this.progress) {
      this.send({
        type: 'heartbeat', from: this.id, to, term: this.term,
        // A follower may only commit what it is known to hold in agreement with us.
        commit: Math.min(pr.match, this.log.committed),
        round: this.reads.round,
      });
    }
  }

  private handleAppendResponse(m: AppendResponse): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (!m.success) {
      if (pr.state === 'snapshot') return;
      if (pr.rejected(m.index, this.retryIndex(m))) this.replicateTo(m.from, true);
      return;
    }
    if (m.index > this.log.lastIndex()) return;
    const caughtUpProbe = pr.state === 'probe' && m.index === pr.match;
    if (!pr.acknowledge(m.index) && !caughtUpProbe) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.sending!.snapshot.meta.index) pr.becomeProbe();
    if (this.maybeCommit()) this.broadcastAppend();
    else this.replicateTo(m.from, false);
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term });
    }
  }

  /** Where to retry after a rejection, from the follower's conflict hint (§5.3, fast backtracking). */
  private retryIndex(m: AppendResponse): number {
    if (m.conflictTerm > 0) {
      let i = Math.min(m.index, this.log.lastIndex());
      while (i > this.log.snapshotIndex) {
        const t = this.log.term(i)!;
        if (t === m.conflictTerm) return i + 1;
        if (t < m.conflictTerm) break;
        i--;
      }
    }
    return Math.max(1, m.conflictIndex);
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.heardFrom();
    this.reads.ack(m.from, m.round);
    this.releaseConfirmedReads();
    if (pr.sending) {
      // A chunk or its answer was lost if the follower answers heartbeats but not the snapshot for
      // half an election timeout (at least two answers): long enough for a slow read of the chunk
      // from storage, where a window of chunks would go again.
      if (++pr.sending.idle >= Math.max(2, Math.ceil(this.cfg.electionTick / (2 * this.cfg.heartbeatTick)))) {
        pr.sending.idle = 0;
        this.resendSnapshotFrom(m.from, pr, pr.sending.acked);
      }
    } else if (pr.match < this.log.lastIndex()) {
      this.replicateTo(m.from, true);
    }
  }

  private handleSnapshotResponse(m: SnapshotResponse): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    const sending = pr.sending;
    if (!sending || m.index !== sending.snapshot.meta.index) return;
    sending.idle = 0;
    if (!m.success) {
      // It refused the transfer (damaged, or chunks that overran the total): all over again.
      this.resendSnapshotFrom(m.from, pr, 0);
      return;
    }
    // The follower holds the image's first `want` bytes.
    const want = m.offset;
    if (want >= sending.snapshot.size) {
      pr.acknowledge(m.index);
      pr.becomeProbe();
      this.replicateTo(m.from, true);
      return;
    }
    if (want > sending.acked) {
      sending.acked = want;
      if (want > sending.next) sending.next = want;
      this.sendSnapshotChunks(m.from, pr);
    } else if (want < sending.acked) {
      // It holds less than it confirmed: it restarted, or a chunk 0 sent again began the transfer
      // anew. From there (a stale confirmation lands here too: the follower's answers to what
      // follows then say how far it really is).
      this.resendSnapshotFrom(m.from, pr, want);
    }
    // No progress: the chunk at `want` is on its way, or was lost, which the idle count finds (an
    // answer to each chunk after a lost one would otherwise send the window again each time).
  }

  /** §5.4.2: advance the commit index to what a quorum holds, but only by counting entries of this term. */
  private maybeCommit(): boolean {
    const membership = this.members.current();
    const matches = membership.voters
      .map((v) => (v === this.id ? this.log.stableIndex : (this.progress.get(v)?.match ?? 0)))
      .sort((a, b) => b - a);
    const candidate = matches[quorumSize(membership) - 1] ?? 0;
    if (candidate <= this.log.committed) return false;
    if (this.log.term(candidate) !== this.term && !this.commitOldTermByCounting) return false;
    this.commitAsLeader(candidate);
    return true;
  }

  private commitAsLeader(index: number): void {
    for (let i = this.log.committed + 1; i <= index; i++) {
      const e = this.log.entry(i)!;
      if (e.term === this.term && e.type === EntryType.Normal) this.uncommittedBytes -= entryBytes(e);
    }
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes);
    this.log.commitTo(index);
    for (const context of this.reads.takeWaiting()) this.startRead(context);
    const membership = this.members.current();
    if (!isVoter(membership, this.id) && index >= this.members.lastChangeIndex()) {
      // Our own removal is committed (§4.2.2): tell everyone, hand over to the best-placed voter, step down.
      this.broadcastAppend();
      let best: [NodeId, number] | null = null;
      for (const v of membership.voters) {
        const match = this.progress.get(v)?.match ?? 0;
        if (best === null || match > best[1]) best = [v, match];
      }
      if (best !== null && best[1] === this.log.lastIndex()) {
        this.send({ type: 'timeoutNow', from: this.id, to: best[0], term: this.term });
      }
      this.becomeFollower(this.term, null);
    }
  }

  // ---------------------------------------------------------------- leader: ReadIndex

  private startRead(context: number): void {
    if (this.reads.add(context, this.log.committed)) this.broadcastHeartbeat();
    this.releaseConfirmedReads();
  }

  private releaseConfirmedReads(): void {
    const m = this.members.current();
    this.readStates.push(...this.reads.confirmed(m.voters, this.id, quorumSize(m)));
  }

  // ---------------------------------------------------------------- follower

  private handleAppend(m: AppendRequest): void {
    if (!wellFormedAppend(m)) return;
    const reply = (success: boolean, index: number, conflictTerm = 0, conflictIndex = 0) =>
      this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, success, index, conflictTerm, conflictIndex });
    if (m.prevLogIndex < this.log.committed) {
      reply(true, this.log.committed);
      return;
    }
    if (!this.log.matchTerm(m.prevLogIndex, m.prevLogTerm)) {
      if (m.prevLogIndex > this.log.lastIndex()) {
        reply(false, m.prevLogIndex, 0, this.log.lastIndex() + 1);
        return;
      }
      const conflictTerm = this.log.term(m.prevLogIndex)!;
      let first = m.prevLogIndex;
      while (first - 1 > this.log.committed && this.log.term(first - 1) === conflictTerm) first--;
      reply(false, m.prevLogIndex, conflictTerm, first);
      return;
    }
    const lastNew = m.prevLogIndex + m.entries.length;
    const conflict = m.entries.findIndex((e) => this.log.term(e.index) !== e.term);
    if (conflict >= 0) this.appendToLog(m.entries.slice(conflict));
    this.commitAsFollower(Math.min(m.commit, lastNew));
    reply(true, lastNew);
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    this.commitAsFollower(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, round: m.round });
  }

  private commitAsFollower(index: number): void {
    this.log.commitTo(index);
  }

  private handleSnapshotChunk(m: SnapshotChunk): void {
    const reply = (offset: number, success = true) =>
      this.send({ type: 'snapshotResp', from: this.id, to: m.from, term: this.term, index: m.meta.index, offset, success });
    if (m.meta.index <= this.log.committed) {
      this.incoming = null;
      reply(m.total);
      return;
    }
    if (this.log.matchTerm(m.meta.index, m.meta.term) && !this.snapshotDropsEntries) {
      // Figure 13 step 6: our log already holds the snapshot's last entry, so it holds everything
      // before it; keep the entries after it, which we may already have acknowledged to this leader.
      this.incoming = null;
      this.commitAsFollower(m.meta.index);
      reply(m.total);
      return;
    }
    if (m.offset === 0) this.incoming = { chunk: m, received: 0, hasher: this.cfg.snapshotHasher?.() ?? null };
    const inc = this.incoming;
    if (!inc || !sameSnapshotStream(inc.chunk, m)) {
      reply(0);
      return;
    }
    if (m.offset !== inc.received) {
      reply(inc.received);
      return;
    }
    const received = inc.received + m.data.length;
    if (received > m.total || m.done !== (received === m.total)) {
      this.incoming = null;
      reply(0, false);
      return;
    }
    if (inc.hasher) inc.hasher.update(m.data);
    else (inc.parts ??= []).push(m.data);
    inc.received = received;
    // The caller stages the chunk; the request for the next one leaves once storage has room for it.
    const ack: SnapshotResponse = { type: 'snapshotResp', from: this.id, to: m.from, term: this.term, index: m.meta.index, offset: received, success: true };
    this.receivedChunks.push({ meta: m.meta, offset: m.offset, total: m.total, data: m.data, ack: m.done ? null : ack });
    if (!m.done) return;
    this.incoming = null;
    const digest = inc.hasher?.digest() ?? this.cfg.snapshotDigest(joined(inc.parts ?? [], m.total));
    if (!sameDigest(digest, m.meta.digest)) {
      // Damaged on its way (or at the sender): install nothing (what was staged is dropped when
      // the leader starts over at offset 0); the leader starts it over.
      reply(0, false);
      return;
    }
    this.log.restore({ meta: m.meta, size: m.total });
    this.clock.learned(m.meta.time);
    this.members.reset(m.meta.membership);
    reply(m.total);
  }

  // ---------------------------------------------------------------- plumbing

  private send(m: Message): void {
    this.msgs.push(m);
    // Only the last message queued for a follower may be extended: the order of its messages stays.
    this.openAppends.delete(m.to);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.voteNotPersisted ? null : this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}

function sameSnapshotStream(a: SnapshotChunk, b: SnapshotChunk): boolean {
  return a.meta.index === b.meta.index && a.meta.term === b.meta.term && a.total === b.total && sameDigest(a.meta.digest, b.meta.digest);
}

function joined(parts: Uint8Array[], length: number): Uint8Array {
  const data = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return data;
}

function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Entries must continue right after prevLogIndex, in order, with terms no newer than the sender's. */
function wellFormedAppend(m: AppendRequest): boolean {
  let prevTerm = m.prevLogTerm;
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    if (e.index !== m.prevLogIndex + 1 + i || e.term < prevTerm || e.term > m.term) return false;
    prevTerm = e.term;
  }
  return m.prevLogIndex >= 0 && m.commit >= 0;
}

function validateConfig(c: RaftConfig): void {
  const positive: (keyof RaftConfig)[] = [
    'electionTick', 'heartbeatTick', 'maxInflightMsgs', 'maxEntriesPerMsg', 'maxBytesPerMsg',
    'maxUncommittedBytes', 'snapshotChunkBytes', 'maxVoters', 'maxLearners',
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`RaftConfig.${k} must be a positive integer`);
  }
  if (c.snapshotChunksInFlight !== undefined && !(Number.isInteger(c.snapshotChunksInFlight) && c.snapshotChunksInFlight >= 1)) {
    throw new RangeError('RaftConfig.snapshotChunksInFlight must be a positive integer');
  }
  if (c.catchUpLogBytes !== undefined && !(Number.isInteger(c.catchUpLogBytes) && c.catchUpLogBytes >= 0)) {
    throw new RangeError('RaftConfig.catchUpLogBytes must be a whole number');
  }
  if (c.heartbeatTick >= c.electionTick) throw new RangeError('RaftConfig.heartbeatTick must be below electionTick');
  if (c.maxVoters + c.maxLearners > DEFAULT_CODEC_LIMITS.maxMembers) {
    throw new RangeError(`RaftConfig.maxVoters + maxLearners must not exceed the codec's ${DEFAULT_CODEC_LIMITS.maxMembers} members`);
  }
}
