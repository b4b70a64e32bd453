// A Forge Mailbox client over Zenoh (zenoh-ts), speaking the key space of key-space.ts and the
// reply format of reply-format.ts. Used by the CLI and the tests.
//
// The client keeps its session through a RouterConnection: zenoh-ts alone would hang on a router
// that was killed or went silent (its requests waiting for the end of a query that never comes).
// When the router link is lost, every request in flight on it fails at once with ROUTER_LOST (its
// outcome is unknown: retry with the same message id or request id), the session is reopened in
// the background with short, capped backoff, and new requests wait for it within their timeout.

import type { Reply, Session } from '@eclipse-zenoh/zenoh-ts';
import { ConsolidationMode, Duration, QueryTarget, ReplyError, Sample } from '@eclipse-zenoh/zenoh-ts';
import { isValidHost, isValidNodeId, isValidToken, isValidUser } from '../identifiers.js';
import type { DeliveredMessage, MailboxStats } from '../mailbox/commands.js';
import type { MailboxQuotas, MailboxUsage } from '../mailbox/quotas.js';
import type { MembershipView } from './cluster-admin.js';
import {
  DEFAULT_CATCH_UP_MS,
  DEFAULT_KEY_PREFIX,
  adminKey,
  clusterStatusKey,
  nodeStatusKey,
  consumesKey,
  putsKey,
  WAIT_LANES,
  waitLaneKey,
} from './key-space.js';
import { SILENT_LOGGER } from '../logger-port.js';
import { RouterConnection, type ReconnectOptions } from './router-connection.js';
import { decodeError, decodeReply, ReplyDecodeError, type BridgeErrorCode, type ClientReply, type ErrorBody } from './reply-format.js';
import {
  encodeBatchPut,
  encodeConsumes,
  encodePuts,
  MAX_CONSUMES_PER_REQUEST,
  MAX_PUTS_PER_REQUEST,
  type AddressedConsume,
  type AddressedMessage,
  type FramedMessage,
} from './batch-framing.js';
import { Coalescer, type Waiting } from './coalescer.js';
import { divertZenohConsole } from './zenoh-console.js';
import { errorText } from '../error-text.js';

/** ROUTER_LOST: the router link was lost with the request in flight; outcome unknown, retryable. */
export type ClientErrorCode = BridgeErrorCode | 'EMPTY_REPLY' | 'BAD_REPLY' | 'ROUTER_LOST';

export class MailboxClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** On NOT_LEADER: the node the cluster believes leads, when known. */
    readonly leader: string | null = null,
  ) {
    super(message);
    this.name = 'MailboxClientError';
  }
}

export interface ClientOptions {
  keyPrefix?: string;
  /** Bound on opening the first session (later ones are reopened in the background). */
  openTimeoutMs?: number;
  /** Bound on each request (the GET timeout). */
  requestTimeoutMs?: number;
  /** Capability token sent in every request's attachment (see `forge-mailbox token issue`). */
  token?: string;
  /** Tuning of the router watch and reconnect (DEFAULT_RECONNECT otherwise). */
  reconnect?: Partial<ReconnectOptions>;
  /**
   * Puts, and consumes that do not wait, made in the same turn of the event loop go out together
   * as one `@puts` or `@consumes` query (see `put`); false sends each alone (for clusters older
   * than those keys). DEFAULT_COALESCING for what is left out.
   */
  coalesce?: false | Partial<Coalescing>;
}

/** How requests are sent together (ClientOptions.coalesce). */
export interface Coalescing {
  /** Most puts in one `@puts` query (at most MAX_PUTS_PER_REQUEST). */
  maxPuts: number;
  /** Most body bytes in one `@puts` query; a larger body goes alone. Keep it under the nodes' maxBodyBytes. */
  maxPutBytes: number;
  /** Most consumes in one `@consumes` query (at most MAX_CONSUMES_PER_REQUEST). */
  maxConsumes: number;
}

/**
 * 128 puts or 256 KiB (a quarter of the nodes' default maxBodyBytes, 1 MiB, so that a query is
 * not refused for its size by a cluster at its defaults; if it is, each put is sent again
 * alone), and 128 consumes.
 */
