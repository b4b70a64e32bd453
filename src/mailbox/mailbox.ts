// The mailbox state machine proper: typed commands in, typed results out. Pure and deterministic:
// "now" is the log entry's time (kept monotonic), ids and receipts derive from a replicated
// sequence counter and the randomness the leader put in the entry, and every iteration order is
// insertion order, which is the same on every replica that applied the same log.
//
// Rules that shape the code:
// - A rejected command changes nothing, not even the clock: checks run before any mutation.
// - Expired messages are never delivered; consume drops the expired ones it meets at the head,
//   the `expire` sweep removes the rest.
// - A lease that ran out counts as ended from that moment on: queries see its message back in the
//   queue (or dead-lettered), and the next consume/purge of that user, or the sweep, makes it so.
// - Put ids and request ids are remembered per (user, principal, id): the principal comes with
//   the command, so a client can neither squat nor replay another principal's ids.
// - A remembered id is never forgotten before its window ends: when its table is full of entries
//   still in their window, a put or consume with a new id is refused (QUOTA_EXCEEDED) instead.
// - The cluster quotas (quotas.ts) bound the totals of every mailbox together; they refuse puts
//   only. The totals they count are kept as running sums, moved by each command's mailbox.
// - Delayed messages (put delayMs, nack delayMs or the default nack backoff) wait in the mailbox's
//   DelayedSet, ordered by visible time, never in the queue: consumes do not scan past them. The
//   next consume, purge, redrive or sweep of that mailbox at or after their time moves them into
//   the queue at their seq position; queries already see a due message as visible.
// - Bodies live in the state's body store (body-store.ts), not in the messages, each in a record
//   with the message's client id (message-record.ts): a message that leaves the state has its
//   record released in the same apply, after any read of it (a consume reads the id and body into
//   its result before it frees them).

import type {
  AckCommand,
  ApplyMeta,
  ConsumeCommand,
  DeliveredMessage,
  MailboxCommand,
  MailboxErrorCode,
  MailboxQuery,
  MailboxResult,
  MailboxStats,
  NackCommand,
  PurgeCommand,
  PutBatchCommand,
  PutCommand,
  PutOutcome,
  RedriveCommand,
  SetQuotasCommand,
  TouchCommand,
} from './commands.js';
import type { BodyStore, BodyStoreUsage } from './body-store.js';
import { appendRecord, deliveryOf, derivedId } from './message-record.js';
import { type MailboxOptions, resolveMailboxOptions } from './options.js';
import { DEFAULT_QUOTAS, type MailboxQuotas, type MailboxUsage, QUOTA_NAMES, batchQuotaRefusal, quotaProblem, quotaRefusal } from './quotas.js';
import { StoredMessage } from './seq-queue.js';
import type { SlotOrder, Slotted } from './slot-order.js';
import { type ImageSink, SnapshotReader, writeSnapshot } from './snapshot.js';
import { MailboxSnapshotStream, type StreamSteps } from './snapshot-stream.js';
import {
  type ConsumeResult,
  type MailboxState,
  type RememberedConsume,
  type RememberedPut,
  UserBox,
  consumeResultBytes,
  emptyMailboxState,
  receiptOf,
  rememberedKey,
} from './state.js';
import { durationProblem, principalProblem, receiptNonceProblem, tokenProblem, userProblem } from './validate.js';
import { MAX_TOKEN_LENGTH } from '../identifiers.js';

const EMPTY: ConsumeResult = Object.freeze({ kind: 'empty' });
const OK: MailboxResult = Object.freeze({ kind: 'ok' });

function fail(code: MailboxErrorCode, message: string): MailboxResult {
  return { kind: 'error', code, message };
}

/**
 * How many entries of an oldest-first remembered table (puts, consumes) are still in their window
 * at `now`, and the bytes of those that are not, without forgetting them: a refusal must change
 * nothing. Windows have one length and the clock never goes back, so the expired are a prefix.
 */
function liveEntries<V extends Slotted & { expiresAt: number; bytes?: number }>(
  table: Map<string, V>,
  order: SlotOrder<V>,
  now: number,
): { count: number; expiredBytes: number } {
  let expired = 0;
  let expiredBytes = 0;
  for (const e of order.fromFirst()) {
    if (e.expiresAt > now) break;
    expired++;
    expiredBytes += e.bytes ?? 0;
  }
  return { count: table.size - expired, expiredBytes };
}

export interface MailboxTotals {
  messages: number;
  bytes: number;
  deadLetters: number;
  expiredTotal: number;
  mailboxes: number;
  top: Array<{ user: string; count: number; bytes: number }>;
  /** The cluster quotas and what they count now (dead letters included, unlike `messages`). */
  quotas: MailboxQuotas;
  usage: MailboxUsage;
  /** Entries of the put id table and of the consume result table, expired ones not yet forgotten included. */
  putIds: number;
  consumeResults: number;
  /** What the bodies take in this replica's body store (node-local: replicas may differ). */
  bodyStore: BodyStoreUsage;
}

interface LeaseEndCounts {
  returned: number;
  deadLettered: number;
  expired: number;
}

export class Mailbox {
  readonly options: MailboxOptions;
  state: MailboxState;
  /** Messages removed by expiry since this process started (a metric, not replicated state). */
  private expiredTotal = 0;
  /** The snapshot being written out, told before any mailbox changes (copy before write). */
  private stream: MailboxSnapshotStream | null = null;
  /** Streams begun so far: the next one's mark. */
  private streams = 0;
  /** The oldest remembered put id and consume result, without a walk over deleted entries (map-front.ts). */

  /** Frees the record (id and body) of a message that left the state. */
  private readonly release = (m: StoredMessage): void => this.state.bodies.release(m.bodyRef, m.recordLength);

  /** `bodies` holds the bodies of the messages (an empty store; default in memory). */
  constructor(options: Partial<MailboxOptions> = {}, bodies?: BodyStore) {
    this.options = resolveMailboxOptions(options);
    // The options give a new state its id tables' quotas (tests use small ones); from then on
    // they are replicated quotas like the others.
    this.state = emptyMailboxState(bodies, {
      ...DEFAULT_QUOTAS,
      maxPutIds: this.options.dedupeMaxEntries,
      maxConsumeResults: this.options.requestCacheMaxEntries,
    });
  }

