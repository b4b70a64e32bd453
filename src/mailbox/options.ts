// Configuration of the mailbox state machine. Every replica of a cluster must run with the same
// options: they decide results (limits, expiry times), so differing options would fork the state.

import { DEFAULT_QUOTAS, quotaProblem } from './quotas.js';

export interface MailboxOptions {
  /** Largest accepted message body. */
  maxBodyBytes: number;
  /** Most messages one user may hold: queued + leased (in flight) + dead-lettered. */
  maxMessagesPerMailbox: number;
  /** Most body bytes one user may hold, counted like `maxMessagesPerMailbox`. */
  maxBytesPerMailbox: number;
  /** TTL of a put that gives none. */
  defaultTtlMs: number;
  /** Largest TTL a put may ask for. */
  maxTtlMs: number;
  /** Largest lease a consume may ask for. */
  maxLeaseMs: number;
  /** A leased message handed out this many times goes to the dead-letter mailbox when its lease ends unacked. */
  maxDeliveries: number;
  /** Longest delay a put (`delayMs`) or a nack (`delayMs`) may ask for, like SQS's 15 minutes. */
  maxDelayMs: number;
  /**
   * Default delay of a nack that gives none: nackBackoffMs × 2^(deliveries − 1), capped at
   * nackBackoffMaxMs, so a failing consumer cannot burn maxDeliveries in milliseconds. 0 (the
   * default) returns a nacked message at once, as before.
   */
  nackBackoffMs: number;
  /** Cap of the default nack backoff (≤ maxDelayMs). */
  nackBackoffMaxMs: number;
  /** How long a put's client id is remembered for duplicate suppression. */
  dedupeWindowMs: number;
  /**
   * The cluster quota maxPutIds of a new state (quotas.ts), which setQuotas changes from then on:
   * the bound on remembered put ids. An id is never forgotten before its window ends: a put with a
   * new id is refused (QUOTA_EXCEEDED) while the table holds this many ids in their window. The
   * node leaves it at its default, DEFAULT_QUOTAS's, as every replica must start alike.
   */
  dedupeMaxEntries: number;
  /** How long a consume result is kept for retries with the same request id. */
  requestWindowMs: number;
  /**
   * The cluster quota maxConsumeResults of a new state, like dedupeMaxEntries: the bound on cached
   * consume results, kept for their whole window like put ids (a new request id is refused when full).
   */
  requestCacheMaxEntries: number;
  /** Bound on body bytes held by cached consume results; a new request id is refused unless one more maxBodyBytes fits. */
  requestCacheMaxBytes: number;
  /** Longest client message id or request id (UTF-16 code units). Receipts are the mailbox's own, bounded by the key space. */
  maxIdLength: number;
  /**
   * Most messages one batch takes: a consume's `max`, a batch put's count (at most
   * MAX_WIRE_BATCH). A batch put's bodies together are bounded by maxBodyBytes, so that its
   * request, like a single put, fits the routers' message limit.
   */
  maxBatch: number;
  /**
   * Deliberate bug `lease-receipt-reuse` (src/verify/mutations.ts), for the mutation tests only:
   * a redelivered message keeps the receipt of its first delivery, so a consumer whose lease ran
   * out can still ack (or nack) the delivery someone else now holds. Never set in production.
   */
  unsafeLeaseReceiptReuse: boolean;
}