export const DEFAULT_COALESCING: Coalescing = { maxPuts: 128, maxPutBytes: 256 * 1024, maxConsumes: 128 };

export interface PutOptions {
  id?: string;
  ttlMs?: number;
  /** Invisible for this long (ms): not delivered, peeked nor counted before (the cluster caps it, mailbox.maxDelayMs). */
  delayMs?: number;
}

export interface ConsumeOptions {
  leaseMs?: number;
  requestId?: string;
  deadLetter?: boolean;
  /**
   * Long poll: when the mailbox is empty, the leader holds the request up to this long and answers
   * as soon as a message comes (at most the cluster's mailbox.maxConsumeWaitMs, else BAD_REQUEST).
   * The request's own timeout becomes this wait plus the client's request timeout.
   */
  waitMs?: number;
}

type Body = Uint8Array | string;

/** One message of a batch put. */
export interface BatchPutMessage extends PutOptions {
  body: Body;
}

/** How much longer than the query timeout the client waits for the router to end a query. */
const ROUTER_GRACE_MS = 2000;

type PutResult = { id: string; seq: number; duplicate: boolean };

/** One request's outcome in a reply for many (`@puts`, `@consumes`). */
type Outcome<R> = { ok: true; value: R } | { ok: false; error: ErrorBody };

export class ForgeMailboxClient {
  private closed = false;
  /** Puts and consumes waiting to go out together (null: each goes alone). */
  private readonly puts: Coalescer<AddressedMessage, PutResult> | null;
  private readonly consumes: Coalescer<AddressedConsume, DeliveredMessage | null> | null;

  private constructor(
    private readonly connection: RouterConnection,
    private readonly routerUrl: string,
    private readonly prefix: string,
    private readonly requestTimeoutMs: number,
    private readonly token: string | undefined,
    private readonly coalescing: Coalescing | null,
  ) {
    this.puts = coalescing === null ? null : new Coalescer({ maxItems: coalescing.maxPuts, maxBytes: coalescing.maxPutBytes }, (batch) => this.sendPuts(batch));
    this.consumes = coalescing === null ? null : new Coalescer({ maxItems: coalescing.maxConsumes, maxBytes: Infinity }, (batch) => this.sendConsumes(batch));
  }

  /**
   * Opens a session on the router's remote-api websocket (e.g. `ws://127.0.0.1:10000`); UNAVAILABLE
   * when none opens within `openTimeoutMs`. The session is then kept (see the header).
   */
  static async open(routerUrl: string, options: ClientOptions = {}): Promise<ForgeMailboxClient> {
    divertZenohConsole(() => {});
    const connection = new RouterConnection({
      routerUrl,
      logger: SILENT_LOGGER,
      onSession: async () => {},
      onSessionLost: () => {},
      ...(options.reconnect === undefined ? {} : { reconnect: options.reconnect }),
    });
    connection.start();
    const openTimeoutMs = options.openTimeoutMs ?? 5000;
    if (!(await within(connection.connected(), openTimeoutMs))) {
      const why = connection.lastOpenFailure() ?? `no session within ${openTimeoutMs} ms`;
      await connection.stop();
      throw new MailboxClientError('UNAVAILABLE', why);
    }
    const coalescing = options.coalesce === false ? null : { ...DEFAULT_COALESCING, ...options.coalesce };
    const badCoalescing = coalescing === null ? null : coalescingProblem(coalescing);
    if (badCoalescing !== null) {
      await connection.stop();
      throw new MailboxClientError('BAD_REQUEST', badCoalescing);
    }
    return new ForgeMailboxClient(connection, routerUrl, options.keyPrefix ?? DEFAULT_KEY_PREFIX, options.requestTimeoutMs ?? 10_000, options.token, coalescing);
  }

