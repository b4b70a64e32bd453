// Cluster membership: who votes, who only learns, how a one-server change (§4.1) transforms it,
// and how a ConfChange travels inside a log entry. The core applies a change as soon as the entry
// is appended (not committed), so it keeps the history needed to undo an uncommitted change that
// a new leader truncates away.

import { RaftError, type ConfChange, type Membership, type NodeId } from './types.js';

/**
 * The membership limits a forge-mailbox cluster runs with (RaftConfig.maxVoters / maxLearners):
 * seven voters survive three failures and every further voter slows each commit; two learners let
 * an operator add or replace nodes one at a time with one spare. Far below the snapshot codec's
 * member limit, so a membership can always be written.
 */
export const MAX_VOTERS = 7;
export const MAX_LEARNERS = 2;

export function cloneMembership(m: Membership): Membership {
  return { voters: [...m.voters], learners: [...m.learners] };
}

/** Same voters and same learners, in any order (ids are unique within each list). Called on every append: keep it cheap. */
export function sameMembership(a: Membership, b: Membership): boolean {
  return a === b || (sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners));
}

function sameIds(x: readonly NodeId[], y: readonly NodeId[]): boolean {
  return x.length === y.length && x.every((id) => y.includes(id));
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id);
}

export function isMember(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.learners.includes(id);
}

/** Votes (or acknowledgements) needed from the voters for a decision. */
export function quorumSize(m: Membership): number {
  return Math.floor(m.voters.length / 2) + 1;
}

/** The result of applying `cc`; throws INVALID_REQUEST for a change that makes no sense here. */
export function applyConfChange(m: Membership, cc: ConfChange): Membership {
  const next = cloneMembership(m);
  switch (cc.type) {
    case 'addLearner':
      if (isMember(m, cc.node)) throw new RaftError('INVALID_REQUEST', `${cc.node} is already a member`);
      next.learners.push(cc.node);
      return next;
    case 'promote':
      if (!m.learners.includes(cc.node)) throw new RaftError('INVALID_REQUEST', `${cc.node} is not a learner`);
      next.learners = next.learners.filter((n) => n !== cc.node);
      next.voters.push(cc.node);
      return next;
    case 'remove':
      if (!isMember(m, cc.node)) throw new RaftError('INVALID_REQUEST', `${cc.node} is not a member`);
      if (m.voters.length === 1 && m.voters[0] === cc.node) {
        throw new RaftError('INVALID_REQUEST', 'cannot remove the last voter');
      }
      next.voters = next.voters.filter((n) => n !== cc.node);
      next.learners = next.learners.filter((n) => n !== cc.node);
      return next;
  }
}

const MAX_CONF_CHANGE_BYTES = 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: cc.type, node: cc.node }));
}

/** Decodes the payload of a ConfChange entry; returns null for anything malformed. */
export function decodeConfChange(data: Uint8Array): ConfChange | null {
  if (data.length === 0 || data.length > MAX_CONF_CHANGE_BYTES) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { type, node } = parsed as { type?: unknown; node?: unknown };
  if (typeof node !== 'string' || node.length === 0) return null;
  if (type !== 'addLearner' && type !== 'promote' && type !== 'remove') return null;
  return { type, node };
}

/**
 * Membership as of each configuration entry still in the log, on top of the membership as of the
 * snapshot (or the bootstrap membership).
 */
export class MembershipHistory {
  private base: Membership;
  private changes: { index: number; membership: Membership }[] = [];

  constructor(base: Membership) {
    this.base = cloneMembership(base);
  }

  current(): Membership {
    return this.changes.at(-1)?.membership ?? this.base;
  }

  /** Index of the latest configuration entry in the log, 0 if the membership comes from the base. */
  lastChangeIndex(): number {
    return this.changes.at(-1)?.index ?? 0;
  }

  at(index: number): Membership {
    for (let i = this.changes.length - 1; i >= 0; i--) {
      const c = this.changes[i]!;
      if (c.index <= index) return c.membership;
    }
    return this.base;
  }

  record(index: number, membership: Membership): void {
    this.changes.push({ index, membership: cloneMembership(membership) });
  }

  /** The log was truncated from `index` on: changes there never happened. */
  truncateFrom(index: number): void {
    while ((this.changes.at(-1)?.index ?? 0) >= index) this.changes.pop();
  }

  /** The log prefix through `index` became a snapshot whose membership is `membership`. */
  compactTo(index: number, membership: Membership): void {
    this.base = cloneMembership(membership);
    this.changes = this.changes.filter((c) => c.index > index);
  }

  reset(base: Membership): void {
    this.base = cloneMembership(base);
    this.changes = [];
  }
}
