// Deterministic binary encoding of the Raft vocabulary: messages on the wire; entries, hard state
// and snapshot metadata on disk (ConfChange entry data is encoded by membership.ts). Built with the
// varint family of the byte toolkit (src/wire): integers are unsigned LEB128 varints restricted to
// safe integers and to their shortest form, so each value has exactly one encoding; strings are
// UTF-8 (validated on decode), prefixed by their byte length. Every decoder is bounded: sizes are
// checked against limits and against the bytes actually present before anything is allocated, so
// garbage from a socket or a damaged disk fails with a WireError instead of exhausting memory or
// crashing. Persisted records (entry runs, hard state, snapshot meta) start with a format version.

import type {
  Entry,
  EntryType,
  HardState,
  Membership,
  Message,
  NodeId,
  SnapshotMeta,
} from './types.js';
import { ByteReader } from '../wire/reader.js';
import { ByteWriter, uintSize, varFieldSize } from '../wire/writer.js';
import { utf8Encoder } from '../wire/text.js';
import { WireError } from '../wire/wire-error.js';

export interface CodecLimits {
  /** Bytes of one encoded node id (UTF-8). */
  maxNodeIdBytes: number;
  /** Entries in one AppendRequest. */
  maxEntriesPerMessage: number;
  /** Bytes of one entry's data. */
  maxEntryDataBytes: number;
  /** Bytes of data in one SnapshotChunk. */
  maxChunkBytes: number;
  /** Voters plus learners in one membership; RaftCore refuses limits (maxVoters + maxLearners) above it. */
  maxMembers: number;
  /** Bytes of a whole encoded message. */
  maxMessageBytes: number;
}

// Generous enough for every configuration the daemon accepts (up to 65536 entries and 32 MiB per
// AppendEntries, 16 MiB snapshot chunks); deployments tighten them through the transport's frame
// size, which also caps every length field since lengths are checked against the bytes present.
export const DEFAULT_CODEC_LIMITS: Readonly<CodecLimits> = Object.freeze({
  maxNodeIdBytes: 64,
  maxEntriesPerMessage: 65536,
  maxEntryDataBytes: 32 << 20,
  maxChunkBytes: 16 << 20,
  maxMembers: 256,
  maxMessageBytes: 64 << 20,
});

const ENTRIES_VERSION = 1;
const HARD_STATE_VERSION = 1;
/** 2 added the snapshot's entry time and its data digest; 1 (without them) is still read, as time 0
 * with an empty digest, for stores written before (LevelStorage migrates them). */
const SNAPSHOT_META_VERSION = 2;
const SNAPSHOT_META_VERSION_1 = 1;
/** Bound of a snapshot digest's length field (SHA-256 is 32 bytes; room for a longer hash). */
const MAX_DIGEST_BYTES = 64;

const MESSAGE_TAGS = {
  preVote: 1,
  vote: 2,
  voteResp: 3,
  append: 4,
  appendResp: 5,
  heartbeat: 6,
  heartbeatResp: 7,
  snapshot: 8,
  snapshotResp: 9,
  timeoutNow: 10,
} as const satisfies Record<Message['type'], number>;

// EntryType is a const enum in types.ts; its values are mirrored here so decoding can validate them.
const ENTRY_TYPE_MAX = 2;

function limitsOf(partial?: Partial<CodecLimits>): CodecLimits {
  return partial ? { ...DEFAULT_CODEC_LIMITS, ...partial } : DEFAULT_CODEC_LIMITS;
}

// Node ids are few (the cluster's members) and in every message, so their UTF-8 form is kept
// rather than re-encoded each time. Only ids this process sends are cached (never decoded ones),
// and the cache stops growing at a bound. Cached arrays are only ever copied from.
const nodeIdCache = new Map<NodeId, Uint8Array>();
const NODE_ID_CACHE_MAX = 1024;

