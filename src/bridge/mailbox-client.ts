// MailboxClient: the public TypeScript client (`import { MailboxClient } from 'forge-mailbox/client'`).
// It runs each operation as attempts of ForgeMailboxClient (one attempt per call, the transport)
// under retry-policy.ts: retries and hedges only where a second attempt cannot change the outcome,
// all within one deadline per operation.
//
// What makes a retry safe here:
// - put always carries an id (a random UUID when the caller gives none): the state machine
//   answers a repeated id with the first put's result (duplicate: true) within its dedupe window.
// - consume (no lease) carries a request id (`rid`) by default, for the same reason. Its cost: a
//   consume with a rid is always a log entry, even when the mailbox is empty. With
//   `requestIds: false` a consume is at most once: it is retried only after a refusal that changed
//   nothing, never after an error of unknown outcome (which is then thrown).
// - receive (a leased consume) needs no rid: an answer lost on the way only means that the lease
//   runs out and the message comes back. It is not hedged (a hedge would lease a second message).
// - ack and nack are retried; an UNKNOWN_RECEIPT that follows an attempt of unknown outcome says
//   that the earlier attempt may have settled it.
// Long polls (`waitMs`) are never hedged, as they wait on purpose; they are retried on errors.
// Batches follow the same rules per message: putBatch gives every message an id (a random UUID
// when the caller gives none), so a retry reports the ones already in as duplicates and adds
// nothing twice; consumeBatch carries a rid (a retry gets the very same batch); receiveBatch
// leases each message under its own receipt and, like receive, is not hedged.
// touch and redrive are not offered: the server has no such operations yet.

import { randomUUID } from 'node:crypto';
import type { DeliveredMessage, MailboxStats } from '../mailbox/commands.js';
import { readSecretFile } from '../secret-files.js';
import {
  ForgeMailboxClient,
  MailboxClientError,
  type BatchPutMessage,
  type ClientOptions,
  type ClientErrorCode,
  type ConsumeOptions,
  type PutOptions,
} from './client.js';
import { DEFAULT_RETRY_TIMINGS, isTransient, RetryAbortedError, runWithRetries, type RetryTimings } from './retry-policy.js';

export { MailboxClientError, type ClientErrorCode };
export type { BatchPutMessage, MailboxStats, RetryTimings };

/** What MailboxClient needs of its transport: one attempt per call (ForgeMailboxClient, or a fake in tests). */
export interface MailboxTransport {
  put(user: string, body: Uint8Array | string, options: PutOptions): Promise<PutResult>;
  consume(user: string, options: ConsumeOptions): Promise<DeliveredMessage | null>;
  /** Up to `max` messages in one entry, in order; [] when empty. */
  consumeBatch(user: string, max: number, options: ConsumeOptions): Promise<DeliveredMessage[]>;
  /** Many messages in one entry, all or none; one result per message, in order. */
  putBatch(user: string, messages: readonly BatchPutMessage[]): Promise<PutResult[]>;
  peek(user: string, options: { deadLetter?: boolean }): Promise<DeliveredMessage | null>;
  len(user: string): Promise<MailboxStats>;
  ack(user: string, receipt: string): Promise<void>;
  nack(user: string, receipt: string, options: { delayMs?: number }): Promise<void>;
  touch(user: string, receipt: string, leaseMs: number): Promise<void>;
  purge(user: string, options: { deadLetter?: boolean }): Promise<number>;
  redrive(user: string, options: { max?: number }): Promise<number>;
  close(): Promise<void>;
}

export interface MailboxClientOptions {
  /** Capability token (see `forge-mailbox token issue`). */
  token?: string;
  /** File holding the token; refused when others can read it (chmod 600). */
  tokenFile?: string;
  /** Key prefix of the cluster (default forge/mailbox). */
  keyPrefix?: string;
  /** Bound on opening the session with the router (default 5 s). */
  openTimeoutMs?: number;
  /** Overall deadline of one operation, all its attempts included (default 10 s); a long poll gets its wait on top. */
  requestTimeoutMs?: number;
  /** Bound on one attempt (default: requestTimeoutMs). */
  attemptTimeoutMs?: number;
  /** Backoff and hedging timings (DEFAULT_RETRY_TIMINGS otherwise). */
  retry?: Partial<RetryTimings>;
  /** Whether consume (no lease) carries a generated request id so that it can be retried (default true; see the header). */
  requestIds?: boolean;
  /** Puts and consumes made together go out as one query (ClientOptions.coalesce; on by default, false: each alone). */
  coalesce?: ClientOptions['coalesce'];
}

