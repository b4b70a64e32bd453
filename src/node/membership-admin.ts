// The membership administration a leader performs for operators: add-node (record the address in
// the replicated peer directory, add the node as a learner, wait until it caught up, promote it),
// remove-node, and the pruning of directory entries left by members that are gone.

import type { AdminOp, MembershipView } from '../bridge/cluster-admin.js';
import type { PeerAddress } from '../identifiers.js';
import type { LoggerPort } from '../logger-port.js';
import type { RaftDriver } from '../raft/driver.js';
import { isMember } from '../raft/membership.js';
import { RaftError } from '../raft/types.js';
import type { ClusterResult } from './cluster-state-machine.js';
import { proposeDirectory } from './proposals.js';

const CATCH_UP_POLL_MS = 50;
const CATCH_UP_LOG_MS = 2000;

/** Refusals specific to administration; the others are RaftError codes (NOT_LEADER, TIMEOUT, ...). */
export type AdminErrorCode = 'UNKNOWN_NODE' | 'ALREADY_MEMBER';

export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export interface MembershipAdminOptions {
  nodeId: string;
  driver: RaftDriver<ClusterResult>;
  /** The replicated peer directory as this node has applied it. */
  directory: () => Record<string, PeerAddress>;
  /** Whether this node leads and serves (false once it is stopping). */
  isLeader: () => boolean;
  log: LoggerPort;
}

export class MembershipAdmin {
  /** Nodes an add-node of this leader is working on: their directory entries are not stale. */
  private readonly adding = new Set<string>();

  constructor(private readonly o: MembershipAdminOptions) {}

  /** Resolves with the membership once the change is committed; only the leader makes changes. */
  async run(op: AdminOp): Promise<MembershipView> {
    if (!this.o.isLeader()) throw new RaftError('NOT_LEADER', 'membership changes are made by the leader', this.o.driver.softState().leader);
    return op.op === 'addNode' ? this.addNode(op) : this.removeNode(op.node);
  }

  /**
   * A new leader drops directory entries of nodes that are no longer members: those left by a
   * leader that removed itself, or by an add-node cut short before the node became a learner.
   */
  async pruneDirectory(): Promise<void> {
    const { driver, nodeId, log } = this.o;
    try {
      // Once a read is confirmed, every entry of earlier terms is applied: the directory is current.
      await driver.readBarrier();
    } catch {
      return;
    }
    for (const node of Object.keys(this.o.directory())) {
      if (!this.o.isLeader()) return;
      if (node === nodeId || this.adding.has(node) || isMember(driver.status().membership, node)) continue;
      log.info({ node }, 'dropping the directory entry of a node that is not a member');
      try {
        await proposeDirectory(driver, { op: 'delete', node });
      } catch (err) {
        log.warn({ node, err }, 'could not drop a stale directory entry');
        return;
      }
    }
  }

  /**
   * §4.2.1: the address first (the leader must reach the node as soon as it is a learner), then
   * the node as a learner, which catches up without counting for the quorum, then the promotion.
   * Each step is skipped when already done, so a retry finishes an interrupted add.
   */
  private async addNode(op: Extract<AdminOp, { op: 'addNode' }>): Promise<MembershipView> {
    const { driver, log } = this.o;
    const { node, host, port } = op;
    const membership = driver.status().membership;
    if (membership.voters.includes(node)) throw new AdminError('ALREADY_MEMBER', `${node} is already a voter`);
    this.adding.add(node);
    try {
      const known = this.o.directory()[node];
      if (known?.host !== host || known.port !== port) {
        const refused = await proposeDirectory(driver, { op: 'set', node, host, port });
        if (refused !== null) throw new RaftError('INVALID_REQUEST', refused);
        log.info({ node, host, port }, 'add-node: address recorded in the peer directory');
      }
      if (!membership.learners.includes(node)) {
        await driver.changeMembership({ type: 'addLearner', node });
        log.info({ node }, 'add-node: added as a learner, catching up');
      }
      await this.waitCaughtUp(node, op.catchUpMs);
      await driver.changeMembership({ type: 'promote', node });
      log.info({ node }, 'add-node: promoted to voter');
      return this.membershipView();
    } finally {
      this.adding.delete(node);
    }
  }

  /** Until the learner holds every entry committed when the wait began (the log keeps growing meanwhile). */
  private async waitCaughtUp(node: string, timeoutMs: number): Promise<void> {
    const { driver, log } = this.o;
    const target = driver.status().commit;
    const started = Date.now();
    let lastLog = started;
    for (;;) {
      const st = driver.status();
      if (st.role !== 'leader') throw new RaftError('NOT_LEADER', `lost leadership while ${node} was catching up`, st.leader);
      if (!st.membership.learners.includes(node)) throw new AdminError('UNKNOWN_NODE', `${node} was removed while it was catching up`);
      const match = st.progress[node]?.match ?? 0;
      if (match >= target) {
        log.info({ node, match, target, ms: Date.now() - started }, 'add-node: caught up');
        return;
      }
      const now = Date.now();
      if (now - started >= timeoutMs) {
        throw new RaftError(
          'TIMEOUT',
          `${node} reached index ${match} of ${target} within ${timeoutMs} ms; it stays a learner: run add-node again to finish (check its address and that it runs with "join": true)`,
        );
      }
      if (now - lastLog >= CATCH_UP_LOG_MS) {
        lastLog = now;
        log.info({ node, match, target, waitedMs: now - started }, 'add-node: learner catching up');
      }
      await new Promise((r) => setTimeout(r, CATCH_UP_POLL_MS));
    }
  }

  /**
   * §4.2.2: a leader removing itself steps down once the removal commits (the core hands over to
   * the most up-to-date voter); its directory entry is then dropped by the next leader.
   */
  private async removeNode(node: string): Promise<MembershipView> {
    const { driver, nodeId, log } = this.o;
    if (!isMember(driver.status().membership, node)) throw new AdminError('UNKNOWN_NODE', `${node} is not a member`);
    await driver.changeMembership({ type: 'remove', node });
    log.info({ node }, 'remove-node: removed from the membership');
    if (node !== nodeId && this.o.directory()[node] !== undefined) {
      await proposeDirectory(driver, { op: 'delete', node });
    }
    return this.membershipView();
  }

  private membershipView(): MembershipView {
    const m = this.o.driver.status().membership;
    return { voters: [...m.voters].sort(), learners: [...m.learners].sort() };
  }
}