  /**
   * Acknowledged enqueue: resolves once the message is committed.
   *
   * Puts made in the same turn of the event loop go out together: the first waits for the loop's
   * next turn (setImmediate), and every put made until then joins it in one `@puts` query, up to
   * ClientOptions.coalesce. Each is still a put of its own, with its own result or error, exactly
   * as if sent alone; a lone put goes alone. This is what lets many callers share the
   * per-request costs of every hop (client, router, leader). Consumes likewise (`consume`).
   */
  async put(user: string, body: Body, options: PutOptions = {}): Promise<PutResult> {
    const key = this.userKey(user);
    const bytes = toBytes(body);
    // Made here whether it is sent alone or not: it refuses a bad id (BAD_REQUEST) before anything is queued.
    const sent = putParams(options);
    if (this.puts === null || bytes.length > this.coalescing!.maxPutBytes) return this.putAlone(key, sent, bytes);
    const message: AddressedMessage = { user, body: bytes };
    if (options.id !== undefined) message.id = options.id;
    if (options.ttlMs !== undefined) message.ttlMs = options.ttlMs;
    if (options.delayMs !== undefined) message.delayMs = options.delayMs;
    return this.puts.add(message, bytes.length);
  }

  private async putAlone(key: string, parameters: string, body: Uint8Array): Promise<PutResult> {
    const reply = await this.request(`${key}/put`, parameters, body);
    if (reply.status !== 'put') throw unexpected(reply);
    return { id: reply.id, seq: reply.seq, duplicate: reply.duplicate };
  }

  private sendPuts(batch: Waiting<AddressedMessage, PutResult>[]): void {
    const alone = (m: AddressedMessage) => this.putAlone(this.userKey(m.user), putParams(m), m.body);
    this.sendTogether(putsKey(this.prefix), encodePuts(batch.map((w) => w.item)), batch, alone, (reply) => {
      if (reply.status !== 'puts') throw unexpected(reply);
      return reply.puts.map((p) => (p.ok ? { ok: true, value: { id: p.id, seq: p.seq, duplicate: p.duplicate } } : p));
    });
  }

  private sendConsumes(batch: Waiting<AddressedConsume, DeliveredMessage | null>[]): void {
    const alone = (c: AddressedConsume) => this.consumeAlone(c.user, consumeParams(c));
    this.sendTogether(consumesKey(this.prefix), encodeConsumes(batch.map((w) => w.item)), batch, alone, (reply) => {
      if (reply.status !== 'consumes') throw unexpected(reply);
      return reply.consumes.map((c) => (c.ok ? { ok: true, value: c.message } : c));
    });
  }

  /**
   * Sends `batch` alone when it is one request, else as one query for many (`key`, `payload`),
   * answered with one reply listing each request's outcome (`outcomesOf`). An ok outcome wins
   * over a refusal of the same request from another reply (a stale ex-leader may still answer
   * beside the real one, as with `request`). A request left without an ok outcome gets its
   * refusal, else the whole query's error (its timeout, BUSY...), else what `request` gives a
   * query with no reply at all. A query refused whole as TOO_LARGE (maxBodyBytes under
   * maxPutBytes) is sent again one request at a time.
   */
  private sendTogether<I, R>(
    key: string,
    payload: Uint8Array,
    batch: readonly Waiting<I, R>[],
    alone: (item: I) => Promise<R>,
    outcomesOf: (reply: ClientReply) => Outcome<R>[],
  ): void {
    if (batch.length === 1) {
      const [one] = batch as [Waiting<I, R>];
      alone(one.item).then(one.resolve, one.reject);
      return;
    }
    const n = batch.length;
    const results: Outcome<R>[][] = batch.map(() => []);
    let answered = 0;
    const done = this.collect(key, payload, {
      consolidation: ConsolidationMode.NONE,
      untilDone: (sample) => {
        const outcomes = outcomesOf(decodeSample(sample));
        if (outcomes.length !== n) throw new MailboxClientError('BAD_REPLY', `${outcomes.length} outcomes for ${n} requests`);
        for (const [i, outcome] of outcomes.entries()) {
          if (outcome.ok && !results[i]!.some((o) => o.ok)) answered++;
          results[i]!.push(outcome);
        }
        return answered === n;
      },
    });
    done.then(
      (replies) => {
        const whole = replies.filter((r): r is ReplyError => r instanceof ReplyError).map((r) => decodeError(r.payload().toBytes()));
        const tooLarge = whole.length > 0 && whole.every((e) => e.code === 'TOO_LARGE') && results.every((r) => r.length === 0);
        for (const [i, w] of batch.entries()) {
          const ok = results[i]!.find((o) => o.ok);
          if (ok !== undefined) w.resolve(ok.value);
          else if (tooLarge) alone(w.item).then(w.resolve, w.reject);
          else {
            const refusals = results[i]!.flatMap((o) => (o.ok ? [] : [o.error]));
            const errors = refusals.length > 0 ? refusals : whole;
            // As in noOkReply: a timeout beside other errors means some node had not answered.
            const body = errors.find((e) => e.code === 'TIMEOUT') ?? errors[0];
            w.reject(body === undefined ? noOkReply(key, replies) : new MailboxClientError(body.code, body.message, body.leader ?? null));
          }
        }
      },
      (e: unknown) => {
        for (const w of batch) w.reject(e);
      },
    );
  }