export interface PutResult {
  id: string;
  seq: number;
  /** The id had already been put (by an earlier attempt or an earlier call): nothing was added. */
  duplicate: boolean;
}

export interface ClientPutOptions {
  /** Message id, the dedupe key; a random UUID when not given. */
  id?: string;
  ttlMs?: number;
  /** Invisible for this long (ms); the cluster caps it (mailbox.maxDelayMs, 15 min by default). */
  delayMs?: number;
}

export interface ClientConsumeOptions {
  /** Long poll: wait up to this long for a message when the mailbox is empty. */
  waitMs?: number;
  /** Request id; generated unless the client was opened with `requestIds: false`. */
  requestId?: string;
  deadLetter?: boolean;
  signal?: AbortSignal;
}

export interface ReceiveOptions {
  /** Lease length (the server's default lease when not given). */
  leaseMs?: number;
  waitMs?: number;
  deadLetter?: boolean;
  signal?: AbortSignal;
}

/** A leased message: settle it with ack or nack (quoting the receipt) before leaseExpiresAt. */
export interface ReceivedMessage extends DeliveredMessage {
  receipt: string;
  leaseExpiresAt: number;
}

/** A message from `messages()`, with its settling helpers. */
export interface StreamedMessage extends ReceivedMessage {
  user: string;
  text(): string;
  ack(): Promise<void>;
  /** `delayMs`: visible again after that long; absent: the cluster's default backoff (or at once). */
  nack(options?: { delayMs?: number }): Promise<void>;
  /** Extends the lease to `leaseMs` from now (JetStream's AckProgress, SQS's ChangeMessageVisibility). */
  touch(leaseMs: number): Promise<void>;
}

export interface MessagesOptions {
  leaseMs?: number;
  /** Long-poll wait of each consume (default 20 s). */
  waitMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_STREAM_WAIT_MS = 20_000;
const SETTLED_NOTE = 'an earlier attempt of this request, whose outcome was unknown, may have settled it';

export class MailboxClient {
  private readonly timings: RetryTimings;
  private readonly deadlineMs: number;
  private readonly requestIds: boolean;
  /** Fired by close(): ends waits, retries and messages() loops. */
  private readonly closing = new AbortController();

  private constructor(
    private readonly transport: MailboxTransport,
    options: MailboxClientOptions,
  ) {
    this.timings = { ...DEFAULT_RETRY_TIMINGS, ...options.retry };
    this.deadlineMs = options.requestTimeoutMs ?? 10_000;
    this.requestIds = options.requestIds ?? true;
  }

  /** Opens a session on the router's (or gateway's) WebSocket, e.g. `ws://127.0.0.1:10000`. */
  static async open(routerUrl: string, options: MailboxClientOptions = {}): Promise<MailboxClient> {
    const token = options.token ?? (options.tokenFile === undefined ? undefined : readSecretFile(options.tokenFile).trim());
    const transport = await ForgeMailboxClient.open(routerUrl, {
      requestTimeoutMs: options.attemptTimeoutMs ?? options.requestTimeoutMs ?? 10_000,
      ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
      ...(options.openTimeoutMs === undefined ? {} : { openTimeoutMs: options.openTimeoutMs }),
      ...(options.coalesce === undefined ? {} : { coalesce: options.coalesce }),
      ...(token === undefined ? {} : { token }),
    });
    return new MailboxClient(transport, options);
  }

  /** A client over any transport (tests use a fake one). */
  static over(transport: MailboxTransport, options: Omit<MailboxClientOptions, 'token' | 'tokenFile' | 'keyPrefix' | 'openTimeoutMs' | 'coalesce'> = {}): MailboxClient {
    return new MailboxClient(transport, options);
  }

  /** Acknowledged enqueue: resolves once committed; every attempt carries the same id. */
  async put(user: string, body: Uint8Array | string, options: ClientPutOptions = {}): Promise<PutResult> {
    const sent: PutOptions = {
      id: options.id ?? randomUUID(),
      ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
      ...(options.delayMs === undefined ? {} : { delayMs: options.delayMs }),
    };
    return this.run({ run: () => this.transport.put(user, body, sent), idempotent: true, hedge: true });
  }

