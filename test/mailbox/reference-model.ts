// The mailbox spec written the plain way, for model-based tests: every message of every user in
// one flat array tagged with where it is, queues recomputed by filtering and sorting on demand,
// caches as arrays searched linearly, cluster totals summed on demand. Slow and obvious, with none
// of the real one's indexes, lower bounds, running totals, lazy bodies or deques.

import type { ApplyMeta, MailboxCommand, MailboxQuery, MailboxResult, MailboxStats } from '../../src/mailbox/commands.js';
import type { MailboxOptions } from '../../src/mailbox/options.js';
import { DEFAULT_QUOTAS, QUOTA_CEILINGS, type MailboxQuotas } from '../../src/mailbox/quotas.js';

/** `delayed`: not visible before visibleAt; from then on it counts as queued. */
type Place = 'queue' | 'dead' | 'lease' | 'delayed';

interface ModelMessage {
  user: string;
  seq: number;
  id: string;
  body: number[];
  enqueuedAt: number;
  expiresAt: number;
  deliveries: number;
  place: Place;
  receipt: string;
  leaseEnd: number;
  visibleAt: number;
}

interface PlainMessage {
  id: string;
  seq: number;
  body: number[];
  enqueuedAt: number;
  expiresAt: number;
  deliveries: number;
  receipt?: string;
  leaseExpiresAt?: number;
}

/** Results in plain-object form: bodies as number arrays, absent optional fields left out. */
export type PlainResult = Record<string, unknown>;

export function plain(r: MailboxResult): PlainResult {
  if (r.kind === 'messages') return { kind: 'messages', messages: r.messages.map((message) => plain({ kind: 'message', message }).message) };
  if (r.kind === 'puts') return { kind: 'puts', puts: r.puts.map((p) => ({ ...p })) };
  if (r.kind !== 'message') return { ...r, ...(r.kind === 'stats' ? { stats: { ...r.stats } } : {}) };
  const m = r.message;
  const out: Record<string, unknown> = {
    id: m.id,
    seq: m.seq,
    body: Array.from(m.body),
    enqueuedAt: m.enqueuedAt,
    expiresAt: m.expiresAt,
    deliveries: m.deliveries,
  };
  if (m.receipt !== undefined) out.receipt = m.receipt;
  if (m.leaseExpiresAt !== undefined) out.leaseExpiresAt = m.leaseExpiresAt;
  return { kind: 'message', message: out };
}

const USER = /^[A-Za-z0-9_.-]{1,128}$/;
const PRINCIPAL = /^[A-Za-z0-9._@:-]{1,64}$/;
const NONCE = /^[A-Za-z0-9_-]{16,43}$/;

export class ReferenceMailbox {
  now = 0;
  lastSeq = 0;
  msgs: ModelMessage[] = [];
  /** Put ids and request ids are remembered per user and principal ('' when none). */
  puts: { user: string; principal: string; id: string; seq: number; expiresAt: number }[] = [];
  consumes: { user: string; principal: string; requestId: string; result: PlainResult; bytes: number; expiresAt: number }[] = [];
  quotas: MailboxQuotas;

  constructor(readonly o: MailboxOptions) {
    this.quotas = { ...DEFAULT_QUOTAS, maxPutIds: o.dedupeMaxEntries, maxConsumeResults: o.requestCacheMaxEntries };
  }