function nodeIdBytes(id: NodeId, limits: CodecLimits): Uint8Array {
  let b = nodeIdCache.get(id);
  if (b === undefined) {
    b = utf8Encoder.encode(id);
    if (nodeIdCache.size < NODE_ID_CACHE_MAX) nodeIdCache.set(id, b);
  }
  if (b.length === 0 || b.length > limits.maxNodeIdBytes) {
    throw new WireError('INVALID', `node id must be 1..${limits.maxNodeIdBytes} UTF-8 bytes`);
  }
  return b;
}

/** Smallest encoded node id: a one-byte length and one byte. */
const MIN_NODE_ID_BYTES = 2;

function readNodeId(r: ByteReader, limits: CodecLimits): NodeId {
  const id = r.varString('node id', limits.maxNodeIdBytes);
  if (id.length === 0) throw new WireError('INVALID', 'empty node id');
  return id;
}

// ---- entries ---------------------------------------------------------------------------------

/** Smallest encoded entry body: one byte each for term, index, type, time and data length. */
const MIN_ENTRY_BODY_BYTES = 5;

/** Encoded size of an entry body; also where the data limit is enforced, before anything is allocated. */
function entryBodySize(e: Entry, limits: CodecLimits): number {
  if (e.data.length > limits.maxEntryDataBytes) {
    throw new WireError('TOO_LARGE', `entry data ${e.data.length} exceeds limit ${limits.maxEntryDataBytes}`);
  }
  return uintSize(e.term) + uintSize(e.index) + 1 + uintSize(e.time) + varFieldSize(e.data.length);
}

function writeEntryBody(w: ByteWriter, e: Entry): void {
  w.uint(e.term);
  w.uint(e.index);
  w.u8(e.type);
  w.uint(e.time);
  w.varBytes(e.data);
}

function readEntryBody(r: ByteReader, limits: CodecLimits): Entry {
  const term = r.uint();
  const index = r.uint();
  const type = r.u8();
  if (type > ENTRY_TYPE_MAX) throw new WireError('UNKNOWN_TAG', `entry type ${type}`);
  const time = r.uint();
  const data = r.varBytes('entry data', limits.maxEntryDataBytes);
  return { term, index, type: type as EntryType, time, data };
}

/**
 * Persisted form of a run of consecutive log entries (versioned): the count, then each entry.
 * One record holds a whole group commit, so storing it is one LevelDB operation however many
 * entries it carries.
 */
export function encodeEntries(entries: readonly Entry[], limits?: Partial<CodecLimits>): Uint8Array {
  const l = limitsOf(limits);
  let size = 1 + uintSize(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.index !== entries[0]!.index + i) throw new WireError('INVALID', `entries not consecutive at position ${i}`);
    size += entryBodySize(e, l);
  }
  const w = ByteWriter.exact(size);
  w.u8(ENTRIES_VERSION);
  w.uint(entries.length);
  for (const e of entries) writeEntryBody(w, e);
  return w.finish();
}

/** Entries' data are views of one private copy of `b` (see ByteReader.ofCopy). */
export function decodeEntries(b: Uint8Array, limits?: Partial<CodecLimits>): Entry[] {
  const l = limitsOf(limits);
  const r = ByteReader.ofCopy(b);
  const version = r.u8();
  if (version !== ENTRIES_VERSION) throw new WireError('BAD_VERSION', `entries format version ${version}`);
  // The bytes present bound the count, so a damaged count cannot make us loop or allocate for long.
  const n = r.count('entries', Math.floor(r.remaining / MIN_ENTRY_BODY_BYTES));
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const e = readEntryBody(r, l);
    if (i > 0 && e.index !== entries[0]!.index + i) throw new WireError('INVALID', `entries not consecutive at position ${i}`);
    entries.push(e);
  }
  r.end();
  return entries;
}

// ---- hard state ------------------------------------------------------------------------------

