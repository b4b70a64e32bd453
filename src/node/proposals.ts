// The node's one place where a command becomes a log entry and the state machine's result comes
// back to the proposer: a mailbox command yields a MailboxResult, a peer directory command its
// refusal (or null). Everything else in src/node proposes through these two functions.

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

/** Resolves once `cmd` is committed and applied, with what the mailbox made of it. */
export async function proposeMailbox(driver: RaftDriver<ClusterResult>, cmd: MailboxCommand): Promise<MailboxResult> {
  return mailboxResultOf(await driver.propose(encodeMailboxEntry(cmd)));
}

/** Resolves once `cmd` is committed and applied, with the directory's refusal, or null when applied. */
export async function proposeDirectory(driver: RaftDriver<ClusterResult>, cmd: DirectoryCommand): Promise<string | null> {
  return directoryRefusalOf(await driver.propose(encodeDirectoryEntry(cmd)));
}