  apply(cmd: MailboxCommand, meta: ApplyMeta): PlainResult {
    const now = Number.isFinite(meta.time) ? Math.max(this.now, meta.time) : this.now;
    if (cmd.op === 'expire') {
      this.advance(now);
      return this.sweep();
    }
    if (cmd.op === 'setQuotas') {
      for (const name of ['maxMessages', 'maxBytes', 'maxMailboxes', 'maxPutIds', 'maxConsumeResults'] as const) {
        const v = cmd[name];
        if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1 && v <= QUOTA_CEILINGS[name])) return err('BAD_REQUEST');
      }
      this.advance(now);
      this.quotas = {
        maxMessages: cmd.maxMessages ?? this.quotas.maxMessages,
        maxBytes: cmd.maxBytes ?? this.quotas.maxBytes,
        maxMailboxes: cmd.maxMailboxes ?? this.quotas.maxMailboxes,
        maxPutIds: cmd.maxPutIds ?? this.quotas.maxPutIds,
        maxConsumeResults: cmd.maxConsumeResults ?? this.quotas.maxConsumeResults,
      };
      return { kind: 'quotas', quotas: { ...this.quotas }, usage: this.usage() };
    }
    if (!this.validUser(cmd.user)) return err('BAD_USER');
    const principal = cmd.op === 'put' || cmd.op === 'putBatch' || cmd.op === 'consume' ? (cmd.principal ?? '') : '';
    if (principal !== '' && !PRINCIPAL.test(principal)) return err('BAD_REQUEST');
    switch (cmd.op) {
      case 'put': {
        if (cmd.id !== undefined && (!this.validToken(cmd.id) || cmd.id.startsWith('@'))) return err('BAD_REQUEST');
        if (cmd.ttlMs !== undefined && !this.validDuration(cmd.ttlMs, this.o.maxTtlMs)) return err('BAD_REQUEST');
        if (cmd.delayMs !== undefined && !this.validDuration(cmd.delayMs, this.o.maxDelayMs)) return err('BAD_REQUEST');
        if (cmd.body.length > this.o.maxBodyBytes) return err('TOO_LARGE');
        if (cmd.id !== undefined) {
          const seen = this.puts.find((p) => p.user === cmd.user && p.principal === principal && p.id === cmd.id);
          if (seen && seen.expiresAt > now) {
            this.advance(now);
            return { kind: 'put', id: seen.id, seq: seen.seq, duplicate: true };
          }
        }
        const held = this.msgs.filter((m) => m.user === cmd.user);
        if (held.length + 1 > this.o.maxMessagesPerMailbox) return err('MAILBOX_FULL');
        if (held.reduce((n, m) => n + m.body.length, 0) + cmd.body.length > this.o.maxBytesPerMailbox) {
          return err('MAILBOX_FULL');
        }
        const usage = this.usage();
        if (held.length === 0 && usage.mailboxes + 1 > this.quotas.maxMailboxes) return err('QUOTA_EXCEEDED');
        if (usage.messages + 1 > this.quotas.maxMessages) return err('QUOTA_EXCEEDED');
        if (usage.bytes + cmd.body.length > this.quotas.maxBytes) return err('QUOTA_EXCEEDED');
        // Ids in their window are never forgotten early: a full table refuses a new one.
        if (cmd.id !== undefined && this.puts.filter((p) => p.expiresAt > now).length >= this.quotas.maxPutIds) {
          return err('QUOTA_EXCEEDED');
        }
        this.advance(now);
        const seq = ++this.lastSeq;
        const id = cmd.id ?? `@${seq}`;
        this.msgs.push({
          user: cmd.user,
          seq,
          id,
          body: Array.from(cmd.body),
          enqueuedAt: now,
          expiresAt: now + (cmd.ttlMs ?? this.o.defaultTtlMs),
          deliveries: 0,
          place: cmd.delayMs === undefined ? 'queue' : 'delayed',
          receipt: '',
          leaseEnd: 0,
          visibleAt: now + (cmd.delayMs ?? 0),
        });
        if (cmd.id !== undefined) {
          this.puts = this.puts.filter((p) => !(p.user === cmd.user && p.principal === principal && p.id === cmd.id));
          this.puts.push({ user: cmd.user, principal, id: cmd.id, seq, expiresAt: now + this.o.dedupeWindowMs });
        }
        return { kind: 'put', id, seq, duplicate: false };
      }
      case 'putBatch':
        return this.putBatch(cmd.user, principal, cmd.messages, now);
      case 'consume': {
        if (cmd.max !== undefined && !(Number.isSafeInteger(cmd.max) && cmd.max >= 1 && cmd.max <= this.o.maxBatch)) return err('BAD_REQUEST');
        if (cmd.requestId !== undefined && !this.validToken(cmd.requestId)) return err('BAD_REQUEST');
        if (cmd.leaseMs !== undefined && !this.validDuration(cmd.leaseMs, this.o.maxLeaseMs)) return err('BAD_REQUEST');
        if (cmd.leaseMs !== undefined && cmd.deadLetter === true) return err('BAD_REQUEST');
        if (cmd.receiptNonce !== undefined && (cmd.leaseMs === undefined || !NONCE.test(cmd.receiptNonce))) return err('BAD_REQUEST');
        if (cmd.requestId !== undefined) {
          const live = this.consumes.filter((c) => c.expiresAt > now);
          const seen = live.find((c) => c.user === cmd.user && c.principal === principal && c.requestId === cmd.requestId);
          if (seen) {
            this.advance(now);
            return seen.result;
          }
          // Results in their window are never dropped early: a full table refuses a new request id,
          // keeping room for one result of the largest body.
          if (live.length >= this.quotas.maxConsumeResults) return err('QUOTA_EXCEEDED');
          if (live.reduce((n, c) => n + c.bytes, 0) + this.o.maxBodyBytes > this.o.requestCacheMaxBytes) return err('QUOTA_EXCEEDED');
        }
        this.advance(now);
        this.endLeases(cmd.user);
        this.makeVisible(cmd.user);
        const place: Place = cmd.deadLetter === true ? 'dead' : 'queue';
        let result: PlainResult = { kind: 'empty' };
        for (const m of this.sorted(cmd.user, place)) {
          this.msgs.splice(this.msgs.indexOf(m), 1);
          if (m.expiresAt <= now) continue;
          m.deliveries++;
          const message: Record<string, unknown> = {
            id: m.id,
            seq: m.seq,
            body: [...m.body],
            enqueuedAt: m.enqueuedAt,
            expiresAt: m.expiresAt,
            deliveries: m.deliveries,
          };
          if (cmd.leaseMs !== undefined) {
            m.place = 'lease';
            m.receipt = cmd.receiptNonce === undefined ? `${m.seq}.${m.deliveries}` : `${m.seq}.${m.deliveries}.${cmd.receiptNonce}`;
            m.leaseEnd = now + cmd.leaseMs;
            this.msgs.push(m);
            message.receipt = m.receipt;
            message.leaseExpiresAt = m.leaseEnd;
          }
          result = { kind: 'message', message };
          break;
        }
        if (cmd.max !== undefined && result.kind === 'message') result = this.takeMore(cmd, result.message as PlainMessage, now);
        if (cmd.requestId !== undefined) {
          const bytes =
            result.kind === 'message'
              ? (result.message as PlainMessage).body.length
              : result.kind === 'messages'
                ? (result.messages as PlainMessage[]).reduce((n, m) => n + m.body.length, 0)
                : 0;
          this.consumes.push({ user: cmd.user, principal, requestId: cmd.requestId, result, bytes, expiresAt: now + this.o.requestWindowMs });
        }
        return result;
      }
      case 'ack':
      case 'nack':
      case 'touch': {
        if (!this.validToken(cmd.receipt, 128)) return err('BAD_REQUEST');
        if (cmd.op === 'nack' && cmd.delayMs !== undefined && cmd.delayMs !== 0 && !this.validDuration(cmd.delayMs, this.o.maxDelayMs)) {
          return err('BAD_REQUEST');
        }
        if (cmd.op === 'touch' && !this.validDuration(cmd.leaseMs, this.o.maxLeaseMs)) return err('BAD_REQUEST');
        const m = this.msgs.find((x) => x.user === cmd.user && x.place === 'lease' && x.receipt === cmd.receipt);
        if (!m) return err('UNKNOWN_RECEIPT');
        if (m.leaseEnd <= now) return err('LEASE_EXPIRED');
        this.advance(now);
        if (cmd.op === 'ack') this.msgs.splice(this.msgs.indexOf(m), 1);
        else if (cmd.op === 'touch') m.leaseEnd = now + cmd.leaseMs;
        else this.leaseEnded(m, cmd.delayMs ?? this.backoff(m.deliveries));
        return { kind: 'ok' };
      }
      case 'redrive': {
        if (cmd.max !== undefined && !(Number.isSafeInteger(cmd.max) && cmd.max >= 1)) return err('BAD_REQUEST');
        this.advance(now);
        this.endLeases(cmd.user);
        this.makeVisible(cmd.user);
        let count = 0;
        for (const m of this.sorted(cmd.user, 'dead')) {
          if (count >= (cmd.max ?? Infinity)) break;
          if (m.expiresAt <= now) {
            this.msgs.splice(this.msgs.indexOf(m), 1);
            continue;
          }
          m.place = 'queue';
          m.deliveries = 0;
          count++;
        }
        return { kind: 'redriven', count };
      }
      case 'purge': {
        this.advance(now);
        this.endLeases(cmd.user);
        const doomed = (m: ModelMessage): boolean =>
          m.user === cmd.user && (cmd.deadLetter === true ? m.place === 'dead' : m.place !== 'dead');
        const count = this.msgs.filter(doomed).length;
        this.msgs = this.msgs.filter((m) => !doomed(m));
        return { kind: 'purged', count };
      }
    }
  }

  query(q: MailboxQuery, at: number): PlainResult {
    const now = Math.max(this.now, at);
    if (!this.validUser(q.user)) return err('BAD_USER');
    const mine = this.msgs.filter((m) => m.user === q.user);
    // Where each message would be if every ended lease were settled now; expired ones are gone.
    const effective = (m: ModelMessage): Place | null => {
      if (m.place === 'delayed') {
        if (m.expiresAt <= now) return null;
        return m.visibleAt <= now ? 'queue' : 'delayed';
      }
      if (m.place === 'lease' && m.leaseEnd <= now) {
        if (m.expiresAt <= now) return null;
        return m.deliveries >= this.o.maxDeliveries ? 'dead' : 'queue';
      }
      if (m.place !== 'lease' && m.expiresAt <= now) return null;
      return m.place;
    };
    if (q.op === 'peek') {
      const want: Place = q.deadLetter === true ? 'dead' : 'queue';
      const head = mine.filter((m) => effective(m) === want).sort((a, b) => a.seq - b.seq)[0];
      if (!head) return { kind: 'empty' };
      return {
        kind: 'message',
        message: {
          id: head.id,
          seq: head.seq,
          body: [...head.body],
          enqueuedAt: head.enqueuedAt,
          expiresAt: head.expiresAt,
          deliveries: head.deliveries,
        },
      };
    }
    const queued = mine.filter((m) => effective(m) === 'queue');
    const stats: MailboxStats = {
      count: queued.length,
      bytes: queued.reduce((n, m) => n + m.body.length, 0),
      oldestAgeMs: queued.length > 0 ? now - Math.min(...queued.map((m) => m.enqueuedAt)) : 0,
      inFlight: mine.filter((m) => m.place === 'lease' && m.leaseEnd > now).length,
      deadLetterCount: mine.filter((m) => effective(m) === 'dead').length,
    };
    const delayed = mine.filter((m) => effective(m) === 'delayed').length;
    if (delayed > 0) stats.delayed = delayed;
    return { kind: 'stats', stats };
  }

  private sweep(): PlainResult {
    let expired = 0;
    let deadLettered = 0;
    let leasesReturned = 0;
    for (const m of this.msgs.filter((x) => x.place === 'lease' && x.leaseEnd <= this.now)) {
      const to = this.leaseEnded(m);
      if (to === null) expired++;
      else if (to === 'dead') deadLettered++;
      else leasesReturned++;
    }
    const gone = this.msgs.filter((m) => m.place !== 'lease' && m.expiresAt <= this.now);
    expired += gone.length;
    this.msgs = this.msgs.filter((m) => !gone.includes(m));
    return { kind: 'expired', expired, deadLettered, leasesReturned };
  }

  /** Delayed messages whose time came are queued. */
  private makeVisible(user: string): void {
    for (const m of this.msgs) if (m.user === user && m.place === 'delayed' && m.visibleAt <= this.now) m.place = 'queue';
  }

  /** The default nack delay after `deliveries` deliveries. */
  private backoff(deliveries: number): number {
    if (this.o.nackBackoffMs === 0) return 0;
    return Math.min(this.o.nackBackoffMs * 2 ** (deliveries - 1), this.o.nackBackoffMaxMs);
  }

  private endLeases(user: string): void {
    for (const m of this.msgs.filter((x) => x.user === user && x.place === 'lease' && x.leaseEnd <= this.now)) {
      this.leaseEnded(m);
    }
  }

  /** Where a message goes when its lease ends: null when dropped as expired. */
  private leaseEnded(m: ModelMessage, delayMs = 0): Place | null {
    if (m.expiresAt <= this.now) {
      this.msgs.splice(this.msgs.indexOf(m), 1);
      return null;
    }
    m.place = m.deliveries >= this.o.maxDeliveries ? 'dead' : delayMs > 0 ? 'delayed' : 'queue';
    m.visibleAt = this.now + delayMs;
    return m.place === 'delayed' ? 'queue' : m.place;
  }

  /** The totals the quotas count: every message held (queued, leased, dead), and the mailboxes holding any. */
  usage(): { messages: number; bytes: number; mailboxes: number } {
    return {
      messages: this.msgs.length,
      bytes: this.msgs.reduce((n, m) => n + m.body.length, 0),
      mailboxes: new Set(this.msgs.map((m) => m.user)).size,
    };
  }

  private sorted(user: string, place: Place): ModelMessage[] {
    return this.msgs.filter((m) => m.user === user && m.place === place).sort((a, b) => a.seq - b.seq);
  }

  /**
   * A batch consume after its first message: the next ones while there is one and, with a
   * request id, it fits the byte room the request table has left. Expired ones before a taken
   * message go with it; those before a stop stay for the sweep.
   */
  private takeMore(cmd: Extract<MailboxCommand, { op: 'consume' }>, first: PlainMessage, now: number): PlainResult {
    const taken: PlainMessage[] = [first];
    let bytes = first.body.length;
    const room = cmd.requestId === undefined ? Infinity : this.o.requestCacheMaxBytes - this.consumes.reduce((n, c) => n + c.bytes, 0);
    const place: Place = cmd.deadLetter === true ? 'dead' : 'queue';
    while (taken.length < cmd.max!) {
      const line = this.sorted(cmd.user, place);
      const at = line.findIndex((m) => m.expiresAt > now);
      if (at < 0) break;
      const m = line[at]!;
      if (bytes + m.body.length > room) break;
      for (const gone of line.slice(0, at + 1)) this.msgs.splice(this.msgs.indexOf(gone), 1);
      m.deliveries++;
      const message: PlainMessage = { id: m.id, seq: m.seq, body: [...m.body], enqueuedAt: m.enqueuedAt, expiresAt: m.expiresAt, deliveries: m.deliveries };
      if (cmd.leaseMs !== undefined) {
        m.place = 'lease';
        m.receipt = cmd.receiptNonce === undefined ? `${m.seq}.${m.deliveries}` : `${m.seq}.${m.deliveries}.${cmd.receiptNonce}`;
        m.leaseEnd = now + cmd.leaseMs;
        this.msgs.push(m);
        message.receipt = m.receipt;
        message.leaseExpiresAt = m.leaseEnd;
      }
      taken.push(message);
      bytes += m.body.length;
    }
    return { kind: 'messages', messages: taken };
  }

  /** A batch put: every check on the whole batch first, then each message as a single put. */
  private putBatch(user: string, principal: string, items: Extract<MailboxCommand, { op: 'putBatch' }>['messages'], now: number): PlainResult {
    if (items.length < 1 || items.length > this.o.maxBatch) return err('BAD_REQUEST');
    for (const m of items) {
      if (m.id !== undefined && (!this.validToken(m.id) || m.id.startsWith('@'))) return err('BAD_REQUEST');
      if (m.ttlMs !== undefined && !this.validDuration(m.ttlMs, this.o.maxTtlMs)) return err('BAD_REQUEST');
      if (m.body.length > this.o.maxBodyBytes) return err('TOO_LARGE');
    }
    if (items.reduce((n, m) => n + m.body.length, 0) > this.o.maxBodyBytes) return err('TOO_LARGE');
    const live = (id: string) => this.puts.find((p) => p.user === user && p.principal === principal && p.id === id && p.expiresAt > now);
    const fresh = items.filter((m, i) => m.id === undefined || (!live(m.id) && items.findIndex((o) => o.id === m.id) === i));
    const held = this.msgs.filter((m) => m.user === user);
    const bytes = fresh.reduce((n, m) => n + m.body.length, 0);
    if (fresh.length > 0) {
      if (held.length + fresh.length > this.o.maxMessagesPerMailbox) return err('MAILBOX_FULL');
      if (held.reduce((n, m) => n + m.body.length, 0) + bytes > this.o.maxBytesPerMailbox) return err('MAILBOX_FULL');
      const usage = this.usage();
      if (held.length === 0 && usage.mailboxes + 1 > this.quotas.maxMailboxes) return err('QUOTA_EXCEEDED');
      if (usage.messages + fresh.length > this.quotas.maxMessages) return err('QUOTA_EXCEEDED');
      if (usage.bytes + bytes > this.quotas.maxBytes) return err('QUOTA_EXCEEDED');
    }
    const newIds = fresh.filter((m) => m.id !== undefined).length;
    if (newIds > 0 && this.puts.filter((p) => p.expiresAt > now).length + newIds > this.quotas.maxPutIds) return err('QUOTA_EXCEEDED');
    // Nothing is refused from here on: each message as a single put (a duplicate reports the first).
    const puts = items.map((m) => this.apply({ op: 'put', user, body: m.body, ...(m.id === undefined ? {} : { id: m.id }), ...(m.ttlMs === undefined ? {} : { ttlMs: m.ttlMs }), ...(principal === '' ? {} : { principal }) }, { index: 0, term: 0, time: now }));
    return { kind: 'puts', puts: puts.map(({ id, seq, duplicate }) => ({ id, seq, duplicate })) };
  }

  private advance(now: number): void {
    this.now = now;
    while (this.puts.length > 0 && this.puts[0]!.expiresAt <= now) this.puts.shift();
    while (this.consumes.length > 0 && this.consumes[0]!.expiresAt <= now) this.consumes.shift();
  }

  private validUser(u: string): boolean {
    return USER.test(u) && u !== '.' && u !== '..';
  }

  private validToken(t: string, maxLength = this.o.maxIdLength): boolean {
    return t.length >= 1 && t.length <= maxLength && !t.includes('\u0000');
  }

  private validDuration(v: number, max: number): boolean {
    return Number.isSafeInteger(v) && v >= 1 && v <= max;
  }
}

function err(code: string): PlainResult {
  return { kind: 'error', code };
}