  /** Fire-and-forget enqueue (plain Zenoh PUT): no confirmation, no error report. */
  async publish(user: string, body: Body, options: PutOptions = {}): Promise<void> {
    const meta: Record<string, unknown> = {};
    if (this.token !== undefined) meta.token = this.token;
    if (options.id !== undefined) meta.id = options.id;
    if (options.ttlMs !== undefined) meta.ttl = options.ttlMs;
    const attachment = Object.keys(meta).length > 0 ? JSON.stringify(meta) : undefined;
    const session = await this.sessionBy(Date.now() + this.requestTimeoutMs);
    await session.put(this.userKey(user), toBytes(body), attachment === undefined ? {} : { attachment });
  }

  /** Takes the next message, or null when the mailbox is empty (after waiting `waitMs` for one, if given). */
  async consume(user: string, options: ConsumeOptions = {}): Promise<DeliveredMessage | null> {
    const wait = options.waitMs;
    if (wait !== undefined && (!Number.isSafeInteger(wait) || wait < 0)) {
      throw new MailboxClientError('BAD_REQUEST', `waitMs must be a whole number of ms >= 0, got ${wait}`);
    }
    const key = this.userKey(user);
    // Made whether it is sent alone or not: it refuses a bad request id before anything is queued.
    const sent = params({ rid: options.requestId, lease: options.leaseMs, dlq: options.deadLetter ? 1 : undefined, wait: wait || undefined });
    if (!wait) {
      const consume: AddressedConsume = { user };
      if (options.requestId !== undefined) consume.requestId = options.requestId;
      if (options.leaseMs !== undefined) consume.leaseMs = options.leaseMs;
      if (options.deadLetter) consume.deadLetter = true;
      return this.consumes === null ? this.consumeAlone(user, sent) : this.consumes.add(consume, 0);
    }
    // A long poll goes to a wait lane picked at random, so that the leader's lane sessions share them.
    const reply = await this.request(
      waitLaneKey(this.prefix, Math.floor(Math.random() * WAIT_LANES), user),
      sent,
      undefined,
      // The leader answers `empty` only once the wait is over: the query must outlive it, with
      // the usual request time on top for the read or the commit that follows.
      wait + this.requestTimeoutMs,
    );
    return messageOrNull(reply);
  }

  private async consumeAlone(user: string, parameters: string): Promise<DeliveredMessage | null> {
    return messageOrNull(await this.request(`${this.userKey(user)}/consume`, parameters));
  }

