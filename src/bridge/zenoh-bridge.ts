// Serves the mailbox key space (see key-space.ts) on Zenoh for the local node.
//
// One GET must consume at most one message whatever the client's query target and consolidation.
// zenoh-ts queryables reach every matching declaration, so only the current Raft leader declares
// the mailbox queryables and the PUT subscriber (on becoming leader; undeclared on losing it).
// Every node, leader or not, declares its own status queryable. An ex-leader that still gets a
// query before its undeclare lands answers NOT_LEADER: its command cannot commit; one the router
// sends it as it undeclares ends at once, not at the client's timeout, as every session keeps the
// key expressions of the leader's queryables declared whatever the role (key-expr-anchors.ts).
// A role change whose declarations fail (the router did not answer a declare or undeclare in
// time: a new leader would never serve, an ex-leader would keep its queryables) ends the session:
// what a timed-out declare left in the router is known to no one (see RouterConnection.reopen),
// and the connection redials with backoff and declares what the role is by then on a new session.
// Replies are sent only once the result is committed and applied. The leader also serves the
// cluster admin keys when the node gives the bridge a ClusterAdmin.
//
// Every request is authorized here, before anything reaches the node: the attachment's capability
// token is verified (UNAUTHORIZED when missing, forged or expired), then the parsed request is
// checked against what it grants (FORBIDDEN). Refusals are logged with the principal and reason,
// never the token. The verified principal goes into every put and consume the bridge hands on:
// the mailbox remembers put ids and request ids per principal, so no client squats another's.
//
// Load shedding: at most `maxInflightRequests` queries and PUT samples are being worked on at once
// (token check, Raft, reply). One past the bound is answered at once with BUSY (a PUT sample is
// dropped and counted in the log), before its token is checked and before anything is proposed:
// a flood costs the node a counter, not memory for every pending request. This node's own status
// query is not counted, so an operator can still see a busy node. Nor is a long-poll consume
// (`consume?wait=`) once it is parsed: it gives its place back before it waits. Long polls are
// bounded per router session instead (the router's remote-api drops the oldest of more than 1000
// unanswered queries per session): they are meant for the wait lanes (wait-lanes.ts, one session
// each, MAX_WAITING_PER_LANE), and at most MAX_WAITING_ON_MAIN_SESSION of them wait on the main
// session; the node bounds them all (zenoh.maxParkedConsumers). Beyond any bound: BUSY.

import { randomBytes } from 'node:crypto';
import type { Query, Queryable, Sample, Session, Subscriber } from '@eclipse-zenoh/zenoh-ts';
import { SampleKind } from '@eclipse-zenoh/zenoh-ts';
import {
  DEFAULT_KEY_PREFIX,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_INFLIGHT_REQUESTS,
  MAX_WAITING_ON_MAIN_SESSION,
  WAIT_LANES,
  adminKeyExpr,
  clusterStatusKey,
  mailboxKeyExpr,
  nodeStatusKey,
  putsKey,
  consumesKey,
  accessOf,
  parseAttachment,
  parseGet,
  parsePut,
  type KeySpaceLimits,
  type Parsed,
} from './key-space.js';
import { ALL_USERS, AuthError, OPERATIONS, authorize, type Access, type Capability } from '../auth/capability.js';
import type { ClusterAdmin } from './cluster-admin.js';
import { isValidToken } from '../identifiers.js';
import type { LoggerPort } from '../logger-port.js';
import type { ConsumeCommand, MailboxCommand, MailboxResult, PutCommand } from '../mailbox/commands.js';
import { serviceErrorToBody, type MailboxService } from './mailbox-service.js';
import { encodeClusterStatus, encodeError, encodeMembership, encodeConsumeOutcomes, encodePutOutcomes, encodeResults, type ErrorBody, type ReplyParts } from './reply-format.js';
import { LoopPacer } from './loop-pacer.js';
import { anchorKeyExprs } from './key-expr-anchors.js';
import { undeclareAnswering } from './queryable-handlers.js';
import { DEFAULT_RECONNECT, RouterConnection, type ReconnectOptions } from './router-connection.js';
import { RouterLinkWatch } from './router-link-watch.js';
import { WaitLanes } from './wait-lanes.js';
import { divertZenohConsole } from './zenoh-console.js';
import { errorText } from '../error-text.js';