  /** The space the bodies of the held messages take in the body store. */
  bodyUsage(): BodyStoreUsage {
    return this.state.bodies.usage();
  }

  apply(cmd: MailboxCommand, meta: ApplyMeta): MailboxResult {
    const now = Number.isFinite(meta.time) && meta.time > this.state.now ? meta.time : this.state.now;
    switch (cmd?.op) {
      case 'put':
      case 'putBatch':
      case 'consume':
      case 'ack':
      case 'nack':
      case 'purge':
      case 'touch':
      case 'redrive': {
        // These touch one user's mailbox: the cluster totals move by what that mailbox did.
        const s = this.state;
        const before = s.users.get(cmd.user);
        if (before !== undefined) this.stream?.beforeWrite(before);
        const was = before === undefined ? NOTHING_HELD : heldBy(before);
        const result = this.applyToUser(cmd, now);
        const after = s.users.get(cmd.user);
        if (after !== undefined) this.reindex(after);
        this.moveTotals(was, after === undefined ? NOTHING_HELD : heldBy(after));
        return result;
      }
      case 'expire':
        this.advance(now);
        return this.sweep();
      case 'setQuotas':
        return this.setQuotas(cmd, now);
      default:
        return fail('BAD_REQUEST', `unknown command op ${String((cmd as { op?: unknown } | null)?.op)}`);
    }
  }

  private applyToUser(cmd: Extract<MailboxCommand, { user: string }>, now: number): MailboxResult {
    switch (cmd.op) {
      case 'put':
        return this.put(cmd, now);
      case 'putBatch':
        return this.putBatch(cmd, now);
      case 'consume':
        return this.consume(cmd, now);
      case 'ack':
      case 'nack':
        return this.settle(cmd, now);
      case 'purge':
        return this.purge(cmd, now);
      case 'touch':
        return this.touch(cmd, now);
      case 'redrive':
        return this.redrive(cmd, now);
    }
  }

  /** The cluster totals now, as the quotas count them. */
  usage(): MailboxUsage {
    const s = this.state;
    return { messages: s.heldMessages, bytes: s.heldBytes, mailboxes: s.users.size };
  }

  /** The quotas in force (a copy). */
  quotas(): MailboxQuotas {
    return { ...this.state.quotas };
  }

  /**
   * Operator totals across every mailbox (metrics), from the running sums: O(1). And the `topN`
   * deepest mailboxes: a walk over every mailbox plus a partial sort, so only when asked (topN > 0,
   * metrics.perUserDepth). Counts what is held, expired-but-unswept included.
   */
  totals(topN: number): MailboxTotals {
    const s = this.state;
    const top: Array<{ user: string; count: number; bytes: number }> = [];
    if (topN > 0) {
      for (const [user, box] of s.users) {
        const count = box.queue.size + (box.leases?.size ?? 0) + (box.delayed?.size ?? 0);
        top.push({ user, count, bytes: box.queue.bytes + box.leaseBytes + (box.delayed?.bytes ?? 0) });
        if (top.length > 4 * topN) top.sort((a, b) => b.count - a.count).length = topN;
      }
      top.sort((a, b) => b.count - a.count);
      if (top.length > topN) top.length = topN;
    }
    return {
      messages: s.heldMessages - s.deadMessages,
      bytes: s.heldBytes - s.deadBytes,
      deadLetters: s.deadMessages,
      expiredTotal: this.expiredTotal,
      mailboxes: s.users.size,
      top,
      quotas: this.quotas(),
      usage: this.usage(),
      putIds: s.puts.size,
      consumeResults: s.consumes.size,
      bodyStore: this.bodyUsage(),
    };
  }

  /** When the oldest message waiting in a queue was enqueued (leased, delayed and dead ones apart), null when none waits. */
  oldestQueuedAt(): number | null {
    const at = this.state.oldest.enqueuedAt();
    return at === Infinity ? null : at;
  }

  /** Deterministic binary image of the state (see snapshot.ts). */
  snapshot(): Uint8Array {
    return writeSnapshot(this.state);
  }

  /**
   * A point-in-time image of the state as it is now, written out in bounded steps while commands
   * go on being applied (see snapshot-stream.ts); the same bytes as `snapshot()` now. One at a
   * time: beginning one closes the one before.
   */
  snapshotStream(steps?: StreamSteps): MailboxSnapshotStream {
    this.stream?.close();
    const stream = new MailboxSnapshotStream(
      this.state,
      ++this.streams,
      (ended) => {
        if (this.stream === ended) this.stream = null;
      },
      steps,
    );
    this.stream = stream;
    return stream;
  }

  /**
   * Takes an image of `size` bytes a piece at a time (bounded work per piece) into a state beside
   * this one; `finish` replaces the state with it. A bad image throws WireError from `write` or
   * `finish` and leaves the state untouched. Commands may go on being applied meanwhile: the
   * image replaces whatever they did.
   */
  restoreSink(size: number): ImageSink {
    let reader: SnapshotReader | null = new SnapshotReader(size, this.options.unsafeLeaseReceiptReuse, this.state.bodies.fresh());
    const open = (): SnapshotReader => {
      if (reader === null) throw new Error('restore already finished or aborted');
      return reader;
    };
    return {
      write: (piece) => open().write(piece),
      finish: () => {
        const r = open();
        let state: MailboxState;
        try {
          state = r.finish();
        } catch (err) {
          // A bad image: its bodies go with it, whether or not the caller aborts.
          r.abort();
          throw err;
        } finally {
          reader = null;
        }
        // The stream's image is of the state being replaced: it ends here.
        this.stream?.close();
        const replaced = this.state.bodies;
        this.state = state;
        replaced.discard();
      },
      abort: () => {
        reader?.abort();
        reader = null;
      },
    };
  }

