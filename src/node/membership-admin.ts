// The membership administration a leader performs for operators: add-node (record the address in
// the replicated peer directory, add the node as a learner, wait until it caught up, promote it),
// remove-node, and the pruning of directory entries left by members that are gone.
//
// Bounds (checked before anything is written, so a refused add-node changes nothing): at most
// MAX_VOTERS voters, MAX_LEARNERS learners counting the nodes an add-node is about to make learners,
// and MAX_DIRECTORY_PEERS directory entries. An add-node that fails before its node became a
// learner drops the directory entry it wrote, so failed calls do not pile up entries; the Raft core
// enforces the same member limits on every proposed change.

import type { AdminOp, MembershipView } from '../bridge/cluster-admin.js';
import type { PeerAddress } from '../identifiers.js';
import type { LoggerPort } from '../logger-port.js';
import type { RaftDriver } from '../raft/driver.js';
import { isMember, MAX_LEARNERS, MAX_VOTERS } from '../raft/membership.js';
import { RaftError } from '../raft/types.js';
import { MAX_DIRECTORY_PEERS, type ClusterResult } from './cluster-state-machine.js';
import { proposeDirectory } from './proposals.js';

const CATCH_UP_POLL_MS = 50;
const CATCH_UP_LOG_MS = 2000;

/** Refusals specific to administration; the others are RaftError codes (NOT_LEADER, TIMEOUT, ...). */
export type AdminErrorCode = 'UNKNOWN_NODE' | 'ALREADY_MEMBER' | 'MEMBERSHIP_FULL';

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
    try {
      // Once a read is confirmed, every entry of earlier terms is applied: the directory is current.
      await this.o.driver.readBarrier();
    } catch {
      return;
    }
    await this.dropStaleEntries();
  }

  /** Drops the directory entries of nodes that are neither members nor being added; stops at the first failure. */
  private async dropStaleEntries(): Promise<void> {
    const { driver, log } = this.o;
    for (const node of Object.keys(this.o.directory())) {
      if (!this.o.isLeader()) return;
      if (!this.isStale(node)) continue;
      log.info({ node }, 'dropping the directory entry of a node that is not a member');
      try {
        await proposeDirectory(driver, { op: 'delete', node });
      } catch (err) {
        log.warn({ node, err }, 'could not drop a stale directory entry');
        return;
      }
    }
  }

  private isStale(node: string): boolean {
    return node !== this.o.nodeId && !this.adding.has(node) && !isMember(this.o.driver.status().membership, node);
  }

  /**
   * §4.2.1: the address first (the leader must reach the node as soon as it is a learner), then
   * the node as a learner, which catches up without counting for the quorum, then the promotion.
   * Each step is skipped when already done, so a retry finishes an interrupted add.
   */
  private async addNode(op: Extract<AdminOp, { op: 'addNode' }>): Promise<MembershipView> {
    const { driver, log } = this.o;
    const { node, host, port } = op;
    this.checkCanAdd(node);
    if (this.directoryFull(node)) {
      // Entries of nodes that are gone may fill it (an add-node or remove-node cut short by a lost
      // leadership): drop them first, then look again. No entry of `node` is written before.
      await this.dropStaleEntries();
      this.checkCanAdd(node);
      if (this.directoryFull(node)) {
        throw new AdminError('MEMBERSHIP_FULL', `the peer directory is full (${MAX_DIRECTORY_PEERS} entries, all of members or of nodes being added)`);
      }
    }
    // Synchronously after the checks: concurrent add-nodes see this one's reservation.
    this.adding.add(node);
    let wroteEntry = false;
    try {
      const known = this.o.directory()[node];
      if (known?.host !== host || known.port !== port) {
        const refused = await proposeDirectory(driver, { op: 'set', node, host, port });
        if (refused !== null) throw new RaftError('INVALID_REQUEST', refused);
        wroteEntry = known === undefined;
        log.info({ node, host, port }, 'add-node: address recorded in the peer directory');
      }
      if (!driver.status().membership.learners.includes(node)) {
        await driver.changeMembership({ type: 'addLearner', node });
        log.info({ node }, 'add-node: added as a learner, catching up');
      }
      await this.waitCaughtUp(node, op.catchUpMs);
      await driver.changeMembership({ type: 'promote', node });
      log.info({ node }, 'add-node: promoted to voter');
      return this.membershipView();
    } catch (err) {
      // A node that became a learner keeps its address (a retry finishes the add); one that did
      // not has no use for the entry this call wrote.
      if (wroteEntry && !isMember(driver.status().membership, node) && this.o.isLeader()) {
        await proposeDirectory(driver, { op: 'delete', node }).catch((e: unknown) => {
          log.warn({ node, err: e }, 'add-node: could not drop the address of a node that did not become a learner');
        });
      }
      throw err;
    } finally {
      this.adding.delete(node);
    }
  }

  /**
   * Refuses an add-node of a node another add-node works on, of a voter, or one the limits leave
   * no room for (MEMBERSHIP_FULL unless `node` can become a learner and then a voter; learner
   * slots count the nodes other add-nodes are about to make learners).
   */
  private checkCanAdd(node: string): void {
    if (this.adding.has(node)) throw new RaftError('CONF_CHANGE_IN_PROGRESS', `an add-node of ${node} is already running`);
    const m = this.o.driver.status().membership;
    if (m.voters.includes(node)) throw new AdminError('ALREADY_MEMBER', `${node} is already a voter`);
    if (m.voters.length >= MAX_VOTERS) {
      throw new AdminError('MEMBERSHIP_FULL', `already ${m.voters.length} voters (at most ${MAX_VOTERS}): remove-node one first`);
    }
    if (m.learners.includes(node)) return;
    const coming = [...this.adding].filter((n) => !isMember(m, n));
    if (m.learners.length + coming.length >= MAX_LEARNERS) {
      const busy = [...m.learners, ...coming].sort().join(', ');
      throw new AdminError(
        'MEMBERSHIP_FULL',
        `already ${MAX_LEARNERS} learners or nodes being added (${busy}): wait for their add-node, run it again to finish it, or remove-node them`,
      );
    }
  }

  /** Whether recording `node`'s address would take the directory, with the entries add-nodes are about to write, past its bound. */
  private directoryFull(node: string): boolean {
    const entries = new Set([...Object.keys(this.o.directory()), ...this.adding]);
    return !entries.has(node) && entries.size >= MAX_DIRECTORY_PEERS;
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