export interface ZenohBridgeOptions {
  routerUrl: string;
  /** This node's id: names its status key `<prefix>/@cluster/node/<nodeId>/status`. */
  nodeId: string;
  service: MailboxService;
  /**
   * Verifies request tokens. `null` turns authorization off (every request may do anything): an
   * explicit choice the node logs at start, for closed test setups only.
   */
  verifier: CapabilityVerifier | null;
  /** Serves `<prefix>/@cluster/admin/*` (membership changes) on the leader; without it those keys are not served. */
  admin?: ClusterAdmin;
  logger: LoggerPort;
  keyPrefix?: string;
  maxBodyBytes?: number;
  /** Longest `wait` of a long-poll consume (DEFAULT_MAX_CONSUME_WAIT_MS when absent). */
  maxConsumeWaitMs?: number;
  /** mailbox.maxBatch: the most messages of one batch a request may ask for (DEFAULT_MAX_BATCH when absent). */
  maxBatch?: number;
  /** Queries and PUT samples worked on at once; beyond it BUSY (DEFAULT_MAX_INFLIGHT_REQUESTS when absent). */
  maxInflightRequests?: number;
  reconnect?: Partial<ReconnectOptions>;
  /**
   * Told, for each request answered within the in-flight bound and not parked as a long poll, how
   * long it took from its arrival here to its result (`handleMs`: authorization, the node's work)
   * and from its result to its last reply handed to the router (`replyMs`). Metrics.
   */
  onAnswered?: (stages: { handleMs: number; replyMs: number }) => void;
}

/** A node shedding load logs the PUT samples it dropped at most this often. */
const BUSY_LOG_INTERVAL_MS = 1000;
/** Reply time per turn of the event loop (see loop-pacer.ts): about a Raft apply slice. */
const REPLY_TURN_BUDGET_MS = 5;

export interface CapabilityVerifier {
  /** The capability a token grants; rejects with AuthError UNAUTHORIZED. */
  verify(token: unknown): Promise<Capability>;
}

/** What every request may do while authorization is off. */
const UNRESTRICTED: Capability = { principal: '', users: ALL_USERS, ops: new Set(OPERATIONS), expiresAt: Infinity, keyId: '' };

interface LeaderDeclarations {
  mailbox: Queryable;
  /** `<prefix>/@puts` and `<prefix>/@consumes`: `**` never matches their verbatim chunks. */
  manyPuts: Queryable;
  manyConsumes: Queryable;
  clusterStatus: Queryable;
  admin: Queryable | null;
  puts: Subscriber;
}

export class ZenohBridge {
  private readonly prefix: string;
  private readonly limits: KeySpaceLimits;
  private readonly connection: RouterConnection;
  private session: Session | null = null;
  private leaderDecls: LeaderDeclarations | null = null;
  /** Declaration changes (new session, role change) run one at a time, in order. */
  private changes: Promise<void> = Promise.resolve();
  private unsubscribeRole: (() => void) | null = null;
  private readonly maxInflight: number;
  /** Queries and PUT samples being worked on now (see the header: load shedding). */
  private inflight = 0;
  private readonly pacer = new LoopPacer(REPLY_TURN_BUDGET_MS);
  /** PUT samples dropped as BUSY since the last log line about them, and when that was. */
  private busyDrops = 0;
  private busyLoggedAt = 0;
  private readonly lanes: WaitLanes;
  /** Long polls waiting on the main session (sent to the plain consume key). */
  private mainWaiting = 0;

  constructor(private readonly options: ZenohBridgeOptions) {
    this.prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.maxInflight = options.maxInflightRequests ?? DEFAULT_MAX_INFLIGHT_REQUESTS;
    this.limits = {
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      ...(options.maxConsumeWaitMs === undefined ? {} : { maxConsumeWaitMs: options.maxConsumeWaitMs }),
      ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
    };
    // The main session and the wait lanes share one path to the router: one watch for all 17.
    const linkWatch = new RouterLinkWatch({ ...DEFAULT_RECONNECT, ...options.reconnect });
    this.connection = new RouterConnection({
      routerUrl: options.routerUrl,
      logger: options.logger,
      onSession: (session) => this.serialize(() => this.declareOn(session)),
      onSessionLost: () => {
        this.session = null;
        this.leaderDecls = null;
      },
      ...(options.reconnect ? { reconnect: options.reconnect } : {}),
      linkWatch,
    });
    this.lanes = new WaitLanes({
      routerUrl: options.routerUrl,
      prefix: this.prefix,
      lanes: WAIT_LANES,
      logger: options.logger,
      serve: (query) => this.answer(query, (slot) => this.mailboxReply(query, slot, true)),
      refuse: (query, message) => this.reply(query, async () => ({ code: 'BUSY', message })),
      undeclare: undeclareAnswering,
      ...(options.reconnect ? { reconnect: options.reconnect } : {}),
      linkWatch,
    });
  }