  /** Replaces the state with a snapshot's (the sink fed in one piece); throws WireError (state untouched) on a bad image. */
  restore(data: Uint8Array): void {
    const sink = this.restoreSink(data.length);
    try {
      sink.write(data);
      sink.finish();
    } catch (err) {
      sink.abort();
      throw err;
    }
  }

  /** Read-only: answers from the applied state as of max(state time, `now`). */
  query(q: MailboxQuery, now: number): MailboxResult {
    const at = Number.isFinite(now) && now > this.state.now ? now : this.state.now;
    const bad = userProblem(q?.user);
    if (bad) return fail('BAD_USER', bad);
    if (q.op === 'peek') return this.peek(q.user, q.deadLetter === true, at);
    if (q.op === 'len') return { kind: 'stats', stats: this.stats(q.user, at) };
    return fail('BAD_REQUEST', `unknown query op ${String((q as { op?: unknown }).op)}`);
  }

  private put(cmd: PutCommand, now: number): MailboxResult {
    const o = this.options;
    const bad = this.userProblem(cmd.user);
    if (bad) return fail('BAD_USER', bad);
    if (!(cmd.body instanceof Uint8Array)) return fail('BAD_REQUEST', 'body must be bytes');
    const idProblem = cmd.id === undefined ? null : tokenProblem('id', cmd.id, o.maxIdLength, true);
    if (idProblem) return fail('BAD_REQUEST', idProblem);
    const ttlProblem = cmd.ttlMs === undefined ? null : durationProblem('ttlMs', cmd.ttlMs, o.maxTtlMs);
    if (ttlProblem) return fail('BAD_REQUEST', ttlProblem);
    const delayProblem = cmd.delayMs === undefined ? null : durationProblem('delayMs', cmd.delayMs, o.maxDelayMs);
    if (delayProblem) return fail('BAD_REQUEST', delayProblem);
    const whoProblem = principalProblem(cmd.principal);
    if (whoProblem) return fail('BAD_REQUEST', whoProblem);
    const size = cmd.body.length;
    if (size > o.maxBodyBytes) return fail('TOO_LARGE', `body is ${size} bytes, limit ${o.maxBodyBytes}`);

    const s = this.state;
    const principal = cmd.principal ?? '';
    if (cmd.id !== undefined) {
      const seen = s.puts.get(rememberedKey(cmd.user, principal, cmd.id));
      if (seen !== undefined && seen.expiresAt > now) {
        this.advance(now);
        return { kind: 'put', id: cmd.id, seq: seen.seq, duplicate: true };
      }
    }
    const box = s.users.get(cmd.user);
    if (box !== undefined) {
      if (box.held + 1 > o.maxMessagesPerMailbox) {
        return fail('MAILBOX_FULL', `mailbox holds ${box.held} messages, limit ${o.maxMessagesPerMailbox}`);
      }
      if (box.heldBytes + size > o.maxBytesPerMailbox) {
        return fail('MAILBOX_FULL', `mailbox holds ${box.heldBytes} bytes, limit ${o.maxBytesPerMailbox}`);
      }
    } else if (size > o.maxBytesPerMailbox) {
      return fail('MAILBOX_FULL', `message of ${size} bytes exceeds the mailbox limit ${o.maxBytesPerMailbox}`);
    }
    const overQuota = quotaRefusal(s.quotas, this.usage(), size, box === undefined);
    if (overQuota !== null) return fail('QUOTA_EXCEEDED', overQuota);
    // Ids in their window are never forgotten early: a full table refuses new ids instead.
    if (cmd.id !== undefined && liveEntries(s.puts, s.putOrder, now).count >= s.quotas.maxPutIds) {
      return fail(
        'QUOTA_EXCEEDED',
        `cluster quota maxPutIds reached: the put id table holds ${s.quotas.maxPutIds} ids still in their dedupe window: retry later, or put without an id`,
      );
    }

    this.advance(now);
    const seq = ++s.lastSeq;
    const expiresAt = now + (cmd.ttlMs ?? o.defaultTtlMs);
    const record = appendRecord(s.bodies, cmd.id ?? null, cmd.body);
    const msg = new StoredMessage(seq, record.idLength, record.ref, size, now, expiresAt, 0);
    const target = box ?? this.createBox(cmd.user);
    if (cmd.delayMs === undefined) target.queue.push(msg);
    else target.delayedSet().add(msg, now + cmd.delayMs);
    if (expiresAt < target.minExpiry) target.minExpiry = expiresAt;
    if (cmd.id !== undefined) this.rememberPut(cmd.user, principal, cmd.id, seq, now);
    return { kind: 'put', id: cmd.id ?? derivedId(seq), seq, duplicate: false };
  }

