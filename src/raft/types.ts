// The vocabulary shared by the Raft core, its storage and transport adapters, and the driver.
// The core is a pure step function (etcd-raft style): it never reads a clock, a disk or a socket.
// Everything it needs comes in through `tick()`, `step(message)`, `propose(...)`; everything it
// wants done goes out in a `Ready`.

export type NodeId = string;

export const enum EntryType {
  /** Application command, handed to the state machine. */
  Normal = 0,
  /** Appended by a new leader so that it can commit entries of earlier terms (§5.4.2). */
  Noop = 1,
  /** One-server membership change (§4.1); `data` is an encoded `ConfChange`. */
  ConfChange = 2,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /**
   * Replicated time (ms since epoch): the leader's wall clock, bounded by its monotonic clock so that
   * it never goes backwards nor runs away (entry-clock.ts). The state machine's notion of "now"
   * comes from here, never from a local clock.
   */
  time: number;
  data: Uint8Array;
}

/**
 * Per-node state kept on disk. `term` and `vote` are persistent state (Figure 2): durable before any
 * message that depends on them is sent. `commit` is volatile and rides along with those writes.
 */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export interface Membership {
  voters: NodeId[];
  /** Non-voting members catching up before promotion (§4.2.1). */
  learners: NodeId[];
}

export type ConfChange =
  | { type: 'addLearner'; node: NodeId }
  | { type: 'promote'; node: NodeId }
  | { type: 'remove'; node: NodeId };

export interface SnapshotMeta {
  index: number;
  term: number;
  membership: Membership;
  /**
   * SHA-256 of the snapshot's data, computed where it was taken (RaftConfig.snapshotDigest). It
   * travels with every chunk: a receiver installs nothing that does not match it, and storage
   * checks it whenever it reads the snapshot back.
   */
  digest: Uint8Array;
  /** The latest entry time through `index` (see entry-clock.ts), so that time survives compaction. */
  time: number;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** Opaque state machine image (see `StateMachine.snapshot`). */
  data: Uint8Array;
}

/**
 * What the core keeps of a snapshot that is in storage: its metadata and its data's length. The
 * data stays on disk; a leader's chunks for a follower are read from there (Ready.snapshotSends).
 */
export interface StoredSnapshot {
  meta: SnapshotMeta;
  size: number;
}

/**
 * A chunk of the stored snapshot `meta.index` the leader's core wants sent: the caller reads its
 * `length` bytes at `offset` from storage (RaftStorage.readSnapshot) and sends them as a
 * SnapshotChunk. Storage keeps a snapshot being sent readable after a newer one replaced it
 * (RaftStorage.keepSnapshots with RaftCore.snapshotsBeingSent); if a read fails all the same, the
 * caller tells the core (RaftCore.snapshotReadFailed), which starts over with the latest.
 */
export interface SnapshotSend extends Omit<SnapshotChunk, 'data'> {
  length: number;
}

/**
 * A chunk of a leader's snapshot this follower accepted (in order, hashed): the caller stages it in
 * storage as it comes (a writer per snapshot, begun at offset 0), beside the Raft loop, and sends
 * `ack` (asking for the next chunk) once the writer has room for more: that is the flow control of
 * a transfer. The last chunk has no `ack`: the snapshot then comes in `Ready.snapshot`, and its
 * acknowledgment waits for the write that makes it durable.
 */
export interface ReceivedChunk {
  meta: SnapshotMeta;
  offset: number;
  total: number;
  data: Uint8Array;
  ack: SnapshotResponse | null;
}

/** A snapshot received from the leader, its data staged by `writer` (ended), for `RaftStorage.save` to switch to. */
export interface ReceivedSnapshot extends StoredSnapshot {
  writer: SnapshotWriter;
}

export type Message =
  | PreVoteRequest
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotResponse
  | TimeoutNow;