export function encodeHardState(hs: HardState, limits?: Partial<CodecLimits>): Uint8Array {
  const vote = hs.vote === null ? null : nodeIdBytes(hs.vote, limitsOf(limits));
  const w = ByteWriter.exact(1 + uintSize(hs.term) + uintSize(hs.commit) + 1 + (vote === null ? 0 : varFieldSize(vote.length)));
  w.u8(HARD_STATE_VERSION);
  w.uint(hs.term);
  w.uint(hs.commit);
  w.bool(vote !== null);
  if (vote !== null) w.varBytes(vote);
  return w.finish();
}

export function decodeHardState(b: Uint8Array, limits?: Partial<CodecLimits>): HardState {
  const r = new ByteReader(b);
  const version = r.u8();
  if (version !== HARD_STATE_VERSION) throw new WireError('BAD_VERSION', `hard state format version ${version}`);
  const term = r.uint();
  const commit = r.uint();
  const vote = r.bool() ? readNodeId(r, limitsOf(limits)) : null;
  r.end();
  return { term, vote, commit };
}

// ---- snapshot metadata and membership --------------------------------------------------------

function membershipSize(m: Membership, limits: CodecLimits): number {
  if (m.voters.length + m.learners.length > limits.maxMembers) {
    throw new WireError('TOO_LARGE', `membership of ${m.voters.length + m.learners.length} exceeds limit ${limits.maxMembers}`);
  }
  let size = uintSize(m.voters.length) + uintSize(m.learners.length);
  for (const id of m.voters) size += varFieldSize(nodeIdBytes(id, limits).length);
  for (const id of m.learners) size += varFieldSize(nodeIdBytes(id, limits).length);
  return size;
}

function writeMembership(w: ByteWriter, m: Membership, limits: CodecLimits): void {
  w.uint(m.voters.length);
  for (const id of m.voters) w.varBytes(nodeIdBytes(id, limits));
  w.uint(m.learners.length);
  for (const id of m.learners) w.varBytes(nodeIdBytes(id, limits));
}

function readMembership(r: ByteReader, limits: CodecLimits): Membership {
  const voters: NodeId[] = [];
  const nv = r.count('voters', Math.min(limits.maxMembers, Math.floor(r.remaining / MIN_NODE_ID_BYTES)));
  for (let i = 0; i < nv; i++) voters.push(readNodeId(r, limits));
  const learners: NodeId[] = [];
  const nl = r.count('learners', Math.min(limits.maxMembers - nv, Math.floor(r.remaining / MIN_NODE_ID_BYTES)));
  for (let i = 0; i < nl; i++) learners.push(readNodeId(r, limits));
  return { voters, learners };
}

function snapshotMetaBodySize(meta: SnapshotMeta, limits: CodecLimits): number {
  if (meta.digest.length > MAX_DIGEST_BYTES) throw new WireError('TOO_LARGE', `snapshot digest of ${meta.digest.length} bytes exceeds ${MAX_DIGEST_BYTES}`);
  return uintSize(meta.index) + uintSize(meta.term) + membershipSize(meta.membership, limits) + uintSize(meta.time) + varFieldSize(meta.digest.length);
}

function writeSnapshotMetaBody(w: ByteWriter, meta: SnapshotMeta, limits: CodecLimits): void {
  w.uint(meta.index);
  w.uint(meta.term);
  writeMembership(w, meta.membership, limits);
  w.uint(meta.time);
  w.varBytes(meta.digest);
}

/** `current` false reads the version-1 form: time 0 and an empty digest. */
function readSnapshotMetaBody(r: ByteReader, limits: CodecLimits, current = true): SnapshotMeta {
  const index = r.uint();
  const term = r.uint();
  const membership = readMembership(r, limits);
  const time = current ? r.uint() : 0;
  const digest = current ? r.varBytes('snapshot digest', MAX_DIGEST_BYTES).slice() : new Uint8Array(0);
  return { index, term, membership, time, digest };
}

/** Persisted form of snapshot metadata (versioned). */
export function encodeSnapshotMeta(meta: SnapshotMeta, limits?: Partial<CodecLimits>): Uint8Array {
  const l = limitsOf(limits);
  const w = ByteWriter.exact(1 + snapshotMetaBodySize(meta, l));
  w.u8(SNAPSHOT_META_VERSION);
  writeSnapshotMetaBody(w, meta, l);
  return w.finish();
}