  /**
   * A batch put, all or none (see PutBatchCommand): every message is checked, and the batch
   * against the mailbox limits, the quotas and the id table as a whole, before anything changes.
   */
  private putBatch(cmd: PutBatchCommand, now: number): MailboxResult {
    const o = this.options;
    const bad = this.userProblem(cmd.user);
    if (bad) return fail('BAD_USER', bad);
    const whoProblem = principalProblem(cmd.principal);
    if (whoProblem) return fail('BAD_REQUEST', whoProblem);
    const items = cmd.messages;
    if (!Array.isArray(items) || items.length < 1 || items.length > o.maxBatch) {
      return fail('BAD_REQUEST', `a batch put holds 1 to ${o.maxBatch} messages`);
    }
    let total = 0;
    for (const [i, m] of items.entries()) {
      if (!(m?.body instanceof Uint8Array)) return fail('BAD_REQUEST', `message ${i}: body must be bytes`);
      const idProblem = m.id === undefined ? null : tokenProblem('id', m.id, o.maxIdLength, true);
      if (idProblem) return fail('BAD_REQUEST', `message ${i}: ${idProblem}`);
      const ttlProblem = m.ttlMs === undefined ? null : durationProblem('ttlMs', m.ttlMs, o.maxTtlMs);
      if (ttlProblem) return fail('BAD_REQUEST', `message ${i}: ${ttlProblem}`);
      if (m.body.length > o.maxBodyBytes) return fail('TOO_LARGE', `message ${i}: body is ${m.body.length} bytes, limit ${o.maxBodyBytes}`);
      total += m.body.length;
    }
    if (total > o.maxBodyBytes) return fail('TOO_LARGE', `the batch's bodies are ${total} bytes together, limit ${o.maxBodyBytes}`);

    // Which messages are duplicates (an id in its window, or an earlier id of this batch: the
    // index it repeats), and what the others add.
    const s = this.state;
    const principal = cmd.principal ?? '';
    const repeats = new Map<string, number>();
    const firstOf: Array<number | PutOutcome | null> = [];
    let count = 0;
    let bytes = 0;
    let newIds = 0;
    for (const [i, m] of items.entries()) {
      if (m.id !== undefined) {
        const key = rememberedKey(cmd.user, principal, m.id);
        const seen = s.puts.get(key);
        if (seen !== undefined && seen.expiresAt > now) {
          firstOf.push({ id: m.id, seq: seen.seq, duplicate: true });
          continue;
        }
        const earlier = repeats.get(key);
        if (earlier !== undefined) {
          firstOf.push(earlier);
          continue;
        }
        repeats.set(key, i);
        newIds++;
      }
      firstOf.push(null);
      count++;
      bytes += m.body.length;
    }
    const box = s.users.get(cmd.user);
    if (count > 0) {
      const held = box?.held ?? 0;
      const heldBytes = box?.heldBytes ?? 0;
      if (held + count > o.maxMessagesPerMailbox) {
        return fail('MAILBOX_FULL', `mailbox holds ${held} messages, limit ${o.maxMessagesPerMailbox}, this batch ${count}`);
      }
      if (heldBytes + bytes > o.maxBytesPerMailbox) {
        return fail('MAILBOX_FULL', `mailbox holds ${heldBytes} bytes, limit ${o.maxBytesPerMailbox}, this batch ${bytes}`);
      }
      const overQuota = batchQuotaRefusal(s.quotas, this.usage(), count, bytes, box === undefined);
      if (overQuota !== null) return fail('QUOTA_EXCEEDED', overQuota);
    }
    if (newIds > 0 && liveEntries(s.puts, s.putOrder, now).count + newIds > s.quotas.maxPutIds) {
      return fail(
        'QUOTA_EXCEEDED',
        `cluster quota maxPutIds reached: the put id table cannot take ${newIds} more ids still in their dedupe window (limit ${s.quotas.maxPutIds}): retry later, or put without ids`,
      );
    }

    this.advance(now);
    const target = count > 0 ? (box ?? this.createBox(cmd.user)) : null;
    const puts: PutOutcome[] = [];
    for (const [i, m] of items.entries()) {
      const first = firstOf[i]!;
      if (first !== null) {
        puts.push(typeof first === 'number' ? { ...puts[first]!, duplicate: true } : first);
        continue;
      }
      const seq = ++s.lastSeq;
      const expiresAt = now + (m.ttlMs ?? o.defaultTtlMs);
      const record = appendRecord(s.bodies, m.id ?? null, m.body);
      const msg = new StoredMessage(seq, record.idLength, record.ref, m.body.length, now, expiresAt, 0);
      target!.queue.push(msg);
      if (expiresAt < target!.minExpiry) target!.minExpiry = expiresAt;
      if (m.id !== undefined) this.rememberPut(cmd.user, principal, m.id, seq, now);
      puts.push({ id: m.id ?? derivedId(seq), seq, duplicate: false });
    }
    return { kind: 'puts', puts };
  }

  /**
   * The answer to `cmd` at `now` (a linearizable read's time, see RaftCore.readTime) when giving it
   * changes nothing: the refusal of a malformed consume, or empty when there is nothing to take, so
   * that an idle poll writes no log entry. Null when the consume must go through the log: something
   * may be taken, or it carries a request id (its result is remembered, and an earlier attempt with
   * the same id may still commit and take a message: answering "empty" beside it would lose that
   * message for the client).
   */
  consumeWithoutLog(cmd: ConsumeCommand, now: number): MailboxResult | null {
    const problem = this.consumeProblem(cmd);
    if (problem !== null) return problem;
    if (cmd.requestId !== undefined) return null;
    const at = Number.isFinite(now) && now > this.state.now ? now : this.state.now;
    return this.head(cmd.user, cmd.deadLetter === true, at) === undefined ? EMPTY : null;
  }

  /**
   * For a consume that may wait (long poll): its refusal, EMPTY when there is nothing to take and,
   * with a request id, no answer remembered for it (so it may wait without a log entry), or null
   * when it must be proposed now (a message to take, or a retry whose answer is remembered).
   */
  consumeCanWait(cmd: ConsumeCommand, now: number): MailboxResult | null {
    const problem = this.consumeProblem(cmd);
    if (problem !== null) return problem;
    const at = Number.isFinite(now) && now > this.state.now ? now : this.state.now;
    if (cmd.requestId !== undefined) {
      const seen = this.state.consumes.get(rememberedKey(cmd.user, cmd.principal ?? '', cmd.requestId));
      if (seen !== undefined && seen.expiresAt > at) return null;
    }
    return this.peek(cmd.user, cmd.deadLetter === true, at).kind === 'empty' ? EMPTY : null;
  }

  /**
   * The earliest time later than `now` at which something of `user`'s mailbox may become visible
   * without a log entry (a delayed message's time, a lease's end), Infinity when nothing will. Never
   * later than that moment, and may be earlier (the lease ends are bounded below by minLeaseEnd
   * while it lies ahead), but always later than `now`: a long poll parked on an empty mailbox
   * looks again then instead of at its deadline (long-poll.ts).
   */
  nextVisibleAt(user: string, now: number): number {
    const at = Number.isFinite(now) && now > this.state.now ? now : this.state.now;
    const box = this.state.users.get(user);
    if (box === undefined) return Infinity;
    let next = box.delayed?.firstVisibleAfter(at) ?? Infinity;
    if (box.leases !== null) {
      if (box.minLeaseEnd > at) return Math.min(next, box.minLeaseEnd);
      for (const lease of box.leases.values()) if (lease.leaseExpiresAt > at && lease.leaseExpiresAt < next) next = lease.leaseExpiresAt;
    }
    return next;
  }