  /**
   * Takes up to `max` messages in one log entry (README, Key space: `consume?max=`), in order; []
   * when the mailbox is empty (after waiting `waitMs` for one, if given). With a request id a retry
   * gets the very same batch; leased, each message has its own receipt.
   */
  async consumeBatch(user: string, max: number, options: ConsumeOptions = {}): Promise<DeliveredMessage[]> {
    const wait = options.waitMs;
    if (wait !== undefined && (!Number.isSafeInteger(wait) || wait < 0)) {
      throw new MailboxClientError('BAD_REQUEST', `waitMs must be a whole number of ms >= 0, got ${wait}`);
    }
    if (!Number.isSafeInteger(max) || max < 1) throw new MailboxClientError('BAD_REQUEST', `max must be a whole number >= 1, got ${max}`);
    const replies = await this.requestAll(
      wait ? waitLaneKey(this.prefix, Math.floor(Math.random() * WAIT_LANES), user) : `${this.userKey(user)}/consume`,
      params({ rid: options.requestId, lease: options.leaseMs, dlq: options.deadLetter ? 1 : undefined, wait: wait || undefined, max }),
      undefined,
      (wait ?? 0) + this.requestTimeoutMs,
    );
    if (replies.length === 1 && replies[0]!.status === 'empty') return [];
    return replies.map((r) => {
      if (r.status !== 'message') throw unexpected(r);
      return r.message;
    });
  }

  /**
   * Enqueues every message in one log entry, all or none (README, Key space: `put-batch`); the
   * results come in the batch's order. A message whose id was already put reports duplicate.
   */
  async putBatch(user: string, messages: readonly BatchPutMessage[]): Promise<{ id: string; seq: number; duplicate: boolean }[]> {
    const framed: FramedMessage[] = messages.map((m) => {
      if (m.id !== undefined && !isValidToken(m.id)) throw new MailboxClientError('BAD_REQUEST', 'id must be 1..128 characters of [A-Za-z0-9._:@+=/-]');
      return { body: toBytes(m.body), ...(m.id === undefined ? {} : { id: m.id }), ...(m.ttlMs === undefined ? {} : { ttlMs: m.ttlMs }) };
    });
    const replies = await this.requestAll(`${this.userKey(user)}/put-batch`, '', encodeBatchPut(framed));
    return replies.map((r) => {
      if (r.status !== 'put') throw unexpected(r);
      return { id: r.id, seq: r.seq, duplicate: r.duplicate };
    });
  }

  async peek(user: string, options: { deadLetter?: boolean } = {}): Promise<DeliveredMessage | null> {
    const reply = await this.request(`${this.userKey(user)}/peek`, params({ dlq: options.deadLetter ? 1 : undefined }));
    return messageOrNull(reply);
  }

  async len(user: string): Promise<MailboxStats> {
    const reply = await this.request(`${this.userKey(user)}/len`, '');
    if (reply.status !== 'stats') throw unexpected(reply);
    return reply.stats;
  }

  async ack(user: string, receipt: string): Promise<void> {
    const reply = await this.request(`${this.userKey(user)}/ack`, params({ receipt }));
    if (reply.status !== 'ok') throw unexpected(reply);
  }

  /** `delayMs`: visible again after that long (0: at once); absent: the cluster's default backoff. */
  async nack(user: string, receipt: string, options: { delayMs?: number } = {}): Promise<void> {
    const reply = await this.request(`${this.userKey(user)}/nack`, params({ receipt, delay: options.delayMs }));
    if (reply.status !== 'ok') throw unexpected(reply);
  }

  /** Extends a lease: it now ends `leaseMs` from the moment the leader applies this; the receipt stays. */
  async touch(user: string, receipt: string, leaseMs: number): Promise<void> {
    const reply = await this.request(`${this.userKey(user)}/touch`, params({ receipt, lease: leaseMs }));
    if (reply.status !== 'ok') throw unexpected(reply);
  }

  /** Moves dead letters back to the mailbox in seq order (all, or the `max` oldest); resolves with how many. */
  async redrive(user: string, options: { max?: number } = {}): Promise<number> {
    const reply = await this.request(`${this.userKey(user)}/redrive`, params({ max: options.max }));
    if (reply.status !== 'redriven') throw unexpected(reply);
    return reply.count;
  }

  async purge(user: string, options: { deadLetter?: boolean } = {}): Promise<number> {
    const reply = await this.request(`${this.userKey(user)}/purge`, params({ dlq: options.deadLetter ? 1 : undefined }));
    if (reply.status !== 'purged') throw unexpected(reply);
    return reply.count;
  }