  /** Takes the next message (gone once taken), or null when the mailbox is empty (after waiting `waitMs`, if given). */
  async consume(user: string, options: ClientConsumeOptions = {}): Promise<DeliveredMessage | null> {
    return this.taking(options, (sent) => this.transport.consume(user, sent));
  }

  /**
   * Takes up to `max` messages (at most the cluster's mailbox.maxBatch, 256 by default) in one log
   * entry, in order; [] when the mailbox is empty (after waiting `waitMs` for one, if given).
   */
  async consumeBatch(user: string, max: number, options: ClientConsumeOptions = {}): Promise<DeliveredMessage[]> {
    return this.taking(options, (sent) => this.transport.consumeBatch(user, max, sent));
  }

  /**
   * A consume without lease, single or batch: with a request id (generated unless turned off) it
   * is retried and hedged, as a retry then returns the first attempt's result; a long poll is not
   * hedged (it waits on purpose).
   */
  private taking<T>(options: ClientConsumeOptions, send: (sent: ConsumeOptions) => Promise<T>): Promise<T> {
    const requestId = options.requestId ?? (this.requestIds ? randomUUID() : undefined);
    const sent: ConsumeOptions = {
      ...(requestId === undefined ? {} : { requestId }),
      ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
      ...(options.deadLetter ? { deadLetter: true } : {}),
    };
    const longPoll = (options.waitMs ?? 0) > 0;
    return this.run(
      { run: () => send(sent), idempotent: requestId !== undefined, hedge: requestId !== undefined && !longPoll },
      options.waitMs ?? 0,
      options.signal,
    );
  }

  /** Leased batch consume: up to `max` messages, each with its own receipt to ack or nack. */
  async receiveBatch(user: string, max: number, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const messages = await this.leasing(options, (sent) => this.transport.consumeBatch(user, max, sent));
    return messages.map(withReceipt);
  }

  /**
   * Enqueues the messages in one log entry, all or none (the bodies together at most the cluster's
   * mailbox.maxBodyBytes); one result per message, in order. Every attempt carries the same ids.
   */
  async putBatch(user: string, messages: ReadonlyArray<{ body: Uint8Array | string } & ClientPutOptions>): Promise<PutResult[]> {
    const sent: BatchPutMessage[] = messages.map((m) => ({ body: m.body, id: m.id ?? randomUUID(), ...(m.ttlMs === undefined ? {} : { ttlMs: m.ttlMs }) }));
    return this.run({ run: () => this.transport.putBatch(user, sent), idempotent: true, hedge: true });
  }

  /** Leased consume: the message stays hidden until `leaseExpiresAt`, then comes back unless acked. */
  async receive(user: string, options: ReceiveOptions = {}): Promise<ReceivedMessage | null> {
    const message = await this.leasing(options, (sent) => this.transport.consume(user, sent));
    return message === null ? null : withReceipt(message);
  }

  /**
   * A leased consume, single or batch: retried freely (a lost answer's messages come back when their
   * leases end) but never hedged, since a second attempt would lease other messages.
   */
  private leasing<T>(options: ReceiveOptions, send: (sent: ConsumeOptions) => Promise<T>): Promise<T> {
    const sent: ConsumeOptions = {
      leaseMs: options.leaseMs ?? 30_000,
      ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
      ...(options.deadLetter ? { deadLetter: true } : {}),
    };
    return this.run({ run: () => send(sent), idempotent: true, hedge: false }, options.waitMs ?? 0, options.signal);
  }

  async ack(user: string, receipt: string): Promise<void> {
    await this.run({ run: () => this.transport.ack(user, receipt), idempotent: true, hedge: true, settledNote: SETTLED_NOTE });
  }

  /**
   * Gives the message back (its deliveries count grows): after `delayMs` when given (0: at once),
   * else after the cluster's default backoff (mailbox.nackBackoffMs; at once when off).
   */
  async nack(user: string, receipt: string, options: { delayMs?: number } = {}): Promise<void> {
    await this.run({ run: () => this.transport.nack(user, receipt, options), idempotent: true, hedge: true, settledNote: SETTLED_NOTE });
  }

