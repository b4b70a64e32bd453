// What the bridge needs from the local node to serve the cluster administration keys
// (`<prefix>/@cluster/admin/...`): adding and removing members. Like MailboxService, the bridge
// sees only promises and the ServiceError they reject with (UNKNOWN_NODE, ALREADY_MEMBER,
// MEMBERSHIP_FULL, NOT_LEADER, TIMEOUT, ...).

export type AdminOp =
  | {
      op: 'addNode';
      node: string;
      host: string;
      port: number;
      /** Longest wait, in ms, for the new node to catch up before it is promoted to voter. */
      catchUpMs: number;
    }
  | { op: 'removeNode'; node: string };

export interface MembershipView {
  voters: string[];
  learners: string[];
}

export interface ClusterAdmin {
  /** Resolves with the membership once the change is committed (served by the leader only). */
  admin(op: AdminOp): Promise<MembershipView>;
}