  /** Cluster status from the leader. */
  async status(): Promise<unknown> {
    const reply = await this.request(clusterStatusKey(this.prefix), '');
    if (reply.status !== 'status') throw unexpected(reply);
    return reply.cluster;
  }

  /**
   * Adds a node (§4.1, one at a time): the leader records its address, adds it as a learner, waits
   * up to `catchUpMs` for it to catch up, then makes it a voter. The request waits that long too.
   * A node left a learner (catch-up timed out) is finished by calling this again. Refused with
   * MEMBERSHIP_FULL, changing nothing, when the voters, learners or peer directory are at their
   * limit (README, Operations).
   */
  async addNode(node: string, host: string, port: number, options: { catchUpMs?: number } = {}): Promise<MembershipView> {
    checkNodeId(node);
    if (!isValidHost(host)) throw new MailboxClientError('BAD_REQUEST', `invalid host ${JSON.stringify(host)}: 1..253 of [A-Za-z0-9._:-]`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new MailboxClientError('BAD_REQUEST', `invalid port ${port}`);
    const catchUpMs = options.catchUpMs ?? DEFAULT_CATCH_UP_MS;
    const reply = await this.request(
      adminKey(this.prefix, 'add-node'),
      params({ node, host, port, wait: catchUpMs }),
      undefined,
      // Catching up, two membership changes and a directory entry, each up to a request timeout.
      catchUpMs + 3 * this.requestTimeoutMs,
    );
    if (reply.status !== 'membership') throw unexpected(reply);
    return reply.membership;
  }

  /** Removes a member (the leader itself included: leadership then passes to another voter). */
  async removeNode(node: string): Promise<MembershipView> {
    checkNodeId(node);
    const reply = await this.request(adminKey(this.prefix, 'remove-node'), params({ node }), undefined, 2 * this.requestTimeoutMs);
    if (reply.status !== 'membership') throw unexpected(reply);
    return reply.membership;
  }

  /**
   * Sets the cluster quotas given (the others keep their value) through the log, and returns the
   * quotas then in force with the current usage. Needs the `admin` operation.
   */
  async setQuotas(quotas: Partial<MailboxQuotas>): Promise<{ quotas: MailboxQuotas; usage: MailboxUsage }> {
    const reply = await this.request(adminKey(this.prefix, 'set-quotas'), params({ ...quotas }));
    if (reply.status !== 'quotas') throw unexpected(reply);
    return { quotas: reply.quotas, usage: reply.usage };
  }

  /** Every reachable node's own status, leader or not: what is left to look at when there is no leader. */
  async nodeStatuses(): Promise<unknown[]> {
    const replies = await this.collect(nodeStatusKey(this.prefix, '*'), undefined, { target: QueryTarget.ALL, consolidation: ConsolidationMode.NONE });
    const statuses: unknown[] = [];
    for (const reply of replies) {
      if (!(reply instanceof Sample)) continue;
      const decoded = decodeSample(reply);
      if (decoded.status === 'status') statuses.push(decoded.cluster);
    }
    return statuses;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connection.stop();
  }

  /** The router session, waiting until `deadline` (Date.now() ms) for one to be reopened. */
  private async sessionBy(deadline: number): Promise<Session> {
    for (;;) {
      if (this.closed) throw new MailboxClientError('UNAVAILABLE', 'the client is closed');
      const session = this.connection.current();
      if (session !== null) return session;
      const left = deadline - Date.now();
      if (left <= 0 || !(await within(this.connection.connected(), left))) {
        const why = this.connection.lastOpenFailure();
        throw new MailboxClientError('UNAVAILABLE', `no session with the router ${this.routerUrl}${why === null ? '' : `: ${why}`}`);
      }
    }
  }

  /** Checked here, not only by the bridge: `a/put` as a user or `x;lease=1` as an id would change the request's meaning. */
  private userKey(user: string): string {
    if (!isValidUser(user)) throw new MailboxClientError('BAD_USER', `invalid user id ${JSON.stringify(user)}: 1..128 of [A-Za-z0-9._-], not . or ..`);
    return `${this.prefix}/${user}`;
  }

  /**
   * One GET; an ok reply wins over error replies (a stale ex-leader may still answer NOT_LEADER
   * beside the real leader), the first error is thrown otherwise, and no reply at all means no
   * leader serves the key space right now.
   */
  private async request(key: string, parameters: string, payload?: Uint8Array, timeoutMs = this.requestTimeoutMs): Promise<ClientReply> {
    const replies = await this.collect(parameters === '' ? key : `${key}?${parameters}`, payload, { untilOk: true }, timeoutMs);
    const ok = replies.find((r): r is Sample => r instanceof Sample);
    if (ok !== undefined) return decodeSample(ok);
    throw noOkReply(key, replies);
  }

  /**
   * One GET answered by a batch of ok replies (reply-format.ts: each carries its place i of n),
   * in order. Resolves once all n are in; the query is sent without consolidation, which would
   * keep one reply per key. Errors as `request`; fewer than n replies by the end of the query is
   * BAD_REPLY (the batch committed but some replies were lost: a retry with the same request id
   * gets it whole).
   */
  private async requestAll(key: string, parameters: string, payload?: Uint8Array, timeoutMs = this.requestTimeoutMs): Promise<ClientReply[]> {
    const decoded: ClientReply[] = [];
    let expected: number | null = null;
    const replies = await this.collect(
      parameters === '' ? key : `${key}?${parameters}`,
      payload,
      {
        consolidation: ConsolidationMode.NONE,
        untilDone: (sample) => {
          const reply = decodeSample(sample);
          decoded.push(reply);
          const part = 'part' in reply ? reply.part : undefined;
          expected = part?.count ?? 1;
          return decoded.length >= expected;
        },
      },
      timeoutMs,
    );
    if (decoded.length > 0) {
      const inOrder = decoded.map((r) => ({ r, at: 'part' in r && r.part !== undefined ? r.part.index : 1 })).sort((a, b) => a.at - b.at);
      if (inOrder.length !== expected || inOrder.some((x, i) => x.at !== i + 1)) {
        throw new MailboxClientError('BAD_REPLY', `${decoded.length} of ${String(expected)} replies of a batch came: retry with the same request id or ids`);
      }
      return inOrder.map((x) => x.r);
    }
    throw noOkReply(key, replies);
  }

  private async collect(
    selector: string,
    payload: Uint8Array | undefined,
    routing: { target?: QueryTarget; consolidation?: ConsolidationMode; untilOk?: boolean; untilDone?: (ok: Sample) => boolean } = {},
    timeoutMs = this.requestTimeoutMs,
  ): Promise<(Sample | ReplyError)[]> {
    const { untilOk, untilDone, ...route } = routing;
    const sent = Date.now();
    // Nothing has been sent while waiting for a session: that wait comes out of the request's time.
    const session = await this.sessionBy(sent + timeoutMs);
    const left = Math.max(1, timeoutMs - (Date.now() - sent));
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        stopListening();
        finish();
      };
      const lost = (reason: string) =>
        new MailboxClientError('ROUTER_LOST', `${reason} with the request in flight: its outcome is unknown; retry with the same id or request id`);
      const replies: (Sample | ReplyError)[] = [];
      // The router ends every query itself at `timeout`; this guard is for a router that is gone
      // but not (yet) noticed by the connection's watch.
      const guard = setTimeout(
        () => settle(() => reject(new MailboxClientError('UNAVAILABLE', `no answer from the router within ${left + ROUTER_GRACE_MS} ms`))),
        left + ROUTER_GRACE_MS,
      );
      const stopListening = this.connection.onLost(session, (reason) => settle(() => reject(lost(reason))));
      session
        .get(selector, {
          ...route,
          timeout: Duration.milliseconds.of(left),
          ...(payload === undefined ? {} : { payload }),
          ...(this.token === undefined ? {} : { attachment: JSON.stringify({ token: this.token }) }),
          handler: [
            (reply: Reply) => {
              const result = reply.result();
              replies.push(result);
              // Only the leader answers ok, so its answer is the request's: no need to wait for the
              // end of the query, which a queryable whose node is cut from the router (but not yet
              // dropped by it) would hold back until the timeout.
              if (untilOk && result instanceof Sample) settle(() => resolve([result]));
              if (untilDone && result instanceof Sample) {
                let done: boolean;
                try {
                  done = untilDone(result);
                } catch (e) {
                  return settle(() => reject(e));
                }
                if (done) settle(() => resolve(replies));
              }
            },
            () => settle(() => resolve(replies)),
          ],
        })
        // Not sent (the link closed under it): nothing can have happened.
        .catch((e: unknown) => settle(() => reject(new MailboxClientError('UNAVAILABLE', errorText(e)))));
    });
  }
}