export function decodeSnapshotMeta(b: Uint8Array, limits?: Partial<CodecLimits>): SnapshotMeta {
  const r = new ByteReader(b);
  const version = r.u8();
  if (version !== SNAPSHOT_META_VERSION && version !== SNAPSHOT_META_VERSION_1) {
    throw new WireError('BAD_VERSION', `snapshot meta format version ${version}`);
  }
  const meta = readSnapshotMetaBody(r, limitsOf(limits), version === SNAPSHOT_META_VERSION);
  r.end();
  return meta;
}

// ---- messages --------------------------------------------------------------------------------

/** Encoded size of the fields after the envelope; also where size limits are enforced. */
function messageBodySize(m: Message, l: CodecLimits): number {
  switch (m.type) {
    case 'preVote':
      return uintSize(m.lastLogIndex) + uintSize(m.lastLogTerm);
    case 'vote':
      return uintSize(m.lastLogIndex) + uintSize(m.lastLogTerm) + 1;
    case 'voteResp':
      return 2;
    case 'append': {
      if (m.entries.length > l.maxEntriesPerMessage) {
        throw new WireError('TOO_LARGE', `${m.entries.length} entries exceed limit ${l.maxEntriesPerMessage}`);
      }
      let size = uintSize(m.prevLogIndex) + uintSize(m.prevLogTerm) + uintSize(m.commit) + uintSize(m.entries.length);
      for (const e of m.entries) size += entryBodySize(e, l);
      return size;
    }
    case 'appendResp':
      return 1 + uintSize(m.index) + uintSize(m.conflictTerm) + uintSize(m.conflictIndex);
    case 'heartbeat':
      return uintSize(m.commit) + uintSize(m.round);
    case 'heartbeatResp':
      return uintSize(m.round);
    case 'snapshot':
      if (m.data.length > l.maxChunkBytes) {
        throw new WireError('TOO_LARGE', `snapshot chunk ${m.data.length} exceeds limit ${l.maxChunkBytes}`);
      }
      return snapshotMetaBodySize(m.meta, l) + uintSize(m.offset) + uintSize(m.total) + varFieldSize(m.data.length) + 1;
    case 'snapshotResp':
      return uintSize(m.index) + uintSize(m.offset) + 1;
    case 'timeoutNow':
      return 0;
  }
}

/**
 * Wire form of a message: tag, envelope, then the type's fields in declaration order. The size is
 * computed (and checked against the limits) first, then everything is written into one buffer.
 */
export function encodeMessage(m: Message, limits?: Partial<CodecLimits>): Uint8Array {
  const l = limitsOf(limits);
  const from = nodeIdBytes(m.from, l);
  const to = nodeIdBytes(m.to, l);
  const size = 1 + varFieldSize(from.length) + varFieldSize(to.length) + uintSize(m.term) + messageBodySize(m, l);
  if (size > l.maxMessageBytes) {
    throw new WireError('TOO_LARGE', `encoded message of ${size} bytes exceeds limit ${l.maxMessageBytes}`);
  }
  const w = ByteWriter.exact(size);
  w.u8(MESSAGE_TAGS[m.type]);
  w.varBytes(from);
  w.varBytes(to);
  w.uint(m.term);
  switch (m.type) {
    case 'preVote':
      w.uint(m.lastLogIndex);
      w.uint(m.lastLogTerm);
      break;
    case 'vote':
      w.uint(m.lastLogIndex);
      w.uint(m.lastLogTerm);
      w.bool(m.transfer);
      break;
    case 'voteResp':
      w.bool(m.preVote);
      w.bool(m.granted);
      break;
    case 'append':
      w.uint(m.prevLogIndex);
      w.uint(m.prevLogTerm);
      w.uint(m.commit);
      w.uint(m.entries.length);
      for (const e of m.entries) writeEntryBody(w, e);
      break;
    case 'appendResp':
      w.bool(m.success);
      w.uint(m.index);
      w.uint(m.conflictTerm);
      w.uint(m.conflictIndex);
      break;
    case 'heartbeat':
      w.uint(m.commit);
      w.uint(m.round);
      break;
    case 'heartbeatResp':
      w.uint(m.round);
      break;
    case 'snapshot':
      writeSnapshotMetaBody(w, m.meta, l);
      w.uint(m.offset);
      w.uint(m.total);
      w.varBytes(m.data);
      w.bool(m.done);
      break;
    case 'snapshotResp':
      w.uint(m.index);
      w.uint(m.offset);
      w.bool(m.success);
      break;
    case 'timeoutNow':
      break;
  }
  return w.finish();
}

