// A MailboxService for bridge tests: the real mailbox state machine applied directly, without
// Raft, each command prepared as the node's proposer prepares it (receipt randomness). Leadership is set by the test; a non-leader rejects like the node does (NOT_LEADER), and
// a test can make the next requests fail with any error code a client may see. A waiting consume
// (long poll) is a plain consume tried again after every put to its mailbox until its wait ends:
// enough for the bridge's tests; the node's parking has its own (test/node/long-poll.test.ts).

import { ServiceError, type MailboxService } from '../../src/bridge/mailbox-service.js';
import type { BridgeErrorCode } from '../../src/bridge/reply-format.js';
import type { ConsumeCommand, MailboxCommand, MailboxQuery, MailboxResult } from '../../src/mailbox/commands.js';
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
  /** Waiting consumes to try again after a put, per mailbox. */
  private readonly waiting = new Map<string, Set<() => void>>();

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
    const result = this.mailbox.apply(withReceiptNonce(cmd), { index: this.index, term: 1, time: Date.now() });
    if (cmd.op === 'put') for (const retry of this.waiting.get(cmd.user) ?? []) retry();
    return result;
  }

  async consumeWaiting(cmd: ConsumeCommand, waitMs: number): Promise<MailboxResult> {
    const first = await this.command(cmd);
    if (first.kind !== 'empty') return first;
    return new Promise((resolve, reject) => {
      const set = this.waiting.get(cmd.user) ?? new Set<() => void>();
      this.waiting.set(cmd.user, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(retry);
      };
      const retry = () => {
        queueMicrotask(() =>
          this.command(cmd).then(
            (r) => {
              if (r.kind === 'empty') return;
              done();
              resolve(r);
            },
            (e: unknown) => {
              done();
              reject(e);
            },
          ),
        );
      };
      const timer = setTimeout(() => {
        done();
        resolve(first);
      }, waitMs);
      set.add(retry);
    });
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
