// How MailboxClient runs one operation as several attempts: retries on retryable errors with short,
// capped, jittered backoff; hedging (a second attempt while the first still runs) for idempotent
// requests whose route may have died silently; all within one overall deadline. Pure of Zenoh: an
// attempt is any function returning a promise, so the policy is tested with a fake transport.

import { MailboxClientError, type ClientErrorCode } from './client.js';

/**
 * Refused before anything changed: safe to retry whatever the request.
 * BACKLOG_FULL and BUSY are load shedding (the leader's or the bridge's bound), NOT_LEADER a stale
 * route, so another attempt a moment later is the expected reaction.
 */
const REFUSED_UNCHANGED: ReadonlySet<ClientErrorCode> = new Set(['NOT_LEADER', 'BACKLOG_FULL', 'BUSY']);

/**
 * Outcome unknown: the request may have been applied. Safe to retry only a request that is
 * idempotent (a put with its id, a consume with its request id, a leased consume, ack, nack).
 * UNAVAILABLE is here, not above: the client reports it both for "no session, nothing sent" and for
 * "sent, but no reply came", which it cannot tell apart.
 */
const OUTCOME_UNKNOWN: ReadonlySet<ClientErrorCode> = new Set(['UNAVAILABLE', 'TIMEOUT', 'LEADERSHIP_LOST', 'ROUTER_LOST']);

// Never retried (the answer will not change by asking again): BAD_USER, BAD_REQUEST, TOO_LARGE,
// UNKNOWN_OP, UNAUTHORIZED, FORBIDDEN, UNKNOWN_RECEIPT, LEASE_EXPIRED, MAILBOX_FULL and
// QUOTA_EXCEEDED (they wait on a consumer or an operator), NOSPACE (the leader's disk), INTERNAL,
// BAD_REPLY, EMPTY_REPLY, and the membership codes (admin requests are not MailboxClient's).

export function isRefusedUnchanged(code: ClientErrorCode): boolean {
  return REFUSED_UNCHANGED.has(code);
}

export function isOutcomeUnknown(code: ClientErrorCode): boolean {
  return OUTCOME_UNKNOWN.has(code);
}

/** Whether a consumer loop should keep going after this error (with backoff). */
export function isTransient(code: ClientErrorCode): boolean {
  return REFUSED_UNCHANGED.has(code) || OUTCOME_UNKNOWN.has(code);
}

export interface RetryTimings {
  /** First backoff after a retryable error, in ms (then doubled, capped, with full jitter). */
  backoffMs: number;
  backoffMaxMs: number;
  /** No answer at all within this long: send a hedge attempt (idempotent, non-long-poll requests). 0 disables hedging. */
  hedgeDelayMs: number;
  /** Each further hedge waits this many times longer than the previous one. */
  hedgeGrowth: number;
  /** At most this many attempts in flight at once. */
  maxInFlight: number;
}

export const DEFAULT_RETRY_TIMINGS: RetryTimings = {
  backoffMs: 50,
  backoffMaxMs: 500,
  hedgeDelayMs: 1000,
  hedgeGrowth: 1.5,
  maxInFlight: 3,
};

export interface Operation<T> {
  /** One attempt; `attempt` counts from 1. */
  run: (attempt: number) => Promise<T>;
  /** Whether the request stays correct when applied twice (it carries its id / request id, or is a read). */
  idempotent: boolean;
  /** Whether hedging applies (idempotent and not a long poll: a long poll waits on purpose). */
  hedge: boolean;
  /** The overall deadline, ms from now. */
  deadlineMs: number;
  /** Added to a UNKNOWN_RECEIPT that follows an attempt of unknown outcome. */
  settledNote?: string;
  signal?: AbortSignal;
}

export class RetryAbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortError';
  }
}

/**
 * Runs `op`: the first ok answer wins; an error that is not retryable ends the operation once no
 * other attempt is still running (a sibling may yet succeed); the deadline ends it with TIMEOUT.
 */
export function runWithRetries<T>(op: Operation<T>, timings: RetryTimings, random: () => number = Math.random): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let attempts = 0;
    let inFlight = 0;
    let errors = 0;
    let lastError: unknown = null;
    let fatal: unknown = null;
    let outcomeUnknownSeen = false;
    let hedgeDelay = timings.hedgeDelayMs;
    let hedgeTimer: NodeJS.Timeout | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    const started = Date.now();

    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadlineTimer);
      clearTimeout(hedgeTimer);
      clearTimeout(retryTimer);
      op.signal?.removeEventListener('abort', onAbort);
      f();
    };
    const onAbort = () => finish(() => reject(new RetryAbortedError()));
    const deadlineTimer = setTimeout(() => {
      const last = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      finish(() =>
        reject(new MailboxClientError('TIMEOUT', `no answer within ${op.deadlineMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'}): the outcome is unknown${last}`)),
      );
    }, op.deadlineMs);
    if (op.signal?.aborted) return onAbort();
    op.signal?.addEventListener('abort', onAbort);

    const armHedge = () => {
      clearTimeout(hedgeTimer);
      if (!op.hedge || timings.hedgeDelayMs <= 0) return;
      hedgeTimer = setTimeout(() => {
        if (settled || inFlight >= timings.maxInFlight) return;
        hedgeDelay *= timings.hedgeGrowth;
        // The attempt still running may yet be applied: its outcome is unknown from here on.
        outcomeUnknownSeen = true;
        launch();
      }, hedgeDelay);
    };

    const launch = () => {
      if (settled) return;
      attempts++;
      inFlight++;
      const n = attempts;
      armHedge();
      op.run(n).then(
        (value) => finish(() => resolve(value)),
        (e: unknown) => {
          inFlight--;
          if (settled) return;
          lastError = e;
          const code = e instanceof MailboxClientError ? e.code : null;
          const retryable = code !== null && (isRefusedUnchanged(code) || (op.idempotent && isOutcomeUnknown(code)));
          if (code !== null && isOutcomeUnknown(code)) outcomeUnknownSeen = true;
          if (!retryable) {
            fatal ??= e;
            if (inFlight === 0) finish(() => reject(noted(fatal, outcomeUnknownSeen, op.settledNote)));
            return;
          }
          if (fatal !== null) {
            if (inFlight === 0) finish(() => reject(noted(fatal, outcomeUnknownSeen, op.settledNote)));
            return;
          }
          // A sibling still running will answer or fail on its own; the next error retries.
          if (inFlight > 0) return;
          errors++;
          const cap = Math.min(timings.backoffMaxMs, timings.backoffMs * 2 ** (errors - 1));
          const wait = Math.round(random() * cap);
          if (Date.now() - started + wait >= op.deadlineMs) return; // the deadline timer answers
          clearTimeout(hedgeTimer);
          retryTimer = setTimeout(launch, wait);
        },
      );
    };
    launch();
  });
}

function noted(e: unknown, outcomeUnknownSeen: boolean, note: string | undefined): unknown {
  if (!(e instanceof MailboxClientError) || e.code !== 'UNKNOWN_RECEIPT' || !outcomeUnknownSeen || note === undefined) return e;
  return new MailboxClientError(e.code, `${e.message} (${note})`, e.leader);
}
