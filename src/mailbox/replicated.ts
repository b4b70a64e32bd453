// The mailbox as a replicated state machine over bytes: structurally the `StateMachine` the Raft
// core drives (apply/snapshot/restore), plus the read path `query`. It imports nothing from Raft.
// An undecodable entry must not wedge the log, so it yields an encoded BAD_REQUEST result and
// leaves the state untouched.

import { MailboxDecodeError } from './binary.js';
import { decodeCommand, encodeResult } from './codec.js';
import type { ApplyMeta, MailboxQuery, MailboxResult } from './commands.js';
import { Mailbox } from './mailbox.js';
import type { MailboxOptions } from './options.js';

export class MailboxStateMachine {
  readonly mailbox: Mailbox;

  constructor(options: Partial<MailboxOptions> = {}) {
    this.mailbox = new Mailbox(options);
  }

  /**
   * Applies one committed entry and returns the encoded result. The bytes are a view into a slab
   * shared with other recent results (cheap to make): copy them if they are to be kept long.
   */
  apply(data: Uint8Array, meta: ApplyMeta): Uint8Array {
    let result: MailboxResult;
    try {
      result = this.mailbox.apply(decodeCommand(data), meta);
    } catch (err) {
      if (!(err instanceof MailboxDecodeError)) throw err;
      result = { kind: 'error', code: 'BAD_REQUEST', message: `undecodable command: ${err.message}` };
    }
    return encodeResult(result);
  }

  snapshot(): Uint8Array {
    return this.mailbox.snapshot();
  }

  restore(data: Uint8Array): void {
    this.mailbox.restore(data);
  }

  query(q: MailboxQuery, now: number): MailboxResult {
    return this.mailbox.query(q, now);
  }
}
