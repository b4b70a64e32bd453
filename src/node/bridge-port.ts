// The node as the bridge sees it: the MailboxService and ClusterAdmin ports, with every Raft or
// membership refusal turned into the ServiceError (client error code, leader hint) the bridge
// replies with. The one place where the node's error codes meet the client's.

import type { ClusterAdmin } from '../bridge/cluster-admin.js';
import { ServiceError, type MailboxService } from '../bridge/mailbox-service.js';
import type { BridgeErrorCode } from '../bridge/reply-format.js';
import { RaftError, type RaftErrorCode } from '../raft/types.js';
import { AdminError, type AdminErrorCode } from './membership-admin.js';
import { DiskSpaceError } from './disk-watermark.js';
import { ParkingFullError } from './long-poll.js';

// Partial on purpose: a Raft code added later reaches clients as INTERNAL (with its message)
// until it is given a meaning here.
const TO_CLIENT_CODE: Partial<Record<RaftErrorCode | AdminErrorCode, BridgeErrorCode>> = {
  NOT_LEADER: 'NOT_LEADER',
  NO_QUORUM: 'UNAVAILABLE',
  TIMEOUT: 'TIMEOUT',
  LEADERSHIP_LOST: 'LEADERSHIP_LOST',
  BACKLOG_FULL: 'BACKLOG_FULL',
  TRANSFER_IN_PROGRESS: 'UNAVAILABLE',
  // Only membership changes meet it; the operator retries once the earlier change is done.
  CONF_CHANGE_IN_PROGRESS: 'CONF_CHANGE_IN_PROGRESS',
  STOPPED: 'UNAVAILABLE',
  INVALID_REQUEST: 'BAD_REQUEST',
  UNKNOWN_NODE: 'UNKNOWN_NODE',
  ALREADY_MEMBER: 'ALREADY_MEMBER',
  // From the admin workflow's checks, or from the Raft core's own when a change is proposed.
  MEMBERSHIP_FULL: 'MEMBERSHIP_FULL',
};

/** A RaftError or AdminError with a client meaning, a DiskSpaceError or a ParkingFullError, becomes a ServiceError; anything else passes unchanged (INTERNAL). */
export function toServiceError(error: unknown): unknown {
  if (error instanceof DiskSpaceError) return new ServiceError('NOSPACE', error.message);
  if (error instanceof ParkingFullError) return new ServiceError('BUSY', error.message);
  if (!(error instanceof RaftError || error instanceof AdminError)) return error;
  const code = Object.hasOwn(TO_CLIENT_CODE, error.code) ? TO_CLIENT_CODE[error.code] : undefined;
  if (code === undefined) return error;
  return new ServiceError(code, error.message, error instanceof RaftError ? error.leaderHint ?? undefined : undefined);
}

/** What the node offers the bridge: the ports' calls, rejecting with the node's own errors (RaftError, AdminError). */
export type NodeOperations = MailboxService & ClusterAdmin;

const mapped = <T>(p: Promise<T>): Promise<T> =>
  p.catch((error: unknown) => {
    throw toServiceError(error);
  });

export function bridgePort(node: NodeOperations): MailboxService & ClusterAdmin {
  return {
    isLeader: () => node.isLeader(),
    onRoleChange: (listener) => node.onRoleChange(listener),
    command: (cmd) => mapped(node.command(cmd)),
    consumeWaiting: (cmd, waitMs) => mapped(node.consumeWaiting(cmd, waitMs)),
    query: (q) => mapped(node.query(q)),
    status: () => mapped(node.status()),
    admin: (op) => mapped(node.admin(op)),
  };
}
