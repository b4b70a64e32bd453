// What the bridge needs from the local node. The wiring layer implements it over Raft; the bridge
// never sees Raft itself, only these promises and the error `code` strings they reject with.

import type { MailboxCommand, MailboxQuery, MailboxResult } from '../mailbox/commands.js';
import type { RaftErrorCode } from '../raft/types.js';
import type { AdminErrorCode } from './cluster-admin.js';
import type { BridgeErrorCode, ErrorBody } from './reply-format.js';

export interface MailboxService {
  isLeader(): boolean;
  /** Calls `listener` on every change of leadership; returns the unsubscribe function. */
  onRoleChange(listener: (isLeader: boolean) => void): () => void;
  /** Resolves only after the command is committed and applied; rejects with a RaftError (NOT_LEADER, TIMEOUT, BACKLOG_FULL, ...). */
  command(cmd: MailboxCommand): Promise<MailboxResult>;
  /** Linearizable read (ReadIndex); rejects like `command`. */
  query(q: MailboxQuery): Promise<MailboxResult>;
  /** JSON-able status of the cluster as this node sees it. */
  status(): Promise<unknown>;
}

// Partial on purpose: a Raft code added later reaches clients as INTERNAL (with its message)
// until it is given a meaning here.
const RAFT_TO_BRIDGE: Partial<Record<RaftErrorCode | AdminErrorCode, BridgeErrorCode>> = {
  NOT_LEADER: 'NOT_LEADER',
  NO_QUORUM: 'UNAVAILABLE',
  TIMEOUT: 'TIMEOUT',
  BACKLOG_FULL: 'BACKLOG_FULL',
  TRANSFER_IN_PROGRESS: 'UNAVAILABLE',
  // Only membership changes meet it; the operator retries once the earlier change is done.
  CONF_CHANGE_IN_PROGRESS: 'CONF_CHANGE_IN_PROGRESS',
  STOPPED: 'UNAVAILABLE',
  INVALID_REQUEST: 'BAD_REQUEST',
  UNKNOWN_NODE: 'UNKNOWN_NODE',
  ALREADY_MEMBER: 'ALREADY_MEMBER',
};

/**
 * Maps a rejection from the service to the error a client sees. Matched on the `code` string
 * rather than `instanceof RaftError` so that any implementation (and a test double) can reject.
 */
export function serviceErrorToBody(error: unknown): ErrorBody {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    const mapped =
      typeof code === 'string' && Object.hasOwn(RAFT_TO_BRIDGE, code) ? RAFT_TO_BRIDGE[code as RaftErrorCode | AdminErrorCode] : undefined;
    if (mapped !== undefined) {
      const message = error instanceof Error ? error.message : String(code);
      const body: ErrorBody = { code: mapped, message };
      const hint = (error as { leaderHint?: unknown }).leaderHint;
      if (typeof hint === 'string') body.leader = hint;
      return body;
    }
  }
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : 'internal error' };
}