  /** Starts serving; returns at once (the router may be down: the bridge keeps trying). */
  start(): void {
    divertZenohConsole((message) => this.options.logger.debug({ source: 'zenoh-ts' }, message));
    this.unsubscribeRole ??= this.options.service.onRoleChange((leading) => {
      void this.serialize(() => this.followRole());
      void this.lanes.setLeading(leading);
    });
    this.connection.start();
    this.lanes.start();
    void this.lanes.setLeading(this.options.service.isLeader());
  }

  /** Resolves once connected to the router with everything declared (mainly for tests and startup logs). */
  async connected(): Promise<void> {
    await this.connection.connected();
    await this.lanes.connected();
  }

  /**
   * Since when (Date.now() ms) the router has not been heard, or null while a session is up with
   * everything declared (the node's router-loss handoff counts its grace from it).
   */
  routerDownSince(): number | null {
    return this.session === null ? (this.connection.downSince() ?? Date.now()) : null;
  }

  /** Resolves once pending declaration changes (after a role change) have been made. */
  async settled(): Promise<void> {
    await this.serialize(async () => {});
    await this.lanes.settled();
  }

  async stop(): Promise<void> {
    this.unsubscribeRole?.();
    this.unsubscribeRole = null;
    await this.changes;
    await this.lanes.stop();
    await this.connection.stop();
  }

  /** Runs `change` after the pending ones; its failure is the caller's to handle, and the next change runs anyway. */
  private serialize(change: () => Promise<void>): Promise<void> {
    const next = this.changes.then(change);
    this.changes = next.catch(() => {});
    return next;
  }

  /** Declares or undeclares the leader's queryables and subscriber for the current role; on failure, reopens the session (see the header). */
  private async followRole(): Promise<void> {
    const session = this.session;
    if (session === null) return; // the next session is declared for the role it finds
    try {
      await this.syncLeaderDeclarations(session);
    } catch (e) {
      const err = errorText(e);
      this.options.logger.warn({ err }, 'Zenoh declaration change failed: reopening the session');
      this.connection.reopen(session, `declaration change failed: ${err}`);
    }
  }

  private async declareOn(session: Session): Promise<void> {
    this.session = session;
    const nodeKey = nodeStatusKey(this.prefix, this.options.nodeId);
    await session.declareQueryable(nodeKey, {
      complete: true,
      handler: (query: Query) =>
        void this.answer(
          query,
          async () => {
            await this.authorizeQuery(query, { op: 'status', user: null });
            return this.statusReply();
          },
          false,
        ),
    });
    const leaderKeyExprs = [mailboxKeyExpr(this.prefix), putsKey(this.prefix), consumesKey(this.prefix), clusterStatusKey(this.prefix)];
    if (this.options.admin !== undefined) leaderKeyExprs.push(adminKeyExpr(this.prefix));
    await Promise.all([anchorKeyExprs(session, leaderKeyExprs), this.syncLeaderDeclarations(session)]);
  }

  private async syncLeaderDeclarations(session: Session): Promise<void> {
    const leader = this.options.service.isLeader();
    if (leader && this.leaderDecls === null) {
      this.leaderDecls = await this.declareLeader(session);
      this.options.logger.info({ prefix: this.prefix }, 'leader: serving mailbox queries on Zenoh');
    } else if (!leader && this.leaderDecls !== null) {
      const decls = this.leaderDecls;
      this.leaderDecls = null;
      await undeclareAnswering(decls.mailbox);
      await undeclareAnswering(decls.manyPuts);
      await undeclareAnswering(decls.manyConsumes);
      await undeclareAnswering(decls.clusterStatus);
      if (decls.admin !== null) await undeclareAnswering(decls.admin);
      await decls.puts.undeclare();
      this.options.logger.info({ prefix: this.prefix }, 'no longer leader: stopped serving mailbox queries');
    }
  }