const MiB = 1024 * 1024;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const DEFAULT_MAILBOX_OPTIONS: Readonly<MailboxOptions> = Object.freeze({
  maxBodyBytes: 1 * MiB,
  maxMessagesPerMailbox: 100_000,
  maxBytesPerMailbox: 256 * MiB,
  defaultTtlMs: 24 * HOUR,
  maxTtlMs: 14 * 24 * HOUR,
  maxLeaseMs: 12 * HOUR,
  maxDeliveries: 5,
  maxDelayMs: 15 * MINUTE,
  nackBackoffMs: 0,
  nackBackoffMaxMs: 5 * MINUTE,
  dedupeWindowMs: 10 * MINUTE,
  dedupeMaxEntries: DEFAULT_QUOTAS.maxPutIds,
  requestWindowMs: 10 * MINUTE,
  requestCacheMaxEntries: DEFAULT_QUOTAS.maxConsumeResults,
  requestCacheMaxBytes: 64 * MiB,
  maxIdLength: 128,
  maxBatch: 256,
  unsafeLeaseReceiptReuse: false,
});

/** Hard ceiling of the wire format for bodies, whatever the options say. */
export const MAX_WIRE_BODY_BYTES = 64 * MiB;
/** Hard ceiling of the wire format for the messages of one batch (consume max, batch put count). */
export const MAX_WIRE_BATCH = 1024;
/** Hard ceiling of the wire format for user ids, message ids, request ids and receipts (UTF-8 bytes). */
export const MAX_WIRE_STRING_BYTES = 1024;

type NumericKey = { [K in keyof MailboxOptions]: MailboxOptions[K] extends number ? K : never }[keyof MailboxOptions];
const NUMERIC_KEYS = (Object.keys(DEFAULT_MAILBOX_OPTIONS) as (keyof MailboxOptions)[]).filter(
  (k): k is NumericKey => typeof DEFAULT_MAILBOX_OPTIONS[k] === 'number',
);

/** Options that may be 0: a zero window turns that memory off. */
const MAY_BE_ZERO: ReadonlySet<string> = new Set(['dedupeWindowMs', 'requestWindowMs', 'nackBackoffMs']);

/**
 * Defaults filled in and every value checked. Only the keys of MailboxOptions are taken, so a
 * larger configuration object (with settings for other parts of the node) may be passed as is.
 */
export function resolveMailboxOptions(partial: Partial<MailboxOptions> = {}): MailboxOptions {
  const o = { ...DEFAULT_MAILBOX_OPTIONS, unsafeLeaseReceiptReuse: partial.unsafeLeaseReceiptReuse === true };
  for (const key of NUMERIC_KEYS) {
    const value = partial[key] ?? DEFAULT_MAILBOX_OPTIONS[key];
    const min = MAY_BE_ZERO.has(key) ? 0 : 1;
    if (!Number.isSafeInteger(value) || value < min) {
      throw new RangeError(`mailbox option ${key} must be an integer >= ${min}, got ${String(value)}`);
    }
    o[key] = value;
  }
  if (o.maxBodyBytes > MAX_WIRE_BODY_BYTES) throw new RangeError(`maxBodyBytes exceeds ${MAX_WIRE_BODY_BYTES}`);
  if (o.maxBatch > MAX_WIRE_BATCH) throw new RangeError(`maxBatch exceeds ${MAX_WIRE_BATCH}`);
  if (o.maxIdLength * 3 > MAX_WIRE_STRING_BYTES) throw new RangeError('maxIdLength too large for the wire format');
  if (o.defaultTtlMs > o.maxTtlMs) throw new RangeError('defaultTtlMs exceeds maxTtlMs');
  if (o.nackBackoffMs > 0 && o.nackBackoffMaxMs > o.maxDelayMs) throw new RangeError('nackBackoffMaxMs exceeds maxDelayMs');
  if (o.requestCacheMaxBytes < o.maxBodyBytes) throw new RangeError('requestCacheMaxBytes must hold at least one maxBodyBytes body');
  const putIds = quotaProblem('maxPutIds', o.dedupeMaxEntries);
  if (putIds !== null) throw new RangeError(`dedupeMaxEntries: ${putIds}`);
  const consumeResults = quotaProblem('maxConsumeResults', o.requestCacheMaxEntries);
  if (consumeResults !== null) throw new RangeError(`requestCacheMaxEntries: ${consumeResults}`);
  return o;
}