/** Whether `promise` settled within `ms` (its outcome is the caller's business). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function params(values: Record<string, string | number | undefined>): string {
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string' && !isValidToken(value)) {
      throw new MailboxClientError('BAD_REQUEST', `${name} must be 1..128 characters of [A-Za-z0-9._:@+=/-]`);
    }
  }
  return Object.entries(values)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}

function putParams(options: PutOptions): string {
  return params({ id: options.id, ttl: options.ttlMs, delay: options.delayMs });
}

function consumeParams(c: AddressedConsume): string {
  return params({ rid: c.requestId, lease: c.leaseMs, dlq: c.deadLetter ? 1 : undefined });
}

/** What is wrong with a ClientOptions.coalesce, or null. */
function coalescingProblem(c: Coalescing): string | null {
  const whole = (v: number, min: number, max: number) => Number.isSafeInteger(v) && v >= min && v <= max;
  if (!whole(c.maxPuts, 1, MAX_PUTS_PER_REQUEST)) return `coalesce.maxPuts must be a whole number from 1 to ${MAX_PUTS_PER_REQUEST}`;
  if (!whole(c.maxPutBytes, 1, Number.MAX_SAFE_INTEGER)) return 'coalesce.maxPutBytes must be a whole number of bytes >= 1';
  if (!whole(c.maxConsumes, 1, MAX_CONSUMES_PER_REQUEST)) return `coalesce.maxConsumes must be a whole number from 1 to ${MAX_CONSUMES_PER_REQUEST}`;
  return null;
}

