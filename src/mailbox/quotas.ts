// Cluster-wide quotas on the whole mailbox state: every replica holds all of it in memory, so
// without a bound on the totals they would all run out of memory together. The quotas are part of
// the replicated state (defaults below, changed only by a committed `setQuotas` command and kept
// in snapshots), never a node's local configuration: replicas with different limits would accept
// different puts and fork.
//
// Only puts are refused at a quota (QUOTA_EXCEEDED); consumes, acks, purges and the expiry sweep
// always run, so a cluster at its quota drains. A quota set below the current usage refuses puts
// until enough has been taken out.

/** The limits on the totals of every mailbox together (queued + leased + dead-lettered, like the per-mailbox limits). */
export interface MailboxQuotas {
  /** Messages held by all mailboxes together. */
  maxMessages: number;
  /** Body bytes held by all mailboxes together. */
  maxBytes: number;
  /** Mailboxes holding anything (a mailbox that holds nothing does not exist). */
  maxMailboxes: number;
}

/** What the totals are now, beside the quotas (status, the setQuotas result). */
export interface MailboxUsage {
  messages: number;
  bytes: number;
  mailboxes: number;
}

const MiB = 1024 * 1024;

/**
 * Defaults of a new cluster (and of state from before quotas existed). Sized for a replica in a
 * Node heap of a few GiB: the state costs about 135 bytes per message beyond its body (README:
 * Benchmarks), so 2,000,000 messages and 1 GiB of bodies is about 1.3 GiB, and a snapshot of it
 * about 1.3 GiB too.
 */
export const DEFAULT_QUOTAS: Readonly<MailboxQuotas> = Object.freeze({
  maxMessages: 2_000_000,
  maxBytes: 1024 * MiB,
  maxMailboxes: 1_000_000,
});

/**
 * The most a quota may be set to: at these, a snapshot stays within the u32 length the cluster
 * snapshot gives the mailbox image (4 GiB = 4,295 MB) even with every id at its longest (ids and
 * user ids 128 ASCII characters, principals 64). Worst case, in MB: bodies 2,147; 4,000,000
 * messages × 216 bytes (163 of encoding with the id, 53 more when leased) 864; 4,000,000
 * mailboxes × 142 bytes 568; the put id table (1,000,000 × 342 bytes) 342; the consume result
 * table (64 MiB of bodies + 100,000 × about 710 bytes) 138: 4,059.
 */
export const QUOTA_CEILINGS: Readonly<MailboxQuotas> = Object.freeze({
  maxMessages: 4_000_000,
  maxBytes: 2048 * MiB,
  maxMailboxes: 4_000_000,
});

export const QUOTA_NAMES = ['maxMessages', 'maxBytes', 'maxMailboxes'] as const;
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