  /** Why `cmd` is refused whatever the state, or null. */
  private consumeProblem(cmd: ConsumeCommand): MailboxResult | null {
    const o = this.options;
    const bad = this.userProblem(cmd.user);
    if (bad) return fail('BAD_USER', bad);
    const reqProblem =
      cmd.requestId === undefined ? null : tokenProblem('requestId', cmd.requestId, o.maxIdLength, false);
    if (reqProblem) return fail('BAD_REQUEST', reqProblem);
    const leaseProblem = cmd.leaseMs === undefined ? null : durationProblem('leaseMs', cmd.leaseMs, o.maxLeaseMs);
    if (leaseProblem) return fail('BAD_REQUEST', leaseProblem);
    if (cmd.leaseMs !== undefined && cmd.deadLetter === true) {
      return fail('BAD_REQUEST', 'dead-letter messages cannot be leased');
    }
    const whoProblem = principalProblem(cmd.principal);
    if (whoProblem) return fail('BAD_REQUEST', whoProblem);
    const nonceProblem = receiptNonceProblem(cmd.receiptNonce);
    if (nonceProblem) return fail('BAD_REQUEST', nonceProblem);
    if (cmd.receiptNonce !== undefined && cmd.leaseMs === undefined) {
      return fail('BAD_REQUEST', 'a receipt nonce comes only with a lease');
    }
    if (cmd.max !== undefined && !(Number.isSafeInteger(cmd.max) && cmd.max >= 1 && cmd.max <= o.maxBatch)) {
      return fail('BAD_REQUEST', `max must be an integer from 1 to ${o.maxBatch}`);
    }
    return null;
  }

  private consume(cmd: ConsumeCommand, now: number): MailboxResult {
    const problem = this.consumeProblem(cmd);
    if (problem !== null) return problem;
    const s = this.state;
    const principal = cmd.principal ?? '';
    if (cmd.requestId !== undefined) {
      const seen = s.consumes.get(rememberedKey(cmd.user, principal, cmd.requestId));
      if (seen !== undefined && seen.expiresAt > now) {
        this.advance(now);
        return seen.result;
      }
      const refusal = this.requestTableFull(now);
      if (refusal !== null) return fail('QUOTA_EXCEEDED', refusal);
    }
    this.advance(now);
    const result = cmd.max === undefined ? this.take(cmd, now) : this.takeBatch(cmd, cmd.max, now);
    if (cmd.requestId !== undefined) this.rememberConsume(cmd.user, principal, cmd.requestId, result, now);
    return result;
  }

  private take(cmd: ConsumeCommand, now: number): ConsumeResult {
    const box = this.state.users.get(cmd.user);
    if (box === undefined) return EMPTY;
    this.endLeases(box, now, null);
    this.makeVisible(box, now);
    const queue = cmd.deadLetter === true ? box.dead : box.queue;
    let msg = queue?.shift();
    while (msg !== undefined && msg.expiresAt <= now) {
      this.release(msg);
      msg = queue!.shift();
    }
    if (msg === undefined) {
      this.dropIfEmpty(cmd.user, box);
      return EMPTY;
    }
    msg.deliveries++;
    // Read on every replica, leader or not: the result must not depend on the store later.
    const message = deliveryOf(msg, this.state.bodies);
    if (cmd.leaseMs === undefined) {
      this.release(msg);
      this.dropIfEmpty(cmd.user, box);
      return { kind: 'message', message };
    }
    const nonce = cmd.receiptNonce ?? '';
    const receipt = receiptOf(msg, nonce, this.options.unsafeLeaseReceiptReuse);
    const leaseExpiresAt = now + cmd.leaseMs;
    box.leaseMap().set(receipt, { msg, leaseExpiresAt, nonce });
    box.leaseBytes += msg.bodyLength;
    if (leaseExpiresAt < box.minLeaseEnd) box.minLeaseEnd = leaseExpiresAt;
    message.receipt = receipt;
    message.leaseExpiresAt = leaseExpiresAt;
    return { kind: 'message', message };
  }

  /**
   * Up to `max` messages, each taken as a single consume would take it (its own lease and
   * receipt when leased). A result to remember (a request id) stops short of the message that
   * would pass the request table's byte bound: the first always fits (see requestTableFull).
   */
  private takeBatch(cmd: ConsumeCommand, max: number, now: number): ConsumeResult {
    // The first is taken exactly as a single consume takes it (leases that ran out returned,
    // expired heads dropped); the next ones only while one is there and, when the result is to be
    // remembered, fits the byte room left (what a break leaves, the sweep removes).
    const first = this.take(cmd, now);
    if (first.kind !== 'message') return first;
    const room = cmd.requestId === undefined ? Infinity : this.options.requestCacheMaxBytes - this.state.consumeBytes;
    const messages: DeliveredMessage[] = [first.message];
    let bytes = first.message.body.length;
    while (messages.length < max) {
      const next = this.head(cmd.user, cmd.deadLetter === true, now);
      if (next === undefined || bytes + next.bodyLength > room) break;
      const taken = this.take(cmd, now);
      if (taken.kind !== 'message') break;
      messages.push(taken.message);
      bytes += taken.message.body.length;
    }
    return { kind: 'messages', messages };
  }