function checkNodeId(node: string): void {
  if (!isValidNodeId(node)) throw new MailboxClientError('BAD_REQUEST', `invalid node id ${JSON.stringify(node)}: 1-32 letters, digits, "_" or "-"`);
}

function toBytes(body: Body): Uint8Array {
  return typeof body === 'string' ? new TextEncoder().encode(body) : body;
}

/** An ok reply decoded; BAD_REPLY when it does not follow the format. */
function decodeSample(sample: Sample): ClientReply {
  try {
    return decodeReply(sample.payload().toBytes(), sample.attachment()?.toBytes());
  } catch (e) {
    if (e instanceof ReplyDecodeError) throw new MailboxClientError('BAD_REPLY', e.message);
    throw e;
  }
}

function messageOrNull(reply: ClientReply): DeliveredMessage | null {
  if (reply.status === 'empty') return null;
  if (reply.status !== 'message') throw unexpected(reply);
  return reply.message;
}

function unexpected(reply: ClientReply): MailboxClientError {
  return new MailboxClientError('BAD_REPLY', `unexpected reply status "${reply.status}"`);
}

/** The error for a request that got no ok reply: the error replies' code, or UNAVAILABLE when nothing answered. */
function noOkReply(key: string, replies: readonly (Sample | ReplyError)[]): MailboxClientError {
  const errors = replies.filter((r): r is ReplyError => r instanceof ReplyError).map((r) => decodeError(r.payload().toBytes()));
  // A timeout beside other errors (say a stale ex-leader's NOT_LEADER) means some node had not
  // answered: the request may still commit there, so its outcome is unknown, not refused.
  const body = errors.find((e) => e.code === 'TIMEOUT') ?? errors[0];
  if (body !== undefined) return new MailboxClientError(body.code, body.message, body.leader ?? null);
  return new MailboxClientError('UNAVAILABLE', `no reply on ${key}: no leader is serving the mailbox, or the router is unreachable or dropped the query`);
}