  /**
   * Declares the leader's set. One that fails half-made is not undone here: the session it is on
   * goes with it (followRole; RouterConnection for a new session's), and so does the rest.
   */
  private async declareLeader(session: Session): Promise<LeaderDeclarations> {
    // complete: this is the only queryable for the key space, so ALL_COMPLETE queries must reach it.
    const mailbox = await session.declareQueryable(mailboxKeyExpr(this.prefix), {
      complete: true,
      handler: (query: Query) => void this.answer(query, (slot) => this.mailboxReply(query, slot)),
    });
    const manyPuts = await session.declareQueryable(putsKey(this.prefix), {
      complete: true,
      handler: (query: Query) => void this.answer(query, () => this.mailboxReply(query)),
    });
    const manyConsumes = await session.declareQueryable(consumesKey(this.prefix), {
      complete: true,
      handler: (query: Query) => void this.answer(query, () => this.mailboxReply(query)),
    });
    const clusterStatus = await session.declareQueryable(clusterStatusKey(this.prefix), {
      complete: true,
      handler: (query: Query) => void this.answer(query, () => this.mailboxReply(query)),
    });
    let admin: Queryable | null = null;
    if (this.options.admin !== undefined) {
      admin = await session.declareQueryable(adminKeyExpr(this.prefix), {
        complete: true,
        handler: (query: Query) => void this.answer(query, () => this.mailboxReply(query)),
      });
    }
    const puts = await session.declareSubscriber(`${this.prefix}/*`, {
      handler: (sample: Sample) => void this.enqueue(sample),
    });
    return { mailbox, manyPuts, manyConsumes, clusterStatus, admin, puts };
  }

  /** Verifies the token a query carries; throws AuthError, or KeySpaceError-shaped BAD_REQUEST. */
  private async capabilityOf(query: Query): Promise<Capability> {
    const attachment = parseAttachment(query.attachment()?.toBytes(), 'query');
    if (!attachment.ok) throw new RequestError(attachment.error);
    return this.verify(attachment.value.token);
  }

  private verify(token: string | undefined): Promise<Capability> {
    return this.options.verifier === null ? Promise.resolve(UNRESTRICTED) : this.options.verifier.verify(token);
  }

  private async authorizeQuery(query: Query, access: Access): Promise<Capability> {
    const cap = await this.capabilityOf(query);
    authorize(cap, access);
    return cap;
  }

  /** `onLane`: the query came on a wait lane's session (wait-lanes.ts), not the main one. */
  private async mailboxReply(query: Query, slot?: InflightSlot, onLane = false): Promise<ReplyParts | ReplyParts[] | ErrorBody> {
    const cap = await this.capabilityOf(query);
    const parsed = parseGet(
      this.prefix,
      query.keyExpr().toString(),
      query.parameters().toString(),
      query.payload()?.toBytes(),
      this.limits,
    );
    if (!parsed.ok) return parsed.error;
    const request = parsed.value;
    authorize(cap, accessOf(request));
    if (request.kind === 'clusterStatus') return this.statusReply();
    if (request.kind === 'puts') return this.manyReply(cap, 'put', request.puts, encodePutOutcomes);
    if (request.kind === 'consumes') return this.manyReply(cap, 'consume', request.consumes, encodeConsumeOutcomes);
    if (request.kind === 'admin') {
      if (this.options.admin === undefined) return { code: 'UNKNOWN_OP', message: 'cluster administration is not served here' };
      return encodeMembership(await this.options.admin.admin(request.op));
    }
    let result;
    if (request.kind === 'command' && request.waitMs !== undefined && request.command.op === 'consume') {
      slot?.release();
      if (onLane) {
        result = await this.options.service.consumeWaiting(sentBy(request.command, cap.principal), request.waitMs);
      } else {
        if (this.mainWaiting >= MAX_WAITING_ON_MAIN_SESSION) {
          return { code: 'BUSY', message: `${this.mainWaiting} long polls wait on this node's main session (its bound): send them to the wait lanes, ${this.prefix}/@wait/<0..${WAIT_LANES - 1}>/<user>` };
        }
        this.mainWaiting++;
        try {
          result = await this.options.service.consumeWaiting(sentBy(request.command, cap.principal), request.waitMs);
        } finally {
          this.mainWaiting--;
        }
      }
    } else {
      result =
        request.kind === 'command'
          ? await this.options.service.command(sentBy(request.command, cap.principal))
          : await this.options.service.query(request.query);
    }
    // A batch (consume max, put-batch) is one reply per message, in order. Encoding is reply work
    // too (JSON and UTF-8: up to 136 ms of a 247 ms stall for one burst at 3M queued), so it takes
    // its turn with the sends.
    const committed = result;
    return this.pacer.send(async () => {
      const encoded = encodeResults(committed);
      return encoded.ok ? encoded.parts : encoded.error;
    });
  }