  private settle(cmd: AckCommand | NackCommand, now: number): MailboxResult {
    const bad = this.userProblem(cmd.user);
    if (bad) return fail('BAD_USER', bad);
    // Receipts are minted here (see receiptOf), well within the key space's token length.
    const receiptProblem = tokenProblem('receipt', cmd.receipt, MAX_TOKEN_LENGTH, false);
    if (receiptProblem) return fail('BAD_REQUEST', receiptProblem);
    if (cmd.op === 'nack' && cmd.delayMs !== undefined && cmd.delayMs !== 0) {
      const delayProblem = durationProblem('delayMs', cmd.delayMs, this.options.maxDelayMs);
      if (delayProblem) return fail('BAD_REQUEST', delayProblem);
    }
    const box = this.state.users.get(cmd.user);
    const lease = box?.leases?.get(cmd.receipt);
    if (box === undefined || lease === undefined) return fail('UNKNOWN_RECEIPT', `no lease ${cmd.receipt} for ${cmd.user}`);
    if (lease.leaseExpiresAt <= now) return fail('LEASE_EXPIRED', `lease ${cmd.receipt} ended at ${lease.leaseExpiresAt}`);

    this.advance(now);
    box.leases!.delete(cmd.receipt);
    box.leaseBytes -= lease.msg.bodyLength;
    if (cmd.op === 'nack') this.returnLeased(box, lease.msg, now, null, cmd.delayMs ?? this.nackBackoff(lease.msg.deliveries));
    else this.release(lease.msg);
    this.dropIfEmpty(cmd.user, box);
    return OK;
  }

  /** The default delay of a nack after `deliveries` deliveries: exponential from nackBackoffMs, capped. */
  private nackBackoff(deliveries: number): number {
    const o = this.options;
    if (o.nackBackoffMs === 0) return 0;
    // 2^30 already passes any cap a safe-integer option can set; the exponent is bounded to stay exact.
    return Math.min(o.nackBackoffMs * 2 ** Math.min(Math.max(deliveries - 1, 0), 30), o.nackBackoffMaxMs);
  }

  private touch(cmd: TouchCommand, now: number): MailboxResult {
    const bad = this.userProblem(cmd.user);
    if (bad) return fail('BAD_USER', bad);
    const receiptProblem = tokenProblem('receipt', cmd.receipt, MAX_TOKEN_LENGTH, false);
    if (receiptProblem) return fail('BAD_REQUEST', receiptProblem);
    const leaseProblem = durationProblem('leaseMs', cmd.leaseMs, this.options.maxLeaseMs);
    if (leaseProblem) return fail('BAD_REQUEST', leaseProblem);
    const box = this.state.users.get(cmd.user);
    const lease = box?.leases?.get(cmd.receipt);
    if (box === undefined || lease === undefined) return fail('UNKNOWN_RECEIPT', `no lease ${cmd.receipt} for ${cmd.user}`);
    if (lease.leaseExpiresAt <= now) return fail('LEASE_EXPIRED', `lease ${cmd.receipt} ended at ${lease.leaseExpiresAt}`);

    this.advance(now);
    // Set, not added: the lease ends leaseMs from now (it may also shorten it, like SQS). The map
    // keeps the receipt's place; minLeaseEnd stays a lower bound (endLeases recomputes it).
    const leaseExpiresAt = now + cmd.leaseMs;
    box.leases!.set(cmd.receipt, { msg: lease.msg, leaseExpiresAt, nonce: lease.nonce });
    if (leaseExpiresAt < box.minLeaseEnd) box.minLeaseEnd = leaseExpiresAt;
    return OK;
  }

  private redrive(cmd: RedriveCommand, now: number): MailboxResult {
    const bad = this.userProblem(cmd.user);
    if (bad) return fail('BAD_USER', bad);
    if (cmd.max !== undefined && (!Number.isSafeInteger(cmd.max) || cmd.max < 1)) {
      return fail('BAD_REQUEST', 'max must be a positive integer');
    }
    this.advance(now);
    const box = this.state.users.get(cmd.user);
    if (box === undefined) return { kind: 'redriven', count: 0 };
    this.endLeases(box, now, null);
    this.makeVisible(box, now);
    const dead = box.dead;
    const max = cmd.max ?? Infinity;
    let count = 0;
    while (dead !== null && count < max) {
      const msg = dead.shift();
      if (msg === undefined) break;
      if (msg.expiresAt <= now) {
        this.release(msg);
        continue;
      }
      // A fresh delivery budget, as SQS's redrive gives: else the message would go straight back
      // to the dead letters after one more delivery.
      msg.deliveries = 0;
      box.queue.insertBySeq(msg);
      count++;
    }
    if (dead !== null && dead.size === 0) box.dead = null;
    this.dropIfEmpty(cmd.user, box);
    return { kind: 'redriven', count };
  }

  /** Moves the delayed messages of `box` that are visible at `now` into the queue at their seq position. */
  private makeVisible(box: UserBox, now: number): void {
    const delayed = box.delayed;
    if (delayed === null || delayed.nextVisibleAt > now) return;
    delayed.takeDue(now, (m) => box.queue.insertBySeq(m));
    if (delayed.size === 0) box.delayed = null;
  }

  private purge(cmd: PurgeCommand, now: number): MailboxResult {
    const bad = this.userProblem(cmd.user);
    if (bad) return fail('BAD_USER', bad);
    this.advance(now);
    const box = this.state.users.get(cmd.user);
    if (box === undefined) return { kind: 'purged', count: 0 };
    this.endLeases(box, now, null);
    let count: number;
    if (cmd.deadLetter === true) {
      count = box.dead?.clear(this.release) ?? 0;
    } else {
      count = box.queue.clear(this.release) + (box.leases?.size ?? 0) + (box.delayed?.clear(this.release) ?? 0);
      box.delayed = null;
      for (const lease of box.leases?.values() ?? []) this.release(lease.msg);
      box.leases = null;
      box.leaseBytes = 0;
      box.minLeaseEnd = Infinity;
    }
    this.dropIfEmpty(cmd.user, box);
    return { kind: 'purged', count };
  }

