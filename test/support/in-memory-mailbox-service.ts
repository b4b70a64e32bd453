// A MailboxService for bridge tests: the real mailbox state machine applied directly, without
// Raft, each command prepared as the node's proposer prepares it (receipt randomness). Leadership is set by the test; a non-leader rejects like the node does (NOT_LEADER), and
// a test can make the next requests fail with any error code a client may see.

import { ServiceError, type MailboxService } from '../../src/bridge/mailbox-service.js';
import type { BridgeErrorCode } from '../../src/bridge/reply-format.js';
import type { MailboxCommand, MailboxQuery, MailboxResult } from '../../src/mailbox/commands.js';
import { Mailbox } from '../../src/mailbox/mailbox.js';
import { withReceiptNonce } from '../../src/node/proposals.js';

export class InMemoryMailboxService implements MailboxService {
  readonly mailbox: Mailbox;
  private leader: boolean;
  private readonly listeners = new Set<(isLeader: boolean) => void>();
  private index = 0;
  private failures: BridgeErrorCode[] = [];
  /** Every command that reached the service, in order (what a Raft leader would have proposed). */
  readonly commands: MailboxCommand[] = [];

  constructor(
    readonly nodeId: string,
    options: { leader: boolean; mailbox?: Mailbox },
  ) {
    this.leader = options.leader;
    this.mailbox = options.mailbox ?? new Mailbox();
  }

  isLeader(): boolean {
    return this.leader;
  }

  setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    for (const listener of this.listeners) listener(leader);
  }

  /** Stops leading without notifying listeners: the window where a stale leader still has its queryables. */
  demoteWithoutNotice(): void {
    this.leader = false;
  }

  onRoleChange(listener: (isLeader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next `codes.length` commands/queries reject with these errors, in order. */
  failNext(...codes: BridgeErrorCode[]): void {
    this.failures.push(...codes);
  }

  async command(cmd: MailboxCommand): Promise<MailboxResult> {
    this.check();
    this.commands.push(cmd);
    this.index += 1;
    return this.mailbox.apply(withReceiptNonce(cmd), { index: this.index, term: 1, time: Date.now() });
  }

  async query(q: MailboxQuery): Promise<MailboxResult> {
    this.check();
    return this.mailbox.query(q, Date.now());
  }

  async status(): Promise<unknown> {
    return { nodeId: this.nodeId, leader: this.leader, applied: this.index };
  }

  private check(): void {
    const failure = this.failures.shift();
    if (failure !== undefined) throw new ServiceError(failure, `injected ${failure}`);
    if (!this.leader) throw new ServiceError('NOT_LEADER', `${this.nodeId} is not the leader`);
  }
}
