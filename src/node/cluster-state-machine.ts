// The state machine a forge-mailbox node replicates: the mailbox, plus a small peer directory
// (node id → Raft address) that tells every node how to reach the members added at run time.
// Each log entry is a one-byte tag and a payload: tag 0 a mailbox command (mailbox codec), tag 1
// a directory command. Pure and deterministic like the mailbox: the directory changes only
// through the log, and its snapshot lists it in node id order.
//
// Directory command: u8 op (1 set, 2 delete), str node, then for set: str host, u16 port.
// Snapshot: the 4 bytes "FCSM", u8 version, u32 peer count, per peer (node id order) str node,
// str host, u16 port, then u32 length + the mailbox snapshot.
// A directory command that does not decode or validate changes nothing and yields a refusal
// result; so does an entry with an unknown tag (an undecodable entry must not wedge the log).

import { ByteReader, ByteWriter, MailboxDecodeError, utf8Length } from '../mailbox/binary.js';
import { encodeCommand, encodeResult } from '../mailbox/codec.js';
import type { ApplyMeta, MailboxCommand } from '../mailbox/commands.js';
import type { MailboxStateMachine } from '../mailbox/replicated.js';
import { isValidHost, isValidNodeId, isValidPort, type PeerAddress } from '../identifiers.js';

export const enum EntryTag {
  Mailbox = 0,
  Directory = 1,
}

export type DirectoryCommand = { op: 'set'; node: string; host: string; port: number } | { op: 'delete'; node: string };

/** Thrown for a malformed directory command or snapshot image; the state is untouched. */
export class ClusterStateError extends Error {
  readonly code = 'DECODE_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'ClusterStateError';
  }
}

const enum DirectoryOp {
  Set = 1,
  Delete = 2,
}

const SNAPSHOT_MAGIC = [0x46, 0x43, 0x53, 0x4d]; // "FCSM"
const SNAPSHOT_VERSION = 1;
/** More peers than any sane cluster; bounds what a snapshot may make us allocate. */
export const MAX_DIRECTORY_PEERS = 1024;
const MAX_NODE_ID_BYTES = 32;
const MAX_HOST_BYTES = 253;
/** Smallest encoded peer: two 1-byte strings with their u16 prefixes and a port. */
const MIN_PEER_BYTES = 2 + 1 + 2 + 1 + 2;

/** Why `cmd` may not be applied, or null when it may. */
export function directoryCommandProblem(cmd: DirectoryCommand): string | null {
  if (!isValidNodeId(cmd.node)) return `invalid node id ${JSON.stringify(cmd.node.slice(0, 40))}`;
  if (cmd.op === 'set') {
    if (!isValidHost(cmd.host)) return `invalid host ${JSON.stringify(cmd.host.slice(0, 40))}`;
    if (!isValidPort(cmd.port)) return `invalid port ${cmd.port}`;
  }
  return null;
}

/** A mailbox command as a log entry: the tag, then the mailbox codec's bytes. */
export function encodeMailboxEntry(cmd: MailboxCommand): Uint8Array {
  const body = encodeCommand(cmd);
  const out = new Uint8Array(body.length + 1);
  out[0] = EntryTag.Mailbox;
  out.set(body, 1);
  return out;
}

export function encodeDirectoryEntry(cmd: DirectoryCommand): Uint8Array {
  const problem = directoryCommandProblem(cmd);
  if (problem !== null) throw new ClusterStateError(problem);
  const w = new ByteWriter(64);
  w.u8(EntryTag.Directory);
  w.u8(cmd.op === 'set' ? DirectoryOp.Set : DirectoryOp.Delete);
  w.str(cmd.node);
  if (cmd.op === 'set') {
    w.str(cmd.host);
    w.u16(cmd.port);
  }
  return w.finish();
}

/** Decodes the payload of a directory entry (after the tag); throws ClusterStateError. */
export function decodeDirectoryCommand(payload: Uint8Array): DirectoryCommand {
  return decoding(() => {
    const r = new ByteReader(payload);
    const op = r.u8('directory op');
    const node = r.str('node id', MAX_NODE_ID_BYTES);
    let cmd: DirectoryCommand;
    if (op === DirectoryOp.Set) {
      const host = r.str('host', MAX_HOST_BYTES);
      cmd = { op: 'set', node, host, port: r.u16('port') };
    } else if (op === DirectoryOp.Delete) {
      cmd = { op: 'delete', node };
    } else {
      throw new ClusterStateError(`unknown directory op ${op}`);
    }
    r.end();
    const problem = directoryCommandProblem(cmd);
    if (problem !== null) throw new ClusterStateError(problem);
    return cmd;
  });
}