/** Byte fields (entry data, snapshot chunk data) come out as views of one private copy of `b`. */
export function decodeMessage(b: Uint8Array, limits?: Partial<CodecLimits>): Message {
  const l = limitsOf(limits);
  if (b.length > l.maxMessageBytes) {
    throw new WireError('TOO_LARGE', `message of ${b.length} bytes exceeds limit ${l.maxMessageBytes}`);
  }
  const r = ByteReader.ofCopy(b);
  const tag = r.u8();
  if (tag < MESSAGE_TAGS.preVote || tag > MESSAGE_TAGS.timeoutNow) throw new WireError('UNKNOWN_TAG', `message tag ${tag}`);
  const from = readNodeId(r, l);
  const to = readNodeId(r, l);
  const term = r.uint();
  let m: Message;
  switch (tag) {
    case MESSAGE_TAGS.preVote:
      m = { type: 'preVote', from, to, term, lastLogIndex: r.uint(), lastLogTerm: r.uint() };
      break;
    case MESSAGE_TAGS.vote:
      m = { type: 'vote', from, to, term, lastLogIndex: r.uint(), lastLogTerm: r.uint(), transfer: r.bool() };
      break;
    case MESSAGE_TAGS.voteResp:
      m = { type: 'voteResp', from, to, term, preVote: r.bool(), granted: r.bool() };
      break;
    case MESSAGE_TAGS.append: {
      const prevLogIndex = r.uint();
      const prevLogTerm = r.uint();
      const commit = r.uint();
      const n = r.count('entries', Math.min(l.maxEntriesPerMessage, Math.floor(r.remaining / MIN_ENTRY_BODY_BYTES)));
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) entries.push(readEntryBody(r, l));
      m = { type: 'append', from, to, term, prevLogIndex, prevLogTerm, entries, commit };
      break;
    }
    case MESSAGE_TAGS.appendResp:
      m = {
        type: 'appendResp',
        from,
        to,
        term,
        success: r.bool(),
        index: r.uint(),
        conflictTerm: r.uint(),
        conflictIndex: r.uint(),
      };
      break;
    case MESSAGE_TAGS.heartbeat:
      m = { type: 'heartbeat', from, to, term, commit: r.uint(), round: r.uint() };
      break;
    case MESSAGE_TAGS.heartbeatResp:
      m = { type: 'heartbeatResp', from, to, term, round: r.uint() };
      break;
    case MESSAGE_TAGS.snapshot: {
      const meta = readSnapshotMetaBody(r, l);
      const offset = r.uint();
      const total = r.uint();
      const data = r.varBytes('snapshot chunk', l.maxChunkBytes);
      m = { type: 'snapshot', from, to, term, meta, offset, total, data, done: r.bool() };
      break;
    }
    case MESSAGE_TAGS.snapshotResp:
      m = { type: 'snapshotResp', from, to, term, index: r.uint(), offset: r.uint(), success: r.bool() };
      break;
    case MESSAGE_TAGS.timeoutNow:
      m = { type: 'timeoutNow', from, to, term };
      break;
    default:
      throw new WireError('UNKNOWN_TAG', `message tag ${tag}`);
  }
  r.end();
  return m;
}