  /**
   * Visits the mailboxes the sweep schedule has due by now (every mailbox holding something the
   * sweep would change is among them: sweep-schedule.ts), so a sweep costs what it finds, not the
   * number of mailboxes. The order of visits changes nothing replicated: each mailbox is handled on
   * its own, the counts are sums, and dropping one leaves the others' order in `users` as it was.
   */
  private sweep(): MailboxResult {
    const s = this.state;
    const now = s.now;
    const counts: LeaseEndCounts = { returned: 0, deadLettered: 0, expired: 0 };
    const due = s.sweeps.takeDue(now);
    for (const box of due) {
      // Only the mailboxes this sweep changes are copied for a snapshot stream.
      const visible = box.delayed !== null && box.delayed.nextVisibleAt <= now;
      if (this.stream !== null && (visible || box.held === 0 || box.minExpiry <= now || (box.minLeaseEnd <= now && box.leases !== null))) {
        this.stream.beforeWrite(box);
      }
      const was = heldBy(box);
      this.endLeases(box, now, counts);
      this.makeVisible(box, now);
      if (box.minExpiry <= now) {
        counts.expired +=
          box.queue.removeExpired(now, this.release) +
          (box.dead?.removeExpired(now, this.release) ?? 0) +
          (box.delayed?.removeExpired(now, this.release) ?? 0);
        if (box.delayed?.size === 0) box.delayed = null;
        box.minExpiry = Math.min(
          box.queue.earliestExpiry(),
          box.dead?.earliestExpiry() ?? Infinity,
          box.delayed?.earliestExpiry() ?? Infinity,
        );
      }
      this.moveTotals(was, heldBy(box));
      this.dropIfEmpty(box.user, box);
    }
    // Scheduled again only now, so that no mailbox is visited twice in one sweep.
    for (const box of due) if (box.held > 0) this.reindex(box);
    this.expiredTotal += counts.expired;
    return { kind: 'expired', expired: counts.expired, deadLettered: counts.deadLettered, leasesReturned: counts.returned };
  }

  /** Ends every lease of `box` that ran out by `now`, returning its message (see returnLeased). */
  private endLeases(box: UserBox, now: number, counts: LeaseEndCounts | null): void {
    if (box.minLeaseEnd > now || box.leases === null) return;
    let min = Infinity;
    for (const [receipt, lease] of box.leases) {
      if (lease.leaseExpiresAt <= now) {
        box.leases.delete(receipt);
        box.leaseBytes -= lease.msg.bodyLength;
        this.returnLeased(box, lease.msg, now, counts);
      } else if (lease.leaseExpiresAt < min) {
        min = lease.leaseExpiresAt;
      }
    }
    box.minLeaseEnd = min;
  }

  /**
   * A message whose lease ended: dropped if expired, dead-lettered after maxDeliveries, else back
   * in seq order, or after `delayMs` (a nack's delay) into the delayed set.
   */
  private returnLeased(box: UserBox, msg: StoredMessage, now: number, counts: LeaseEndCounts | null, delayMs = 0): void {
    if (msg.expiresAt <= now) {
      if (counts) counts.expired++;
      this.release(msg);
      return;
    }
    if (msg.deliveries >= this.options.maxDeliveries) {
      box.deadQueue().insertBySeq(msg);
      if (counts) counts.deadLettered++;
    } else {
      if (delayMs > 0) box.delayedSet().add(msg, now + delayMs);
      else box.queue.insertBySeq(msg);
      if (counts) counts.returned++;
    }
    if (msg.expiresAt < box.minExpiry) box.minExpiry = msg.expiresAt;
  }

  private peek(user: string, deadLetter: boolean, now: number): MailboxResult {
    const head = this.head(user, deadLetter, now);
    return head === undefined ? EMPTY : { kind: 'message', message: deliveryOf(head, this.state.bodies) };
  }

  /** The message a consume at `now` would take: the first unexpired one, leases that ran out included. */
  private head(user: string, deadLetter: boolean, now: number): StoredMessage | undefined {
    const box = this.state.users.get(user);
    if (box === undefined) return undefined;
    const queue = deadLetter ? box.dead : box.queue;
    let head: StoredMessage | undefined;
    for (let i = 0; queue !== null; i++) {
      const m = queue.at(i);
      if (m === undefined || m.expiresAt > now) {
        head = m;
        break;
      }
    }
    if (!deadLetter && box.delayed !== null && box.delayed.nextVisibleAt <= now) {
      for (const d of box.delayed) {
        if (d.visibleAt > now) break;
        if (d.msg.expiresAt <= now) continue;
        if (head === undefined || d.msg.seq < head.seq) head = d.msg;
      }
    }
    if (box.minLeaseEnd <= now && box.leases !== null) {
      for (const lease of box.leases.values()) {
        const m = lease.msg;
        if (lease.leaseExpiresAt > now || m.expiresAt <= now) continue;
        if ((m.deliveries >= this.options.maxDeliveries) !== deadLetter) continue;
        if (head === undefined || m.seq < head.seq) head = m;
      }
    }
    return head;
  }

  private stats(user: string, now: number): MailboxStats {
    const box = this.state.users.get(user);
    if (box === undefined) return { count: 0, bytes: 0, oldestAgeMs: 0, inFlight: 0, deadLetterCount: 0 };
    let count = 0;
    let bytes = 0;
    let oldest = Infinity;
    let deadLetterCount = 0;
    let inFlight = 0;
    if (box.minExpiry > now) {
      count = box.queue.size;
      bytes = box.queue.bytes;
      oldest = box.queue.at(0)?.enqueuedAt ?? Infinity;
      deadLetterCount = box.dead?.size ?? 0;
    } else {
      for (const m of box.queue) {
        if (m.expiresAt <= now) continue;
        count++;
        bytes += m.bodyLength;
        if (m.enqueuedAt < oldest) oldest = m.enqueuedAt;
      }
      for (const m of box.dead ?? []) if (m.expiresAt > now) deadLetterCount++;
    }
    for (const lease of box.leases?.values() ?? []) {
      const m = lease.msg;
      if (lease.leaseExpiresAt > now) {
        inFlight++;
      } else if (m.expiresAt > now) {
        if (m.deliveries >= this.options.maxDeliveries) {
          deadLetterCount++;
        } else {
          count++;
          bytes += m.bodyLength;
          if (m.enqueuedAt < oldest) oldest = m.enqueuedAt;
        }
      }
    }
    let delayed = 0;
    for (const d of box.delayed ?? []) {
      if (d.msg.expiresAt <= now) continue;
      if (d.visibleAt > now) {
        delayed++;
      } else {
        count++;
        bytes += d.msg.bodyLength;
        if (d.msg.enqueuedAt < oldest) oldest = d.msg.enqueuedAt;
      }
    }
    const stats: MailboxStats = { count, bytes, oldestAgeMs: count > 0 ? now - oldest : 0, inFlight, deadLetterCount };
    if (delayed > 0) stats.delayed = delayed;
    return stats;
  }