/**
 * The result of a directory entry: empty when applied, else the UTF-8 reason it was refused.
 * Returns that reason, or null.
 */
export function decodeDirectoryResult(result: Uint8Array): string | null {
  return result.length === 0 ? null : new TextDecoder().decode(result);
}

const APPLIED = new Uint8Array(0);

export class ClusterStateMachine {
  private directory = new Map<string, PeerAddress>();

  /** `onDirectoryChange` hears the whole directory after every change and every restore. */
  constructor(
    readonly mailbox: MailboxStateMachine,
    private readonly onDirectoryChange: (peers: Record<string, PeerAddress>) => void = () => {},
  ) {}

  apply(data: Uint8Array, meta: ApplyMeta): Uint8Array {
    const tag = data[0];
    if (tag === EntryTag.Mailbox) return this.mailbox.apply(data.subarray(1), meta);
    if (tag === EntryTag.Directory) return this.applyDirectory(data.subarray(1));
    return encodeResult({ kind: 'error', code: 'BAD_REQUEST', message: `unknown entry tag ${tag ?? '(empty entry)'}` });
  }

  /** The directory, as a plain object (a copy). */
  peers(): Record<string, PeerAddress> {
    const out: Record<string, PeerAddress> = {};
    for (const [id, a] of this.directory) out[id] = { ...a };
    return out;
  }

  snapshot(): Uint8Array {
    const mailbox = this.mailbox.snapshot();
    const peers = [...this.directory].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let size = SNAPSHOT_MAGIC.length + 1 + 4 + 4 + mailbox.length;
    for (const [id, a] of peers) size += 2 + utf8Length(id) + 2 + utf8Length(a.host) + 2;
    const w = new ByteWriter(size);
    for (const b of SNAPSHOT_MAGIC) w.u8(b);
    w.u8(SNAPSHOT_VERSION);
    w.u32(peers.length);
    for (const [id, a] of peers) {
      w.str(id);
      w.str(a.host);
      w.u16(a.port);
    }
    w.bytesField(mailbox);
    return w.detach();
  }

  /** Replaces the whole state; throws ClusterStateError or MailboxDecodeError with the state untouched. */
  restore(data: Uint8Array): void {
    const { directory, mailbox } = decoding(() => {
      const r = new ByteReader(data);
      for (const b of SNAPSHOT_MAGIC) {
        if (r.u8('snapshot magic') !== b) throw new ClusterStateError('not a cluster state snapshot');
      }
      const version = r.u8('snapshot version');
      if (version !== SNAPSHOT_VERSION) throw new ClusterStateError(`unsupported cluster snapshot version ${version}`);
      const count = r.count('peer count', MAX_DIRECTORY_PEERS, MIN_PEER_BYTES);
      const directory = new Map<string, PeerAddress>();
      let previous = '';
      for (let i = 0; i < count; i++) {
        const node = r.str('node id', MAX_NODE_ID_BYTES);
        const host = r.str('host', MAX_HOST_BYTES);
        const port = r.u16('port');
        const problem = directoryCommandProblem({ op: 'set', node, host, port });
        if (problem !== null) throw new ClusterStateError(problem);
        // Node id order is the one encoding; it also rules out duplicates.
        if (i > 0 && node <= previous) throw new ClusterStateError('peers not in strictly increasing node id order');
        previous = node;
        directory.set(node, { host, port });
      }
      const mailbox = r.bytes('mailbox snapshot', data.length);
      r.end();
      return { directory, mailbox };
    });
    this.mailbox.restore(mailbox);
    this.directory = directory;
    this.onDirectoryChange(this.peers());
  }

  private applyDirectory(payload: Uint8Array): Uint8Array {
    let cmd: DirectoryCommand;
    try {
      cmd = decodeDirectoryCommand(payload);
    } catch (err) {
      if (!(err instanceof ClusterStateError)) throw err;
      return new TextEncoder().encode(`undecodable directory command: ${err.message}`);
    }
    if (cmd.op === 'set') {
      const known = this.directory.get(cmd.node);
      if (known?.host === cmd.host && known.port === cmd.port) return APPLIED;
      if (known === undefined && this.directory.size >= MAX_DIRECTORY_PEERS) {
        return new TextEncoder().encode(`the peer directory is full (${MAX_DIRECTORY_PEERS} peers)`);
      }
      this.directory.set(cmd.node, { host: cmd.host, port: cmd.port });
    } else if (!this.directory.delete(cmd.node)) {
      return APPLIED;
    }
    this.onDirectoryChange(this.peers());
    return APPLIED;
  }
}

/** Runs a decoder, turning the byte reader's errors into ClusterStateError. */
function decoding<T>(decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof MailboxDecodeError) throw new ClusterStateError(err.message);
    throw err;
  }
}
