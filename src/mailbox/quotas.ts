// Cluster-wide quotas on the whole mailbox state: every replica holds all of it in memory, so
// without a bound on the totals they would all run out of memory together. The quotas are part of
// the replicated state (defaults below, changed only by a committed `setQuotas` command and kept
// in snapshots), never a node's local configuration: replicas with different limits would accept
// different puts and fork.
//
// Only puts are refused at a quota on what is held (QUOTA_EXCEEDED); consumes, acks, purges and
// the expiry sweep always run, so a cluster at its quota drains. A quota set below the current
// usage refuses puts until enough has been taken out.
//
// Two quotas bound the id tables instead: the put ids and the consume results remembered for
// their dedupe window. A full table refuses a put with a new id, or a consume with a new request
// id, rather than forget an entry before its window ends. Their sizes set the sustained rate of
// such requests (entries / window), so operators must be able to raise them, and since they
// decide what a put or consume returns they must be the same on every replica: replicated, like
// the others (before image version 5 they were fixed in the code, at the defaults below).

/** The limits on the totals of every mailbox together (queued + leased + dead-lettered, like the per-mailbox limits). */
export interface MailboxQuotas {
  /** Messages held by all mailboxes together. */
  maxMessages: number;
  /** Body bytes held by all mailboxes together. */
  maxBytes: number;
  /** Mailboxes holding anything (a mailbox that holds nothing does not exist). */
  maxMailboxes: number;
  /** Put ids remembered at once, each for its dedupe window. */
  maxPutIds: number;
  /** Consume results remembered at once for retries with their request id, each for its window. */
  maxConsumeResults: number;
}

/** What the totals are now, beside the quotas (status, the setQuotas result). */
export interface MailboxUsage {
  messages: number;
  bytes: number;
  mailboxes: number;
}

const MiB = 1024 * 1024;

/**
 * Defaults of a new cluster (and of state from before quotas existed): well inside the ceilings
 * below, for a replica in a Node heap of a few GiB beside other work, and 1 GiB of bodies on disk
 * (twice that with a snapshot image). An operator raises them with setQuotas.
 */
export const DEFAULT_QUOTAS: Readonly<MailboxQuotas> = Object.freeze({
  maxMessages: 2_000_000,
  maxBytes: 1024 * MiB,
  maxMailboxes: 1_000_000,
  maxPutIds: 1_000_000,
  maxConsumeResults: 100_000,
});

/**
 * The most a quota may be set to. Memory, not the snapshot format, sets them (an image has no
 * length limit: the cluster snapshot's mailbox image is the rest of the image). Bodies are in the
 * body files on disk, so the heap holds each message's metadata (about 49 bytes in the queue's
 * columns) and each mailbox (about 300 bytes with its name and its places in the state's indexes,
 * bench/body-memory-bench.ts --users): 16,000,000 messages and 4,000,000 mailboxes are about
 * 0.8 + 1.2 GB of heap, beside the put id and consume result tables (their own limits),
 * within the heap of a node with a few GiB. Bodies cost disk, and each snapshot image holds them
 * all once more: 16 GiB of bodies is 32 GiB of disk or more per node (README: Quotas). A
 * remembered put id costs about 160 bytes of heap with a UUID, a remembered empty consume result
 * about 200 (a result's body is bounded apart by requestCacheMaxBytes): 4,000,000 put ids and
 * 2,000,000 consume results are about 0.65 + 0.4 GB at the ceilings (bench/id-table-bench.ts;
 * docs/performance.md, 2026-12-07 late).
 */
export const QUOTA_CEILINGS: Readonly<MailboxQuotas> = Object.freeze({
  maxMessages: 16_000_000,
  maxBytes: 16 * 1024 * MiB,
  maxMailboxes: 4_000_000,
  maxPutIds: 4_000_000,
  maxConsumeResults: 2_000_000,
});

export const QUOTA_NAMES = ['maxMessages', 'maxBytes', 'maxMailboxes', 'maxPutIds', 'maxConsumeResults'] as const;
/** The quotas an image of versions 3 and 4 carries; the others keep their defaults when one is read. */
export const QUOTA_NAMES_V3 = ['maxMessages', 'maxBytes', 'maxMailboxes'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

/** Why `value` cannot be quota `name`, or null when it can: an integer in [1, ceiling]. */
export function quotaProblem(name: QuotaName, value: unknown): string | null {
  const max = QUOTA_CEILINGS[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    return `${name} must be an integer between 1 and ${max}`;
  }
  return null;
}

/**
 * Why a put of `bytes` that would create a mailbox when `newMailbox` does not fit the quotas, or
 * null when it does. The message names the limit, the current value and the limit.
 */
export function quotaRefusal(q: MailboxQuotas, u: MailboxUsage, bytes: number, newMailbox: boolean): string | null {
  if (newMailbox && u.mailboxes + 1 > q.maxMailboxes) {
    return `cluster quota maxMailboxes reached: ${u.mailboxes} mailboxes hold messages, limit ${q.maxMailboxes}`;
  }
  if (u.messages + 1 > q.maxMessages) return `cluster quota maxMessages reached: ${u.messages} messages held, limit ${q.maxMessages}`;
  if (u.bytes + bytes > q.maxBytes) {
    return `cluster quota maxBytes reached: ${u.bytes} bytes held, limit ${q.maxBytes}, this message ${bytes} bytes`;
  }
  return null;
}

/** quotaRefusal for `count` messages of `bytes` together (a batch put), all or none. */
export function batchQuotaRefusal(q: MailboxQuotas, u: MailboxUsage, count: number, bytes: number, newMailbox: boolean): string | null {
  if (newMailbox && u.mailboxes + 1 > q.maxMailboxes) {
    return `cluster quota maxMailboxes reached: ${u.mailboxes} mailboxes hold messages, limit ${q.maxMailboxes}`;
  }
  if (u.messages + count > q.maxMessages) {
    return `cluster quota maxMessages reached: ${u.messages} messages held, limit ${q.maxMessages}, this batch ${count}`;
  }
  if (u.bytes + bytes > q.maxBytes) {
    return `cluster quota maxBytes reached: ${u.bytes} bytes held, limit ${q.maxBytes}, this batch ${bytes} bytes`;
  }
  return null;
}