  /** Moves the clock and forgets remembered puts and consumes whose window has passed. */
  private advance(now: number): void {
    const s = this.state;
    s.now = now;
    // Oldest first, through the orders' fronts (see slot-order.ts).
    for (let p = s.putOrder.first(); p !== null && p.expiresAt <= now; p = s.putOrder.first()) {
      this.stream?.beforeForgetPut(p);
      s.putOrder.remove(p);
      s.puts.delete(p.key);
    }
    for (let c = s.consumeOrder.first(); c !== null && c.expiresAt <= now; c = s.consumeOrder.first()) {
      this.stream?.beforeForgetConsume(c);
      s.consumeOrder.remove(c);
      s.consumes.delete(c.key);
      s.consumeBytes -= c.bytes;
    }
  }

  private rememberPut(user: string, principal: string, id: string, seq: number, now: number): void {
    const s = this.state;
    const k = rememberedKey(user, principal, id);
    const old = s.puts.get(k);
    if (old !== undefined) {
      this.stream?.beforeForgetPut(old);
      s.putOrder.remove(old);
      s.puts.delete(k);
    }
    const put: RememberedPut = { key: k, seq, expiresAt: now + this.options.dedupeWindowMs, slot: -1 };
    s.puts.set(k, put);
    s.putOrder.append(put);
  }

  private rememberConsume(user: string, principal: string, requestId: string, result: ConsumeResult, now: number): void {
    const s = this.state;
    const bytes = consumeResultBytes(result);
    const expiresAt = now + this.options.requestWindowMs;
    const k = rememberedKey(user, principal, requestId);
    const consume: RememberedConsume = { key: k, result, bytes, expiresAt, slot: -1 };
    const old = s.consumes.get(k);
    s.consumes.set(k, consume);
    if (old === undefined) {
      s.consumeOrder.append(consume);
    } else {
      // Set under a key it holds, a Map keeps the entry's place: so does the order.
      this.stream?.beforeForgetConsume(old);
      s.consumeOrder.replace(old, consume);
    }
    s.consumeBytes += bytes;
  }

  /**
   * Why a consume with a new request id cannot be remembered, or null when it can: the table
   * holds the maxConsumeResults quota's results still in their window, or could not take one more of the
   * largest body (the result's size is known only once the message is taken). Results in their
   * window are never dropped early, so a retry always gets its result.
   */
  private requestTableFull(now: number): string | null {
    const o = this.options;
    const s = this.state;
    const live = liveEntries(s.consumes, s.consumeOrder, now);
    const bytes = s.consumeBytes - live.expiredBytes;
    if (live.count >= s.quotas.maxConsumeResults) {
      return `cluster quota maxConsumeResults reached: the consume request id table holds ${live.count} results still in their window (limit ${s.quotas.maxConsumeResults}): retry later, or consume without rid`;
    }
    if (bytes + o.maxBodyBytes > o.requestCacheMaxBytes) {
      return `the consume request id table holds ${bytes} bytes of results still in their window (limit ${o.requestCacheMaxBytes}, room kept for one ${o.maxBodyBytes}-byte body): retry later, or consume without rid`;
    }
    return null;
  }

  private setQuotas(cmd: SetQuotasCommand, now: number): MailboxResult {
    for (const name of QUOTA_NAMES) {
      const problem = cmd[name] === undefined ? null : quotaProblem(name, cmd[name]);
      if (problem !== null) return fail('BAD_REQUEST', problem);
    }
    this.advance(now);
    const q = this.state.quotas;
    for (const name of QUOTA_NAMES) q[name] = cmd[name] ?? q[name];
    return { kind: 'quotas', quotas: this.quotas(), usage: this.usage() };
  }

  /** A user with a mailbox passed the syntax check when it was created: skip the regex on the hot path. */
  private userProblem(user: string): string | null {
    return this.state.users.has(user) ? null : userProblem(user);
  }

  private createBox(user: string): UserBox {
    const box = new UserBox(user);
    // Not in the image of a stream under way (it ends at the slots used when it began): nothing
    // to copy before it changes.
    if (this.stream !== null) box.snapshotMark = this.stream.mark;
    this.state.users.set(user, box);
    this.state.boxOrder.append(box);
    return box;
  }

  private dropIfEmpty(user: string, box: UserBox): void {
    if (box.held !== 0) return;
    this.stream?.beforeDrop(box);
    const s = this.state;
    s.users.delete(user);
    s.boxOrder.remove(box);
    s.sweeps.drop(box);
    s.oldest.drop(box);
  }

  /** After a change to `box`: its places in the sweep schedule and the oldest-queued index. */
  private reindex(box: UserBox): void {
    this.state.sweeps.schedule(box);
    this.state.oldest.update(box);
  }

  /** Moves the cluster's running totals by what a mailbox went from and to. */
  private moveTotals(was: Held, now: Held): void {
    const s = this.state;
    s.heldMessages += now.messages - was.messages;
    s.heldBytes += now.bytes - was.bytes;
    s.deadMessages += now.deadMessages - was.deadMessages;
    s.deadBytes += now.deadBytes - was.deadBytes;
  }
}

/** What one mailbox holds, as the running totals count it. */
interface Held {
  messages: number;
  bytes: number;
  deadMessages: number;
  deadBytes: number;
}

const NOTHING_HELD: Held = { messages: 0, bytes: 0, deadMessages: 0, deadBytes: 0 };

function heldBy(box: UserBox): Held {
  return { messages: box.held, bytes: box.heldBytes, deadMessages: box.dead?.size ?? 0, deadBytes: box.dead?.bytes ?? 0 };
}
