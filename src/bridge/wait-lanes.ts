// The leader's wait lanes: one more router session per lane, each serving the long polls sent to
// `<prefix>/@wait/<lane>/<user>` (see WAIT_LANES in key-space.ts for why: the router's remote-api
// keeps at most 1000 unanswered queries per session). Each lane keeps its own router connection
// (reconnecting like the bridge's main one), declares its queryable only while the node leads,
// and holds at most MAX_WAITING_PER_LANE unanswered queries: one more is answered BUSY at once.
// Its session keeps the queryable's key expression declared throughout (key-expr-anchors.ts).
// A lane whose declaration change fails has its session reopened, like the bridge's main one
// (zenoh-bridge.ts), and declares on the new one what the role is by then.
// Each lane's declaration changes run in order on a chain of its own: the sessions are
// independent. With one chain for all, the sessions reopened after a router cut declared one
// after another, a lane whose declaration hung (up to the request timeout) held back the others
// and any role change, and meanwhile a long poll sent to a lane not declared yet got no reply.

import type { Query, Queryable, Session } from '@eclipse-zenoh/zenoh-ts';
import type { LoggerPort } from '../logger-port.js';
import { anchorKeyExprs } from './key-expr-anchors.js';
import { MAX_WAITING_PER_LANE, waitLaneKeyExpr } from './key-space.js';
import { RouterConnection, type ReconnectOptions } from './router-connection.js';
import type { RouterLinkWatch } from './router-link-watch.js';
import { errorText } from '../error-text.js';

export interface WaitLanesOptions {
  routerUrl: string;
  prefix: string;
  lanes: number;
  logger: LoggerPort;
  /** Answers a query that came on a lane; resolves once it is answered. */
  serve(query: Query): Promise<void>;
  /** Answers a query BUSY at once (the lane holds as many as it may). */
  refuse(query: Query, message: string): Promise<void>;
  /** Undeclares a queryable while still answering what the router already sent it. */
  undeclare(queryable: Queryable): Promise<void>;
  reconnect?: Partial<ReconnectOptions>;
  /** Watches the lanes' sockets for silence with the bridge's own (one path to one router). */
  linkWatch?: RouterLinkWatch;
}

interface Lane {
  index: number;
  connection: RouterConnection;
  session: Session | null;
  queryable: Queryable | null;
  /** Queries that came on this lane and are not answered yet. */
  waiting: number;
  /** This lane's declaration changes, run one at a time, in order. */
  changes: Promise<void>;
}

export class WaitLanes {
  private readonly lanes: Lane[];
  private leading = false;

  constructor(private readonly options: WaitLanesOptions) {
    this.lanes = Array.from({ length: options.lanes }, (_, index) => {
      const lane: Lane = { index, session: null, queryable: null, waiting: 0, changes: Promise.resolve(), connection: null as unknown as RouterConnection };
      lane.connection = new RouterConnection({
        routerUrl: options.routerUrl,
        logger: laneLogger(options.logger, index),
        onSession: (session) =>
          this.serialize(lane, async () => {
            lane.session = session;
            // Side by side: a round trip for the anchor first would hold back the queryable.
            await Promise.all([anchorKeyExprs(session, [waitLaneKeyExpr(this.options.prefix, lane.index)]), this.sync(lane, session)]);
          }),
        onSessionLost: () => {
          lane.session = null;
          lane.queryable = null;
        },
        ...(options.reconnect ? { reconnect: options.reconnect } : {}),
        ...(options.linkWatch ? { linkWatch: options.linkWatch } : {}),
      });
      return lane;
    });
  }

  start(): void {
    for (const lane of this.lanes) lane.connection.start();
  }

  /**
   * Declares (leading) or undeclares every lane's queryable; resolves once done. A lane on which
   * that fails has its session reopened (see RouterConnection.reopen): its next one declares.
   */
  async setLeading(leading: boolean): Promise<void> {
    this.leading = leading;
    const failed: { lane: number; err: string }[] = [];
    await Promise.all(
      this.lanes.map((lane) =>
        this.serialize(lane, async () => {
          const session = lane.session;
          if (session === null) return; // the next session is declared for the role it finds
          try {
            await this.sync(lane, session);
          } catch (e) {
            const err = errorText(e);
            failed.push({ lane: lane.index, err });
            lane.connection.reopen(session, `declaration change failed: ${err}`);
          }
        }),
      ),
    );
    // One line for all: the lanes share the main session's router, and fail together.
    if (failed.length > 0) {
      this.options.logger.warn({ lanes: failed.map((f) => f.lane), err: failed[0]!.err }, 'wait lane declaration change failed: reopening their sessions');
    }
  }

  /** Resolves once every lane has a session and the pending declaration changes are made. */
  async connected(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.connection.connected()));
    await this.settled();
  }

  /** Resolves once the pending declaration changes are made. */
  async settled(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => this.serialize(lane, async () => {})));
  }

  /** Unanswered queries over all lanes. */
  waiting(): number {
    return this.lanes.reduce((n, lane) => n + lane.waiting, 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.changes));
    await Promise.all(this.lanes.map((lane) => lane.connection.stop()));
  }

  /** Runs `change` after the lane's pending ones; its failure is the caller's to handle, and the next change runs anyway. */
  private serialize(lane: Lane, change: () => Promise<void>): Promise<void> {
    const next = lane.changes.then(change);
    lane.changes = next.catch(() => {});
    return next;
  }

  private async sync(lane: Lane, session: Session): Promise<void> {
    if (this.leading && lane.queryable === null) {
      lane.queryable = await session.declareQueryable(waitLaneKeyExpr(this.options.prefix, lane.index), {
        complete: true,
        handler: (query: Query) => void this.take(lane, query),
      });
    } else if (!this.leading && lane.queryable !== null) {
      const queryable = lane.queryable;
      lane.queryable = null;
      await this.options.undeclare(queryable);
    }
  }

  private async take(lane: Lane, query: Query): Promise<void> {
    if (lane.waiting >= MAX_WAITING_PER_LANE) {
      return this.options.refuse(query, `wait lane ${lane.index} of this node holds ${lane.waiting} long polls (its bound): retry shortly, or on another lane`);
    }
    lane.waiting++;
    try {
      await this.options.serve(query);
    } finally {
      lane.waiting--;
    }
  }
}

/**
 * A lane's connection logs its routine news (connected, lost, cannot open) at debug level: the
 * bridge's main connection to the same router already reports them, once rather than 17 times.
 */
function laneLogger(logger: LoggerPort, lane: number): LoggerPort {
  const debug = (obj: object, msg?: string) => logger.debug({ ...obj, lane }, msg);
  return { debug, info: debug, warn: debug, error: (obj, msg) => logger.error({ ...obj, lane }, msg) };
}