  /**
   * Many puts or consumes (`@puts`, `@consumes`): each request is authorized for `op` on its own
   * mailbox, then proposed as a command of its own; they go out together, so the leader commits
   * them in the same trains as single requests. One reply for them all (`encode`): each request's
   * result, or why it was refused (the others stand), in order.
   */
  private async manyReply<C extends PutCommand | ConsumeCommand>(
    cap: Capability,
    op: 'put' | 'consume',
    commands: readonly Parsed<C>[],
    encode: (outcomes: (MailboxResult | ErrorBody)[]) => ReplyParts,
  ): Promise<ReplyParts> {
    const outcomes = await Promise.all(
      commands.map(async (command): Promise<MailboxResult | ErrorBody> => {
        if (!command.ok) return command.error;
        try {
          authorize(cap, { op, user: command.value.user });
          return await this.options.service.command(sentBy(command.value, cap.principal));
        } catch (e) {
          return e instanceof AuthError ? { code: e.code, message: e.message } : serviceErrorToBody(e);
        }
      }),
    );
    return this.pacer.send(async () => encode(outcomes));
  }

  private async statusReply(): Promise<ReplyParts> {
    return encodeClusterStatus(await this.options.service.status());
  }

  /**
   * Answers `query` with what `produce` makes; when `bounded`, BUSY at once if the in-flight bound
   * is reached. `produce` may give its place back early (a long poll about to wait).
   */
  private async answer(query: Query, produce: (slot?: InflightSlot) => Promise<ReplyParts | ReplyParts[] | ErrorBody>, bounded = true): Promise<void> {
    if (!bounded) return this.reply(query, produce);
    if (this.inflight >= this.maxInflight) {
      return this.reply(query, async () => ({ code: 'BUSY', message: this.busyMessage() }));
    }
    this.inflight++;
    const arrived = performance.now();
    let produced = arrived;
    let held = true;
    const slot: InflightSlot = {
      release: () => {
        if (!held) return;
        held = false;
        this.inflight--;
      },
    };
    try {
      await this.reply(query, async () => {
        try {
          return await produce(slot);
        } finally {
          produced = performance.now();
        }
      });
      // A long poll gave its slot back before it waited: its time is the wait's, not the node's.
      if (held) this.options.onAnswered?.({ handleMs: produced - arrived, replyMs: performance.now() - produced });
    } finally {
      slot.release();
    }
  }

  private busyMessage(): string {
    return `this node is working on ${this.inflight} requests (its bound): retry shortly`;
  }

  private async reply(query: Query, produce: () => Promise<ReplyParts | ReplyParts[] | ErrorBody>): Promise<void> {
    const key = query.keyExpr().toString();
    const req = requestTag(query.parameters().toString());
    let outcome: ReplyParts | ReplyParts[] | ErrorBody;
    try {
      outcome = await produce();
    } catch (e) {
      if (e instanceof AuthError || e instanceof RequestError) {
        outcome = { code: e.code, message: e.message };
        if (e instanceof AuthError) this.options.logger.info({ key, req, code: e.code }, `request refused: ${e.message}`);
      } else {
        outcome = serviceErrorToBody(e);
      }
    }
    try {
      if (Array.isArray(outcome)) {
        for (const part of outcome) await this.pacer.send(() => query.reply(key, part.payload, { attachment: part.attachment }));
      } else if ('code' in outcome) {
        this.options.logger.debug({ key, req, code: outcome.code }, outcome.message);
        const body = encodeError(outcome);
        await this.pacer.send(() => query.replyErr(body));
      } else {
        const reply = outcome;
        await this.pacer.send(() => query.reply(key, reply.payload, { attachment: reply.attachment }));
      }
      await query.finalize();
    } catch (e) {
      // The result is committed but the reply could not be sent (router gone): a client retrying
      // with the same request id gets the same result.
      this.options.logger.warn({ key, req, err: errorText(e) }, 'could not send Zenoh reply');
    }
  }

