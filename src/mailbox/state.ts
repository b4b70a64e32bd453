// The replicated state of the mailbox state machine: what a snapshot holds.

import { type BodyStore, MemoryBodyStore } from './body-store.js';
import type { MailboxResult } from './commands.js';
import { DEFAULT_QUOTAS, type MailboxQuotas } from './quotas.js';
import { DelayedSet } from './delayed-set.js';
import { SeqQueue, type StoredMessage } from './seq-queue.js';
import { OldestQueued } from './oldest-queued.js';
import { SlotOrder, type Slotted } from './slot-order.js';
import { SweepSchedule } from './sweep-schedule.js';

export interface Lease {
  readonly msg: StoredMessage;
  readonly leaseExpiresAt: number;
  /** The consume command's receiptNonce, '' for a lease taken without one (see receiptOf). */
  readonly nonce: string;
}

/**
 * What few mailboxes hold: dead letters, leases, delayed messages. Kept apart from `UserBox` and
 * made on the first use, since at a million mailboxes every field of a mailbox costs 8 MB per
 * replica (these five, with the heap number of `minLeaseEnd`, 48 B a mailbox).
 */
class RareFields {
  dead: SeqQueue | null = null;
  leases: Map<string, Lease> | null = null;
  leaseBytes = 0;
  delayed: DelayedSet | null = null;
  minLeaseEnd = Infinity;
}

/**
 * Everything one user holds. Absent from the map when it holds nothing.
 *
 * A mailbox is its own queue of visible messages (it extends SeqQueue) rather than holding one:
 * at a million mailboxes a queue object of its own, and the field pointing at it, cost 32 MB of
 * old-generation heap per replica and a million more objects for every full collection to mark.
 * `queue` names that part of it.
 */
export class UserBox extends SeqQueue implements Slotted {
  constructor(
    /** The mailbox's user: its key in the state's map. */
    readonly user: string,
  ) {
    super();
  }

  /** The visible messages, in seq order: this mailbox's own columns. */
  get queue(): SeqQueue {
    return this;
  }

  /** Dead letters, leases and delayed messages: null until the mailbox first has one. */
  private rare: RareFields | null = null;
  /** Lower bound of expiresAt over queue and dead: below it no message of this user has expired. */
  minExpiry = Infinity;
  /**
   * The snapshot stream (snapshot-stream.ts) this mailbox was last written out or copied for: equal
   * to the current stream's mark once its image of this mailbox is fixed, so that later changes
   * may go ahead. Not replicated state.
   */
  snapshotMark = 0;
  /** Where this mailbox is in the state's boxOrder (slot-order.ts). Derived. */
  slot = -1;
  /** This mailbox's place in the state's sweep schedule (sweep-schedule.ts), -1 for none. Derived. */
  sweepPos = -1;
  /** This mailbox's place in the state's oldest-queued index (oldest-queued.ts), -1 for none. Derived. */
  headPos = -1;

  /** Dead letters; made on the first one, since most mailboxes never have any. */
  get dead(): SeqQueue | null {
    return this.rare === null ? null : this.rare.dead;
  }

  set dead(queue: SeqQueue | null) {
    if (queue !== null || this.rare !== null) this.rareFields().dead = queue;
  }

  /** In-flight leased messages by receipt, in lease order; made on the first lease. */
  get leases(): Map<string, Lease> | null {
    return this.rare === null ? null : this.rare.leases;
  }

  set leases(leases: Map<string, Lease> | null) {
    if (leases !== null || this.rare !== null) this.rareFields().leases = leases;
  }

  /** Body bytes of the leased messages. */
  get leaseBytes(): number {
    return this.rare === null ? 0 : this.rare.leaseBytes;
  }

  set leaseBytes(bytes: number) {
    if (bytes !== 0 || this.rare !== null) this.rareFields().leaseBytes = bytes;
  }

  /** Messages not visible yet, by visible time; made on the first one. */
  get delayed(): DelayedSet | null {
    return this.rare === null ? null : this.rare.delayed;
  }

  set delayed(set: DelayedSet | null) {
    if (set !== null || this.rare !== null) this.rareFields().delayed = set;
  }

  /** Lower bound of the lease ends: below it no lease of this user has run out. */
  get minLeaseEnd(): number {
    return this.rare === null ? Infinity : this.rare.minLeaseEnd;
  }

  set minLeaseEnd(at: number) {
    if (at !== Infinity || this.rare !== null) this.rareFields().minLeaseEnd = at;
  }

  get held(): number {
    return this.queue.size + (this.dead?.size ?? 0) + (this.leases?.size ?? 0) + (this.delayed?.size ?? 0);
  }

  get heldBytes(): number {
    return this.queue.bytes + (this.dead?.bytes ?? 0) + this.leaseBytes + (this.delayed?.bytes ?? 0);
  }

  deadQueue(): SeqQueue {
    return (this.rareFields().dead ??= new SeqQueue());
  }

  delayedSet(): DelayedSet {
    return (this.rareFields().delayed ??= new DelayedSet());
  }

  leaseMap(): Map<string, Lease> {
    return (this.rareFields().leases ??= new Map());
  }

  private rareFields(): RareFields {
    return (this.rare ??= new RareFields());
  }
}

/**
 * Remembered entries are immutable (a change replaces the entry) but for their derived slot. Each
 * keeps its key, rememberedKey(user, principal, id), and not the three strings apart: they are
 * read back only to write an image (rememberedParts), and held apart (each command decodes strings
 * of its own) they cost 104-129 bytes more per entry, about 40% of a put id's (bench/id-table-bench.ts).
 */