interface Envelope {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** §9.6: asks whether a vote *would* be granted, without anyone changing term. `term` is the proposed term. */
export interface PreVoteRequest extends Envelope {
  type: 'preVote';
  lastLogIndex: number;
  lastLogTerm: number;
}

export interface VoteRequest extends Envelope {
  type: 'vote';
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set when the election was triggered by TimeoutNow (leadership transfer): bypasses leader stickiness. */
  transfer: boolean;
}

export interface VoteResponse extends Envelope {
  type: 'voteResp';
  preVote: boolean;
  granted: boolean;
}

export interface AppendRequest extends Envelope {
  type: 'append';
  prevLogIndex: number;
  prevLogTerm: number;
  entries: Entry[];
  commit: number;
}

export interface AppendResponse extends Envelope {
  type: 'appendResp';
  success: boolean;
  /** On success: last index now known to match. On failure: the rejected prevLogIndex. */
  index: number;
  /** On failure: fast-backtracking hint (§5.3 optimisation): follower's conflicting term and its first index. */
  conflictTerm: number;
  conflictIndex: number;
}

/** Heartbeats carry a read-index context so many ReadIndex requests share one round (§6.4). */
export interface HeartbeatRequest extends Envelope {
  type: 'heartbeat';
  commit: number;
  /** Monotonic per-leader sequence number of the round this heartbeat belongs to. */
  round: number;
}

export interface HeartbeatResponse extends Envelope {
  type: 'heartbeatResp';
  round: number;
}

/** Chunked InstallSnapshot (§5 / Figure 13). */
export interface SnapshotChunk extends Envelope {
  type: 'snapshot';
  meta: SnapshotMeta;
  offset: number;
  /** Total snapshot data length in bytes. */
  total: number;
  data: Uint8Array;
  done: boolean;
}

export interface SnapshotResponse extends Envelope {
  type: 'snapshotResp';
  /** Snapshot index acknowledged (or being received). */
  index: number;
  /** Next byte offset the follower expects; equals total when installed. */
  offset: number;
  success: boolean;
}

/** §3.10: the leader tells the transferee to start an election immediately. */
export interface TimeoutNow extends Envelope {
  type: 'timeoutNow';
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  role: Role;
  leader: NodeId | null;
  term: number;
}

/** A confirmed linearizable read point (§6.4): serve the read once applied index >= `index`. */
export interface ReadState {
  index: number;
  context: number;
}

/**
 * Work the core hands back to its caller. The core decides every durability question (as etcd's
 * rawnode does with `MustSync` and its messages-after-append); the caller follows this order and
 * needs no knowledge of the protocol:
 *  1. send `messagesNow`: they promise nothing about this node's disk;
 *  2. if `applyBeforeWrite`, apply `committedEntries` to the state machine;
 *  3. if `mustSync`, write `snapshot` (if any; it came from the leader, its data already staged
 *     from `receivedChunks`, and replaces the WHOLE log, entries after its index included), then `entries` (truncating any stored entries from
 *     `entries[0].index` on), then `hardState` (if any), as one synced write (group commit), and
 *     wait until it is durable. If `mustSync` is false there is nothing durable to write:
 *     `snapshot` is null, `entries` is empty, and `hardState`, if set, differs from what is on
 *     disk only in `commit`, which is volatile state (Figure 2) — skip the write (a later synced
 *     write carries the newer commit; after a crash the leader teaches it again);
 *  4. send `messagesAfterWrite`, and `snapshotSends`, each once its bytes are read from storage;
 *     stage `receivedChunks`, sending each one's `ack` once the storage has room for more;
 *  5. if `snapshot` is set, restore the state machine from it (reading it back from storage); then, if not done in step 2, apply
 *     `committedEntries`;
 *  6. call `advance(ready)`.
 *
 * The restore of step 5 may run beside the caller's loop (RaftDriver does, a slice at a time):
 * `advance` may then be called, and later Readies carried out, before it ends, provided that
 * nothing is applied until it has — the committed entries of this Ready and of those after it
 * wait, in order, for the image (the order stays write, restore, apply).
 *
 * Which messages may go first (§10.2.1): a leader's appends and heartbeats, once the term and vote
 * it leads under are durable — a leader counts its own log toward a quorum only up to what
 * `advance` reported written, so replicating while it writes risks nothing. Everything else
 * (votes, append and snapshot acknowledgments, anything sent under a term or vote not yet on
 * disk) promises something about this node's disk and waits for the write.
 *
 * Why committed entries may be applied before the write: a committed entry is durable on a
 * majority already (the leader counts itself only once persisted), so applying it need not wait
 * for this Ready's write of *new* entries — that takes one fsync off every client's commit
 * latency. With a snapshot to install the order stays write, restore, apply.
 *
 * The same two rules hold while a Ready's write is under way, for what arrives during it: the
 * driver takes a leader's new appends (RaftCore.takeAppends) and entries committed meanwhile
 * (RaftCore.takeCommitted) before `advance`, so that the leader's own fsync is on a commit's path
 * only when it is slower than the followers'.
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  entries: Entry[];
  /** A snapshot from the leader, received whole and verified: its data is in `receivedChunks` of this and earlier Readies. */
  snapshot: StoredSnapshot | null;
  /** A synced write of `snapshot`, `entries` and `hardState` is needed (step 3). */
  mustSync: boolean;
  /** May leave at once, before or during the write. */
  messagesNow: Message[];
  /** May leave only once the write is durable. */
  messagesAfterWrite: Message[];
  /** Snapshot chunks to send (after the write, as `messagesAfterWrite`), read from storage first. */
  snapshotSends: SnapshotSend[];
  /** Chunks of a leader's snapshot to stage in storage (after the write). */
  receivedChunks: ReceivedChunk[];
  committedEntries: Entry[];
  /** `committedEntries` may be applied before the write (false only while a snapshot is installed). */
  applyBeforeWrite: boolean;
  readStates: ReadState[];
}