  private async enqueue(sample: Sample): Promise<void> {
    if (this.inflight >= this.maxInflight) {
      this.busyDrops++;
      const now = Date.now();
      if (now - this.busyLoggedAt >= BUSY_LOG_INTERVAL_MS) {
        this.options.logger.warn({ code: 'BUSY', dropped: this.busyDrops }, `dropped Zenoh PUTs: ${this.busyMessage()}`);
        this.busyDrops = 0;
        this.busyLoggedAt = now;
      }
      return;
    }
    this.inflight++;
    try {
      await this.enqueueSample(sample);
    } finally {
      this.inflight--;
    }
  }

  private async enqueueSample(sample: Sample): Promise<void> {
    const key = sample.keyexpr().toString();
    if (sample.kind() !== SampleKind.PUT) {
      this.options.logger.debug({ key }, 'ignoring Zenoh DELETE on the mailbox key space');
      return;
    }
    const parsed = parsePut(this.prefix, key, sample.payload().toBytes(), sample.attachment()?.toBytes(), this.limits);
    if (!parsed.ok) {
      this.options.logger.warn({ key, code: parsed.error.code }, `dropped Zenoh PUT: ${parsed.error.message}`);
      return;
    }
    const { token } = parsed.value;
    const req = parsed.value.command.id ?? newRequestTag();
    let command: MailboxCommand;
    try {
      const cap = await this.verify(token);
      authorize(cap, { op: 'put', user: parsed.value.command.user });
      command = sentBy(parsed.value.command, cap.principal);
    } catch (e) {
      const reason = e instanceof AuthError ? `${e.code}: ${e.message}` : String(e);
      this.options.logger.info({ key, req, code: e instanceof AuthError ? e.code : 'INTERNAL' }, `dropped Zenoh PUT: ${reason}`);
      return;
    }
    try {
      const result = await this.options.service.command(command);
      if (result.kind === 'error') this.options.logger.warn({ key, req, code: result.code }, `Zenoh PUT refused: ${result.message}`);
    } catch (e) {
      const error = serviceErrorToBody(e);
      this.options.logger.warn({ key, req, code: error.code }, `Zenoh PUT not enqueued: ${error.message}`);
    }
  }
}

/**
 * What the log lines about a request call it (`req`): the client's request id (`rid`) or message id
 * (`id`) when the selector has a well-formed one, so an operator can follow a client's request by
 * the id the client knows (and its retries, which carry the same id); else one made here.
 */
export function requestTag(parameters: string): string {
  for (const pattern of ID_PARAMETERS) {
    const m = pattern.exec(parameters);
    if (m !== null && isValidToken(m[1]!)) return m[1]!;
  }
  return newRequestTag();
}

/** The parameters requestTag takes a tag from, first found wins. */
const ID_PARAMETERS = ['rid', 'id'].map((name) => new RegExp(`(?:^|;)${name}=([^;]*)`));

/**
 * The last tag made for a request without an id. Tags only tell a request's log lines apart: a
 * counter from a random start (a new one per process, so logs of two runs rarely share tags), not
 * random bytes drawn for each request (5% of the leader's CPU in a bench:e2e profile, 2026-12-03).
 */
let lastRequestTag = randomBytes(4).readUInt32BE(0);

/** A tag for a request that came without an id: `~` and 8 hex digits, which no client id can be confused with. */
function newRequestTag(): string {
  lastRequestTag = (lastRequestTag + 1) >>> 0;
  return `~${lastRequestTag.toString(16).padStart(8, '0')}`;
}

/** `cmd` as sent by `principal`: puts and consumes carry it (their ids are remembered per principal). */
function sentBy<C extends MailboxCommand>(cmd: C, principal: string): C {
  if ((cmd.op !== 'put' && cmd.op !== 'putBatch' && cmd.op !== 'consume') || principal === '') return cmd;
  return { ...cmd, principal };
}

/** A place among the requests worked on at once (see the header: load shedding). */
interface InflightSlot {
  release(): void;
}

/** A malformed request caught before the token could even be read (a bad attachment). */
class RequestError extends Error {
  readonly code;
  constructor(error: { code: ErrorBody['code']; message: string }) {
    super(error.message);
    this.code = error.code;
  }
}