export interface RememberedPut extends Slotted {
  /** rememberedKey(user, principal, id): its key in the state's `puts`. */
  readonly key: string;
  readonly seq: number;
  readonly expiresAt: number;
}

/** What a consume that reached the queue yields: the only results a request id remembers. */
export type ConsumeResult = Extract<MailboxResult, { kind: 'message' | 'messages' | 'empty' }>;

/** The body bytes a remembered consume result holds (what requestCacheMaxBytes bounds). */
export function consumeResultBytes(result: ConsumeResult): number {
  if (result.kind === 'message') return result.message.body.length;
  if (result.kind === 'messages') return result.messages.reduce((n, m) => n + m.body.length, 0);
  return 0;
}

export interface RememberedConsume extends Slotted {
  /** rememberedKey(user, principal, requestId): its key in the state's `consumes`. */
  readonly key: string;
  readonly result: ConsumeResult;
  readonly bytes: number;
  readonly expiresAt: number;
}

/** The replicated state, exposed to the snapshot codec. */
export interface MailboxState {
  now: number;
  lastSeq: number;
  users: Map<string, UserBox>;
  /** Put ids in the dedupe window, keyed by rememberedKey(user, principal, id), oldest first. */
  puts: Map<string, RememberedPut>;
  /** Consume results kept for request-id retries, keyed by rememberedKey(user, principal, requestId), oldest first. */
  consumes: Map<string, RememberedConsume>;
  consumeBytes: number;
  /** The cluster quotas in force: replicated (setQuotas), kept in snapshots. */
  quotas: MailboxQuotas;
  /** Messages held by every mailbox together (sum of UserBox.held): derived, recomputed on restore. */
  heldMessages: number;
  /** Body bytes held by every mailbox together (sum of UserBox.heldBytes): derived like heldMessages. */
  heldBytes: number;
  /** Where the bodies of the messages held are (not replicated state: node-local storage). */
  bodies: BodyStore;
  /** Dead letters held by every mailbox together, and their body bytes: derived like heldMessages. */
  deadMessages: number;
  deadBytes: number;
  /** Which mailboxes the expiry sweep must visit, and from when: derived, rebuilt on restore. */
  sweeps: SweepSchedule;
  /** The mailboxes by the age of their queue's head: derived, rebuilt on restore. */
  oldest: OldestQueued;
  /** The insertion orders of users, puts and consumes (slot-order.ts): derived, rebuilt on restore. */
  boxOrder: SlotOrder<UserBox>;
  putOrder: SlotOrder<RememberedPut>;
  consumeOrder: SlotOrder<RememberedConsume>;
}

export function emptyMailboxState(bodies: BodyStore = new MemoryBodyStore(), quotas: MailboxQuotas = DEFAULT_QUOTAS): MailboxState {
  return {
    now: 0,
    lastSeq: 0,
    users: new Map(),
    puts: new Map(),
    consumes: new Map(),
    consumeBytes: 0,
    quotas: { ...quotas },
    heldMessages: 0,
    heldBytes: 0,
    bodies,
    deadMessages: 0,
    deadBytes: 0,
    sweeps: new SweepSchedule(),
    oldest: new OldestQueued(),
    boxOrder: new SlotOrder(),
    putOrder: new SlotOrder(),
    consumeOrder: new SlotOrder(),
  };
}

/**
 * Where a remembered put id or request id is kept: per user mailbox and principal, so two
 * principals using the same id get independent results. None of the three holds a NUL.
 */
export function rememberedKey(user: string, principal: string, token: string): string {
  // Array.join writes one flat string. A concatenation (`${a}\0${b}`) is kept by V8 as a tree of
  // its parts (a cons string, 20 bytes per join on top of the parts), and which reads flatten it
  // differs between Node lines (charCodeAt did on 20, not on 26). Keys live as long as their
  // entry, one per put with an id: flat, that is 80 bytes less per remembered put (317 -> 237
  // bytes an entry, measured), hashed and compared without walking a tree.
  return [user, principal, token].join('\u0000');
}

/** The user, principal ('' for the anonymous one) and id or request id a remembered key was made of. */
export function rememberedParts(key: string): [user: string, principal: string, token: string] {
  const a = key.indexOf('\u0000');
  const b = key.indexOf('\u0000', a + 1);
  return [key.slice(0, a), key.slice(a + 1, b), key.slice(b + 1)];
}

/**
 * The receipt of a message's current delivery: `<seq>.<deliveries>.<nonce>`. Sequence number and
 * delivery count make every delivery's receipt its own, so a consumer whose lease ran out cannot
 * settle a later one; the nonce (leader randomness from the log entry) makes it unguessable, so
 * nobody settles a lease they were not handed. A lease taken without a nonce (an entry or snapshot
 * from before nonces) keeps the old `<seq>.<deliveries>`. With the deliberate bug `reuseFirst`
 * (mutation lease-receipt-reuse) every delivery gets `<seq>.1`, the first delivery's old receipt.
 */
export function receiptOf(msg: StoredMessage, nonce: string, reuseFirst = false): string {
  if (reuseFirst) return `${msg.seq}.1`;
  return nonce === '' ? `${msg.seq}.${msg.deliveries}` : `${msg.seq}.${msg.deliveries}.${nonce}`;
}