/**
 * Deliberate bugs, for the mutation tests only (the registry with their detectors is
 * src/verify/mutations.ts); none is ever set in production. Each is one branch, read once at
 * construction, so a core or driver without them pays nothing.
 */
export type RaftMutation =
  /** Votes and append acknowledgments leave before the write that backs them is synced. */
  | 'ack-before-sync'
  /** A leader commits an entry of an earlier term once a majority stores it (Figure 8, §5.4.2). */
  | 'commit-old-term-by-counting'
  /** The vote is kept in memory only: a node that restarts can vote twice in one term. */
  | 'vote-not-persisted'
  /** Entries are applied (and answered) as soon as they are appended, before they commit. */
  | 'apply-before-commit'
  /** Installing a snapshot whose last entry is in the log discards the entries after it (Figure 13 step 6). */
  | 'snapshot-drops-entries'
  /** A leader stamps entries with its wall clock as it is, so a clock that jumps moves replicated time with it. */
  | 'raw-wall-clock-time';

/** A broken internal invariant of the Raft core: a bug, never bad input. */
export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`raft invariant violated: ${invariant} (${detail})`);
    this.name = 'InvariantViolation';
  }
}

/**
 * The replicated state machine, generic: the core knows nothing of what it stores. `apply` returns
 * a typed result (as ra's `apply/3` and hashicorp's `FSM.Apply` do) that the driver hands to the
 * proposer on this node; it never crosses the network, so it is never encoded.
 */
export interface StateMachine<R> {
  /** Deterministic: same entries in the same order give the same results on every replica. */
  apply(data: Uint8Array, meta: { index: number; term: number; time: number }): R;
  /**
   * Begins a snapshot of the state as it is now, which the driver pulls a piece at a time while it
   * goes on applying entries: the pieces must make the image of the state at this moment, not
   * later (point in time). One at a time: beginning one ends the one before, and so does a
   * finished restore.
   */
  snapshotSource(): SnapshotSource;
  /**
   * Begins restoring an image of `size` bytes (a snapshot's data), which the driver feeds a piece
   * at a time, beside the Raft loop: the state machine builds the new state beside the live one
   * and swaps it in at `finish`. The driver applies nothing meanwhile.
   */
  restoreSink(size: number): RestoreSink;
}

/** A state machine image being restored (see StateMachine.restoreSink). */
export interface RestoreSink {
  /** Takes the next piece, doing work bounded by its size; throws on a bad image (the live state untouched). */
  write(piece: Uint8Array): void;
  /** Every piece was written: checks that they made a whole image and makes it the live state; throws (state untouched) if not. */
  finish(): void;
  /** Gives up: the image is dropped, the live state stays. */
  abort(): void;
}

/** A state machine image being produced (see StateMachine.snapshotSource). */
export interface SnapshotSource {
  /**
   * Does a bounded amount of work (a few ms at most) and returns the next piece of the image,
   * possibly empty (work done, nothing to hand out yet), or null once the image is complete.
   */
  next(): Uint8Array | null;
  /** Gives up before the end: the state machine stops keeping the image for it. */
  close(): void;
}