  /**
   * Extends a lease: it now ends `leaseMs` after the leader applies the touch; the receipt stays.
   * Retried and hedged: a second touch only sets the same end again, a little later.
   */
  async touch(user: string, receipt: string, leaseMs: number): Promise<void> {
    await this.run({ run: () => this.transport.touch(user, receipt, leaseMs), idempotent: true, hedge: true, settledNote: SETTLED_NOTE });
  }

  /**
   * Moves dead letters back to the mailbox in seq order, delivery counts reset: all of them, or the
   * `max` oldest; resolves with how many. Redriving all is retried (a second one moves only what
   * was dead-lettered since); with `max` it is not, since a retry of unknown outcome could move
   * up to twice `max`. Never hedged.
   */
  async redrive(user: string, options: { max?: number } = {}): Promise<number> {
    return this.run({ run: () => this.transport.redrive(user, options), idempotent: options.max === undefined, hedge: false });
  }

  async peek(user: string, options: { deadLetter?: boolean } = {}): Promise<DeliveredMessage | null> {
    return this.run({ run: () => this.transport.peek(user, options), idempotent: true, hedge: true });
  }

  async len(user: string): Promise<MailboxStats> {
    return this.run({ run: () => this.transport.len(user), idempotent: true, hedge: true });
  }

  /**
   * Empties the mailbox (or its dead letters); resolves with how many were removed. Retried (a
   * second purge removes nothing more) but not hedged: after a retry of unknown outcome the count
   * may be that of the second attempt only.
   */
  async purge(user: string, options: { deadLetter?: boolean } = {}): Promise<number> {
    return this.run({ run: () => this.transport.purge(user, options), idempotent: true, hedge: false });
  }

  /**
   * Long-poll consumer loop: leased consumes that wait for messages, yielded with ack/nack helpers.
   * Transient errors are retried with backoff for as long as the loop runs; a refusal that will not
   * change (UNAUTHORIZED, FORBIDDEN, BAD_REQUEST, ...) is thrown. Ends on `signal` or close().
   */
  async *messages(user: string, options: MessagesOptions = {}): AsyncGenerator<StreamedMessage, void, undefined> {
    const signals = [this.closing.signal, ...(options.signal === undefined ? [] : [options.signal])];
    const stop = AbortSignal.any(signals);
    let failures = 0;
    while (!stop.aborted) {
      let message: ReceivedMessage | null;
      try {
        message = await this.receive(user, {
          waitMs: options.waitMs ?? DEFAULT_STREAM_WAIT_MS,
          ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
          signal: stop,
        });
        failures = 0;
      } catch (e) {
        if (e instanceof RetryAbortedError) return;
        if (!(e instanceof MailboxClientError) || !isTransient(e.code)) throw e;
        failures++;
        const cap = Math.min(this.timings.backoffMaxMs, this.timings.backoffMs * 2 ** Math.min(failures - 1, 20));
        await abortableSleep(Math.round(Math.random() * cap), stop);
        continue;
      }
      if (message !== null) yield this.streamed(user, message);
    }
  }

  /** Ends the session; operations and messages() loops still running end too. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.transport.close();
  }

  private streamed(user: string, message: ReceivedMessage): StreamedMessage {
    return {
      ...message,
      user,
      text: () => new TextDecoder().decode(message.body),
      ack: () => this.ack(user, message.receipt),
      nack: (options) => this.nack(user, message.receipt, options),
      touch: (leaseMs) => this.touch(user, message.receipt, leaseMs),
    };
  }

  private async run<T>(
    op: { run: () => Promise<T>; idempotent: boolean; hedge: boolean; settledNote?: string },
    waitMs = 0,
    signal?: AbortSignal,
  ): Promise<T> {
    if (this.closing.signal.aborted) throw new MailboxClientError('UNAVAILABLE', 'the client is closed');
    const stop = signal === undefined ? this.closing.signal : AbortSignal.any([this.closing.signal, signal]);
    return runWithRetries({ ...op, deadlineMs: waitMs + this.deadlineMs, signal: stop }, this.timings);
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** A leased message as the caller sees it: its receipt and lease end are there, or the reply was bad. */
function withReceipt(message: DeliveredMessage): ReceivedMessage {
  if (message.receipt === undefined || message.leaseExpiresAt === undefined) {
    throw new MailboxClientError('BAD_REPLY', 'a leased consume was answered without a receipt');
  }
  return { ...message, receipt: message.receipt, leaseExpiresAt: message.leaseExpiresAt };
}
