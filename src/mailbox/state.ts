// The replicated state of the mailbox state machine: what a snapshot holds.

import type { MailboxResult } from './commands.js';
import { SeqQueue, type StoredMessage } from './seq-queue.js';

export interface Lease {
  readonly msg: StoredMessage;
  readonly leaseExpiresAt: number;
}

/** Everything one user holds. Absent from the map when it holds nothing. */
export class UserBox {
  readonly queue = new SeqQueue();
  /** Dead letters; made on the first one, since most mailboxes never have any. */
  dead: SeqQueue | null = null;
  /** In-flight leased messages by receipt, in lease order; made on the first lease. */
  leases: Map<string, Lease> | null = null;
  leaseBytes = 0;
  /** Lower bound of expiresAt over queue and dead: below it no message of this user has expired. */
  minExpiry = Infinity;
  /** Lower bound of the lease ends: below it no lease of this user has run out. */
  minLeaseEnd = Infinity;

  get held(): number {
    return this.queue.size + (this.dead?.size ?? 0) + (this.leases?.size ?? 0);
  }

  get heldBytes(): number {
    return this.queue.bytes + (this.dead?.bytes ?? 0) + this.leaseBytes;
  }

  deadQueue(): SeqQueue {
    return (this.dead ??= new SeqQueue());
  }

  leaseMap(): Map<string, Lease> {
    return (this.leases ??= new Map());
  }
}

export interface RememberedPut {
  readonly user: string;
  readonly id: string;
  readonly seq: number;
  readonly expiresAt: number;
}

/** What a consume that reached the queue yields: the only results a request id remembers. */
export type ConsumeResult = Extract<MailboxResult, { kind: 'message' | 'empty' }>;

export interface RememberedConsume {
  readonly user: string;
  readonly requestId: string;
  readonly result: ConsumeResult;
  readonly bytes: number;
  readonly expiresAt: number;
}

/** The replicated state, exposed to the snapshot codec. */
export interface MailboxState {
  now: number;
  lastSeq: number;
  users: Map<string, UserBox>;
  /** Put ids in the dedupe window, keyed user NUL id, oldest first. */
  puts: Map<string, RememberedPut>;
  /** Consume results kept for request-id retries, keyed user NUL requestId, oldest first. */
  consumes: Map<string, RememberedConsume>;
  consumeBytes: number;
}

export function emptyMailboxState(): MailboxState {
  return { now: 0, lastSeq: 0, users: new Map(), puts: new Map(), consumes: new Map(), consumeBytes: 0 };
}

/**
 * The receipt of a message's current delivery: its sequence number and delivery count, so every
 * delivery has its own and a consumer whose lease ran out cannot settle a later one. With the
 * deliberate bug `reuseFirst` (mutation lease-receipt-reuse) every delivery gets the first one's.
 */
export function receiptOf(msg: StoredMessage, reuseFirst = false): string {
  return `${msg.seq}.${reuseFirst ? 1 : msg.deliveries}`;
}