/** Typed failures the core and driver report to clients. */
export type RaftErrorCode =
  | 'NOT_LEADER'
  | 'NO_QUORUM'
  | 'TIMEOUT'
  /** The leader stepped down with the proposal pending: it may still commit under the next leader (outcome unknown). */
  | 'LEADERSHIP_LOST'
  | 'BACKLOG_FULL'
  | 'TRANSFER_IN_PROGRESS'
  | 'CONF_CHANGE_IN_PROGRESS'
  /** A change that would take the voters or learners past RaftConfig.maxVoters / maxLearners. */
  | 'MEMBERSHIP_FULL'
  /** A request that cannot apply to the current state (e.g. promoting a non-learner). */
  | 'INVALID_REQUEST'
  | 'STOPPED';

export class RaftError extends Error {
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    readonly leaderHint: NodeId | null = null,
  ) {
    super(message);
    this.name = 'RaftError';
  }
}

/** What a node finds on its disk at start: exactly what was synced, nothing more. */
export interface PersistedState {
  hardState: HardState;
  /** Latest snapshot (its data is read with RaftStorage.readSnapshot), or null if the log was never compacted. */
  snapshot: StoredSnapshot | null;
  /** Log entries after the snapshot (or from index 1), contiguous. */
  entries: Entry[];
  /** Membership to start with when there is neither snapshot nor conf-change entry (fresh cluster bootstrap). */
  initialMembership: Membership;
}

/** Durable home of the Raft log, vote and snapshot (LevelDB in production, memory in simulation). */
export interface RaftStorage {
  load(): Promise<PersistedState>;
  /**
   * One synced write (group commit): `snapshot` if any (its data staged by its writer, which must
   * come from this storage's `beginSnapshot` and be ended; it replaces the whole log), then
   * `entries` (first truncating any stored entries from `entries[0].index` on), then `hardState`.
   * Resolves only once the write is durable.
   */
  save(update: { hardState: HardState | null; entries: Entry[]; snapshot: ReceivedSnapshot | null }): Promise<void>;
  /**
   * Begins storing a snapshot, one the local state machine is taking or one received from the
   * leader: its pieces are written as they come, in batches beside the stored snapshot, which
   * stays the one `load` returns until `commit` (a local take) or a `save` with it (a received
   * one; see SnapshotWriter). Writes of the Raft loop (`save`) go on between the batches.
   */
  beginSnapshot(): SnapshotWriter;
  /**
   * `length` bytes at `offset` of the data of the stored snapshot, which must be the one at
   * `index` or one kept for a send (`keepSnapshots`): rejects once it is neither, so that a send
   * under way fails cleanly instead of mixing two images.
   */
  readSnapshot(index: number, offset: number, length: number): Promise<Uint8Array>;
  /**
   * The snapshots (by index) being sent to followers: when a newer snapshot replaces one of them,
   * its data stays readable until a later call no longer names it (it is garbage after a restart).
   * Any other replaced snapshot goes with the switch.
   */
  keepSnapshots(indexes: readonly number[]): void;
  close(): Promise<void>;
}

/**
 * A snapshot being stored a batch at a time (RaftStorage.beginSnapshot). A crash at any point
 * leaves either the previous snapshot and its log or, once `commit` resolved, the new one; what an
 * unfinished writer staged is garbage, removed when the store is next opened.
 */
export interface SnapshotWriter {
  /**
   * Appends the next piece of the image (the writer keeps a reference until it is stored). False
   * once enough is waiting to be stored: await `drained()` before writing more.
   */
  write(piece: Uint8Array): boolean;
  /** Resolves once `write` may go on; rejects with the failure if storing a batch failed. */
  drained(): Promise<void>;
  /** Stores what is still buffered; resolves once everything written is staged (no `write` after it). */
  end(): Promise<void>;
  /**
   * After `end`: makes the image written the stored snapshot, with `meta` (its index newer than the
   * stored snapshot's), and drops the log up to its index and the previous image. One small synced
   * write; resolves once it is durable.
   */
  commit(meta: SnapshotMeta): Promise<void>;
  /** Gives up: what was staged is dropped. Pending `drained` and `end` calls resolve. */
  abort(): void;
}
