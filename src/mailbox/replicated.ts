// The mailbox as a replicated state machine over log entries: structurally the `StateMachine` the
// Raft core drives (apply/snapshotSource/restoreSink), plus the read path `query`. It imports nothing
// from Raft. `apply` returns the typed result, which the driver hands to the proposer in this
// process; an undecodable entry must not wedge the log, so it yields a BAD_REQUEST result and
// leaves the state untouched.

import type { BodyStore } from './body-store.js';
import { decodeCommand } from './codec.js';
import type { ApplyMeta, ConsumeCommand, MailboxCommand, MailboxQuery, MailboxResult } from './commands.js';
import { Mailbox } from './mailbox.js';
import type { ImageSink } from './snapshot.js';
import type { StreamSteps } from './snapshot-stream.js';
import type { MailboxOptions } from './options.js';
import { WireError } from '../wire/wire-error.js';

/** Structurally the Raft `SnapshotSource`: the next piece of the image (empty: not yet), null at the end. */
export interface ImageSource {
  next(): Uint8Array | null;
  close(): void;
}

/** Hears every applied command with its result (the node wakes parked consumers with it). */
export type AppliedListener = (cmd: MailboxCommand, result: MailboxResult) => void;

export class MailboxStateMachine {
  readonly mailbox: Mailbox;
  private appliedListener: AppliedListener | null = null;

  /** `bodies` holds the message bodies (an empty store; default in memory). */
  constructor(options: Partial<MailboxOptions> = {}, bodies?: BodyStore) {
    this.mailbox = new Mailbox(options, bodies);
  }

  /**
   * Applies one committed entry. The result may share objects with the state (a remembered consume
   * result, the frozen empty result): holders read it, never change it.
   */
  apply(data: Uint8Array, meta: ApplyMeta): MailboxResult {
    let cmd;
    try {
      cmd = decodeCommand(data);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      return { kind: 'error', code: 'BAD_REQUEST', message: `undecodable command: ${err.message}` };
    }
    const result = this.mailbox.apply(cmd, meta);
    this.appliedListener?.(cmd, result);
    return result;
  }

  /** Sets the one listener told of every applied command (it must not change the state). */
  onApplied(listener: AppliedListener | null): void {
    this.appliedListener = listener;
  }

  snapshot(): Uint8Array {
    return this.mailbox.snapshot();
  }

  /** The point-in-time image `snapshot()` would make now, pulled in bounded pieces (snapshot-stream.ts). */
  snapshotSource(steps?: StreamSteps): ImageSource {
    const stream = this.mailbox.snapshotStream(steps);
    return { next: () => stream.next(), close: () => stream.close() };
  }

  /** Takes an image of `size` bytes a piece at a time beside the live state (see Mailbox.restoreSink). */
  restoreSink(size: number): ImageSink {
    return this.mailbox.restoreSink(size);
  }

  /** Replaces the state with a snapshot's; throws WireError (state untouched) on a bad image. */
  restore(data: Uint8Array): void {
    this.mailbox.restore(data);
  }

  query(q: MailboxQuery, now: number): MailboxResult {
    return this.mailbox.query(q, now);
  }

  /** See Mailbox.consumeWithoutLog: the answer to a consume that changes nothing, or null. */
  consumeWithoutLog(cmd: ConsumeCommand, now: number): MailboxResult | null {
    return this.mailbox.consumeWithoutLog(cmd, now);
  }

  /** See Mailbox.nextVisibleAt. */
  nextVisibleAt(user: string, now: number): number {
    return this.mailbox.nextVisibleAt(user, now);
  }

  /** See Mailbox.consumeCanWait. */
  consumeCanWait(cmd: ConsumeCommand, now: number): MailboxResult | null {
    return this.mailbox.consumeCanWait(cmd, now);
  }
}
