// Commands the mailbox state machine applies (through the replicated log), queries it answers
// (served after a ReadIndex, never logged), and the results of both. This is the contract
// between src/mailbox, the wiring layer and src/bridge.

import type { MailboxQuotas, MailboxUsage } from './quotas.js';

/** Log-entry metadata the state machine is given with each command: "now" is `time`, never a local clock. */
export interface ApplyMeta {
  index: number;
  term: number;
  /** Leader timestamp (ms since epoch) carried by the log entry; the state machine keeps its clock monotonic. */
  time: number;
}

export type MailboxCommand =
  | PutCommand
  | PutBatchCommand
  | ConsumeCommand
  | AckCommand
  | NackCommand
  | PurgeCommand
  | ExpireCommand
  | SetQuotasCommand
  | TouchCommand
  | RedriveCommand;

export interface PutCommand {
  op: 'put';
  user: string;
  body: Uint8Array;
  /**
   * Client message id; a repeat by the same principal within the dedupe window returns the first
   * result and enqueues nothing. The id consumers see is this id as given.
   */
  id?: string;
  /** Time to live in ms; the configured default applies when absent. It runs from the put, delay included. */
  ttlMs?: number;
  /** Invisible for this many ms (1..maxDelayMs) of replicated time: not delivered, peeked nor counted as waiting. */
  delayMs?: number;
  /**
   * Who sent it (the verified capability's principal, set by the bridge): put ids are remembered
   * per (user, principal, id), so one client can neither squat nor replay another's ids. Absent
   * or '' is the anonymous principal (authorization off, entries written before principals).
   */
  principal?: string;
}

/** One message of a batch put: a put's per-message fields. */
export interface BatchPutItem {
  body: Uint8Array;
  /** Client message id, deduplicated like PutCommand.id. */
  id?: string;
  ttlMs?: number;
}

/**
 * Many messages to one user in one log entry, all or none: every check (sizes, ids, mailbox
 * limits, quotas, the id table) runs before anything is enqueued, and one refusal refuses the
 * batch. A message whose id is in its dedupe window (or repeats an earlier id of the same batch)
 * is reported as a duplicate with the first put's id and seq and enqueues nothing, while the
 * others enqueue: exactly what the same puts one by one would do.
 */
export interface PutBatchCommand {
  op: 'putBatch';
  user: string;
  messages: BatchPutItem[];
  /** Who sent it: scopes the ids like PutCommand.principal. */
  principal?: string;
}

export interface ConsumeCommand {
  op: 'consume';
  user: string;
  /**
   * A retry with the same request id by the same principal returns the very same result instead
   * of taking another message.
   */
  requestId?: string;
  /** When set, the message is leased (at-least-once): it stays until acked, or returns to the head when the lease ends. */
  leaseMs?: number;
  /** Consume from the user's dead-letter mailbox instead of the main one. */
  deadLetter?: boolean;
  /** Who sent it; scopes `requestId` like PutCommand.principal scopes put ids. */
  principal?: string;
  /**
   * Fresh randomness the leader draws for a leased consume (base64url, see RECEIPT_NONCE_PATTERN),
   * carried in the log entry so every replica derives the same unguessable receipt. Without it
   * (entries written before receipts had one) the receipt is the guessable `<seq>.<deliveries>`.
   */
  receiptNonce?: string;
  /**
   * Take up to `max` messages (1..MailboxOptions.maxBatch) in this one entry: the result is then
   * `messages` (in seq order) or `empty`, never `message`. A leased batch leases each message
   * under its own receipt; with a request id the whole batch is remembered and replayed.
   */
  max?: number;
}

export interface AckCommand {
  op: 'ack';
  user: string;
  receipt: string;
}

export interface NackCommand {
  op: 'nack';
  user: string;
  receipt: string;
  /**
   * The message becomes visible again after this many ms (0..maxDelayMs; 0 = at once). Absent:
   * the default backoff (options.nackBackoffMs, growing with the delivery count) applies.
   */
  delayMs?: number;
}

/** Extends a lease: it now ends `leaseMs` (1..maxLeaseMs) after this command's time. The receipt stays. */
export interface TouchCommand {
  op: 'touch';
  user: string;
  receipt: string;
  leaseMs: number;
}

/**
 * Moves dead letters back to the main mailbox, lowest seq first, at their seq position, with their
 * delivery count reset: all of them, or up to `max`.
 */
export interface RedriveCommand {
  op: 'redrive';
  user: string;
  max?: number;
}

export interface PurgeCommand {
  op: 'purge';
  user: string;
  /** Purge the dead-letter mailbox instead of the main one. */
  deadLetter?: boolean;
}

/** Proposed periodically by the leader: removes expired messages and returns expired leases to their queue. */
export interface ExpireCommand {
  op: 'expire';
}

/**
 * An operator's change of the cluster quotas (src/mailbox/quotas.ts); the quotas it leaves out
 * keep their value. Replicated like any command, so every replica applies the same limits.
 */
export interface SetQuotasCommand {
  op: 'setQuotas';
  maxMessages?: number;
  maxBytes?: number;
  maxMailboxes?: number;
  maxPutIds?: number;
  maxConsumeResults?: number;
}

/** Read-only queries: answered from applied state after a linearizable read point. */
export type MailboxQuery =
  | { op: 'peek'; user: string; deadLetter?: boolean }
  | { op: 'len'; user: string };

export interface DeliveredMessage {
  id: string;
  /** Per-user sequence number, increasing in commit order. */
  seq: number;
  body: Uint8Array;
  enqueuedAt: number;
  expiresAt: number;
  /** How many times this message has been handed out (1 on first delivery). */
  deliveries: number;
  /** Present for leased consumes: what ack/nack must quote. */
  receipt?: string;
  leaseExpiresAt?: number;
}

export interface PutOutcome {
  id: string;
  seq: number;
  duplicate: boolean;
}

export interface MailboxStats {
  count: number;
  bytes: number;
  /** Age in ms of the oldest queued message at query time, 0 when empty. */
  oldestAgeMs: number;
  inFlight: number;
  deadLetterCount: number;
  /**
   * Messages held but not visible yet (delayed put, nack delay or backoff): not in `count`.
   * Present only when there are some, so the stats of a mailbox without delays read as before.
   */
  delayed?: number;
}

export type MailboxErrorCode =
  | 'BAD_USER'
  | 'BAD_REQUEST'
  | 'TOO_LARGE'
  | 'MAILBOX_FULL'
  /** A cluster quota (or the bound of a request-id table) would be passed: see quotas.ts. */
  | 'QUOTA_EXCEEDED'
  | 'UNKNOWN_RECEIPT'
  | 'LEASE_EXPIRED';

export type MailboxResult =
  | { kind: 'put'; id: string; seq: number; duplicate: boolean }
  | { kind: 'message'; message: DeliveredMessage }
  /** A consume with `max`: one to max messages, in seq order. */
  | { kind: 'messages'; messages: DeliveredMessage[] }
  /** A batch put: one entry per message, in the batch's order. */
  | { kind: 'puts'; puts: PutOutcome[] }
  | { kind: 'empty' }
  | { kind: 'ok' }
  | { kind: 'purged'; count: number }
  | { kind: 'redriven'; count: number }
  | { kind: 'expired'; expired: number; deadLettered: number; leasesReturned: number }
  | { kind: 'stats'; stats: MailboxStats }
  | { kind: 'quotas'; quotas: MailboxQuotas; usage: MailboxUsage }
  | { kind: 'error'; code: MailboxErrorCode; message: string };
