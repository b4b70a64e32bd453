// The node's one place where a command becomes a log entry and the state machine's result comes
// back to the proposer: a mailbox command yields a MailboxResult, a peer directory command its
// refusal (or null). Everything else in src/node proposes through these two functions.
//
// The proposer is where a leased consume gets its receipt randomness: the mailbox is pure and
// deterministic, so the leader draws it here and the log entry carries it to every replica.

import { randomBytes } from 'node:crypto';
import type { MailboxCommand, MailboxResult } from '../mailbox/commands.js';
import type { RaftDriver } from '../raft/driver.js';
import {
  directoryRefusalOf,
  encodeDirectoryEntry,
  encodeMailboxEntry,
  mailboxResultOf,
  type ClusterResult,
  type DirectoryCommand,
} from './cluster-state-machine.js';

/** Bytes of randomness in a lease receipt: 96 bits, 16 base64url characters. */
export const RECEIPT_NONCE_BYTES = 12;

/** Resolves once `cmd` is committed and applied, with what the mailbox made of it. */
export async function proposeMailbox(driver: RaftDriver<ClusterResult>, cmd: MailboxCommand): Promise<MailboxResult> {
  return mailboxResultOf(await driver.propose(encodeMailboxEntry(withReceiptNonce(cmd))));
}

/**
 * A leased consume with fresh randomness for its receipt (whatever nonce it came with is
 * replaced: only the proposer draws it); any other command as it is.
 */
export function withReceiptNonce(cmd: MailboxCommand): MailboxCommand {
  if (cmd.op !== 'consume' || cmd.leaseMs === undefined) return cmd;
  return { ...cmd, receiptNonce: randomBytes(RECEIPT_NONCE_BYTES).toString('base64url') };
}

/** Resolves once `cmd` is committed and applied, with the directory's refusal, or null when applied. */
export async function proposeDirectory(driver: RaftDriver<ClusterResult>, cmd: DirectoryCommand): Promise<string | null> {
  return directoryRefusalOf(await driver.propose(encodeDirectoryEntry(cmd)));
}
