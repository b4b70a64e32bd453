// What the bridge needs from the local node. The node implements it over Raft; the bridge never
// sees Raft itself, only these promises and the ServiceError they reject with, whose code is
// already the one a client sees (the node's adapter, src/node/bridge-port.ts, maps its own errors).

import type { ConsumeCommand, MailboxCommand, MailboxQuery, MailboxResult } from '../mailbox/commands.js';
import type { BridgeErrorCode, ErrorBody } from './reply-format.js';

export interface MailboxService {
  isLeader(): boolean;
  /** Calls `listener` on every change of leadership; returns the unsubscribe function. */
  onRoleChange(listener: (isLeader: boolean) => void): () => void;
  /** Resolves only after the command is committed and applied; rejects with a ServiceError (NOT_LEADER, TIMEOUT, BACKLOG_FULL, ...). */
  command(cmd: MailboxCommand): Promise<MailboxResult>;
  /**
   * A consume that waits up to `waitMs` for a message when there is none (long poll): resolves
   * with the message, or `empty` once the wait is over; rejects like `command` (also BUSY when the
   * node holds as many waiting consumes as it may, NOT_LEADER at once when it stops leading).
   */
  consumeWaiting(cmd: ConsumeCommand, waitMs: number): Promise<MailboxResult>;
  /** Linearizable read (ReadIndex); rejects like `command`. */
  query(q: MailboxQuery): Promise<MailboxResult>;
  /** JSON-able status of the cluster as this node sees it. */
  status(): Promise<unknown>;
}

/** How the service refuses a request: the client's error code, and who leads when this node does not. */
export class ServiceError extends Error {
  constructor(
    readonly code: BridgeErrorCode,
    message: string,
    readonly leader?: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

/** The error a client sees for a rejection from the service; anything but a ServiceError is a bug (INTERNAL). */
export function serviceErrorToBody(error: unknown): ErrorBody {
  if (error instanceof ServiceError) {
    const body: ErrorBody = { code: error.code, message: error.message };
    if (error.leader !== undefined) body.leader = error.leader;
    return body;
  }
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : 'internal error' };
}
