// The state machine a forge-mailbox node replicates: the mailbox, plus a small peer directory
// (node id → Raft address) that tells every node how to reach the members added at run time.
// Each log entry is a one-byte tag and a payload: tag 0 a mailbox command (mailbox codec), tag 1
// a directory command. Pure and deterministic like the mailbox: the directory changes only
// through the log, and its snapshot lists it in node id order.
//
// Directory command: u8 op (1 set, 2 delete), str node, then for set: str host, u16 port.
// Snapshot: the 4 bytes "FCSM", u8 version (2), u32 peer count, per peer (node id order) str node,
// str host, u16 port, then the mailbox snapshot: the rest of the image, whatever its size (the
// Raft layer carries the image's size as a varint). Version 1, still read, had a u32 length in
// front of the mailbox snapshot, which limited it to 4 GiB.
// Both are built with the byte toolkit's fixed family (src/wire).
// `apply` returns a typed ClusterResult, which the driver hands to the proposer in this process.
// An entry that does not decode or validate (unknown tag, bad directory command) changes nothing
// and yields an `undecodable` result: an undecodable entry must not wedge the log.

import { encodeCommand } from '../mailbox/codec.js';
import type { ApplyMeta, MailboxCommand, MailboxResult } from '../mailbox/commands.js';
import type { ImageSource, MailboxStateMachine } from '../mailbox/replicated.js';
import type { ImageSink } from '../mailbox/snapshot.js';
import type { StreamSteps } from '../mailbox/snapshot-stream.js';
import { isValidHost, isValidNodeId, isValidPort, type PeerAddress } from '../identifiers.js';
import { PieceDecoder } from '../wire/piece-decoder.js';
import { ByteReader } from '../wire/reader.js';
import { utf8Length } from '../wire/text.js';
import { ByteWriter } from '../wire/writer.js';
import { WireError } from '../wire/wire-error.js';

export const enum EntryTag {
  Mailbox = 0,
  Directory = 1,
}

export type DirectoryCommand = { op: 'set'; node: string; host: string; port: number } | { op: 'delete'; node: string };

/** What applying one entry yields. */
export type ClusterResult =
  | { entry: 'mailbox'; result: MailboxResult }
  /** `refused` says why the directory was left unchanged, null when the command took effect (or had nothing to do). */
  | { entry: 'directory'; refused: string | null }
  | { entry: 'undecodable'; error: WireError };

/** The mailbox's answer to a proposed mailbox entry; one that did not decode is the client's BAD_REQUEST. */
export function mailboxResultOf(r: ClusterResult): MailboxResult {
  if (r.entry === 'mailbox') return r.result;
  if (r.entry === 'undecodable') return { kind: 'error', code: 'BAD_REQUEST', message: `undecodable entry: ${r.error.message}` };
  throw new Error('a mailbox entry yielded a directory result');
}

/** Why a proposed directory entry changed nothing, or null when it was applied. */
export function directoryRefusalOf(r: ClusterResult): string | null {
  if (r.entry === 'directory') return r.refused;
  if (r.entry === 'undecodable') return `undecodable directory command: ${r.error.message}`;
  throw new Error('a directory entry yielded a mailbox result');
}

const enum DirectoryOp {
  Set = 1,
  Delete = 2,
}

const SNAPSHOT_MAGIC = [0x46, 0x43, 0x53, 0x4d]; // "FCSM"
const SNAPSHOT_VERSION = 2;
/** The format with a u32 length in front of the mailbox snapshot; read, never written. */
const SNAPSHOT_VERSION_1 = 1;
/**
 * Room for every member (at most MAX_VOTERS + MAX_LEARNERS, src/raft/membership.ts) with ample
 * slack for entries of nodes that are gone until a leader prunes them. The membership admin refuses
 * an add-node that would pass it; applying refuses a set past it (deterministically, on every
 * replica); it also bounds what a snapshot may make us allocate.
 */
export const MAX_DIRECTORY_PEERS = 64;
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

/** Throws WireError (INVALID) for a command that fails validation: callers validate first. */
export function encodeDirectoryEntry(cmd: DirectoryCommand): Uint8Array {
  const problem = directoryCommandProblem(cmd);
  if (problem !== null) throw new WireError('INVALID', problem);
  const w = new ByteWriter(64);
  w.u8(EntryTag.Directory);
  w.u8(cmd.op === 'set' ? DirectoryOp.Set : DirectoryOp.Delete);
  w.u16String(cmd.node);
  if (cmd.op === 'set') {
    w.u16String(cmd.host);
    w.u16(cmd.port);
  }
  return w.finish();
}

/** Decodes the payload of a directory entry (after the tag); throws WireError. */
export function decodeDirectoryCommand(payload: Uint8Array): DirectoryCommand {
  const r = new ByteReader(payload);
  const op = r.u8('directory op');
  const node = r.u16String('node id', MAX_NODE_ID_BYTES);
  let cmd: DirectoryCommand;
  if (op === DirectoryOp.Set) {
    const host = r.u16String('host', MAX_HOST_BYTES);
    cmd = { op: 'set', node, host, port: r.u16('port') };
  } else if (op === DirectoryOp.Delete) {
    cmd = { op: 'delete', node };
  } else {
    throw new WireError('UNKNOWN_TAG', `unknown directory op ${op}`);
  }
  r.end();
  const problem = directoryCommandProblem(cmd);
  if (problem !== null) throw new WireError('INVALID', problem);
  return cmd;
}

const APPLIED: ClusterResult = Object.freeze({ entry: 'directory', refused: null });

export class ClusterStateMachine {
  private directory = new Map<string, PeerAddress>();

  /** `onDirectoryChange` hears the whole directory after every change and every restore. */
  constructor(
    readonly mailbox: MailboxStateMachine,
    private readonly onDirectoryChange: (peers: Record<string, PeerAddress>) => void = () => {},
  ) {}

  apply(data: Uint8Array, meta: ApplyMeta): ClusterResult {
    const tag = data[0];
    if (tag === EntryTag.Mailbox) return { entry: 'mailbox', result: this.mailbox.apply(data.subarray(1), meta) };
    if (tag === EntryTag.Directory) return this.applyDirectory(data.subarray(1));
    const error = tag === undefined ? new WireError('TRUNCATED', 'empty entry') : new WireError('UNKNOWN_TAG', `unknown entry tag ${tag}`);
    return { entry: 'undecodable', error };
  }

  /** The directory, as a plain object (a copy). */
  peers(): Record<string, PeerAddress> {
    const out: Record<string, PeerAddress> = {};
    for (const [id, a] of this.directory) out[id] = { ...a };
    return out;
  }

  snapshot(): Uint8Array {
    const mailbox = this.mailbox.snapshot();
    const head = this.imageHead(this.sortedPeers());
    const out = new Uint8Array(head.length + mailbox.length);
    out.set(head);
    out.set(mailbox, head.length);
    return out;
  }

  /**
   * The image `snapshot()` would make now, in bounded pieces while entries go on being applied
   * (the Raft StateMachine's source). The directory is small: it is copied at once, and written
   * as the first piece.
   */
  snapshotSource(steps?: StreamSteps): ImageSource {
    const stream = this.mailbox.mailbox.snapshotStream(steps);
    let head: Uint8Array | null = this.imageHead(this.sortedPeers());
    return {
      next: () => {
        if (head === null) return stream.next();
        const first = head;
        head = null;
        return first;
      },
      close: () => stream.close(),
    };
  }

  /** The directory in node id order, each address a copy (the one encoding). */
  private sortedPeers(): [string, PeerAddress][] {
    return [...this.directory].map(([id, a]): [string, PeerAddress] => [id, { ...a }]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Everything in front of the mailbox image: magic, version, the peers. */
  private imageHead(peers: [string, PeerAddress][]): Uint8Array {
    let size = SNAPSHOT_MAGIC.length + 1 + 4;
    for (const [id, a] of peers) size += 2 + utf8Length(id) + 2 + utf8Length(a.host) + 2;
    const w = ByteWriter.exact(size);
    for (const b of SNAPSHOT_MAGIC) w.u8(b);
    w.u8(SNAPSHOT_VERSION);
    w.u32(peers.length);
    for (const [id, a] of peers) {
      w.u16String(id);
      w.u16String(a.host);
      w.u16(a.port);
    }
    return w.finish();
  }

  /**
   * Takes an image of `size` bytes a piece at a time (bounded work per piece) beside the live
   * state: the directory at once (it is small), then the mailbox image through the mailbox's own
   * sink. `finish` replaces the whole state; a bad image throws WireError from `write` or `finish`
   * and leaves it untouched.
   */
  restoreSink(size: number): ImageSink {
    const directory = new Map<string, PeerAddress>();
    let peersLeft = -1;
    let previous = '';
    let version = 0;
    let mailbox: ImageSink | null = null;
    let mailboxLeft = 0;
    const decoder = new PieceDecoder(size, (r) => {
      if (peersLeft < 0) {
        for (const b of SNAPSHOT_MAGIC) {
          if (r.u8('snapshot magic') !== b) throw new WireError('BAD_VERSION', 'not a cluster state snapshot');
        }
        version = r.u8('snapshot version');
        if (version !== SNAPSHOT_VERSION && version !== SNAPSHOT_VERSION_1) throw new WireError('BAD_VERSION', `unsupported cluster snapshot version ${version}`);
        peersLeft = r.u32Count('peer count', MAX_DIRECTORY_PEERS, MIN_PEER_BYTES);
        return true;
      }
      if (peersLeft > 0) {
        const node = r.u16String('node id', MAX_NODE_ID_BYTES);
        const host = r.u16String('host', MAX_HOST_BYTES);
        const port = r.u16('port');
        const problem = directoryCommandProblem({ op: 'set', node, host, port });
        if (problem !== null) throw new WireError('INVALID', problem);
        // Node id order is the one encoding; it also rules out duplicates.
        if (directory.size > 0 && node <= previous) throw new WireError('INVALID', 'peers not in strictly increasing node id order');
        previous = node;
        directory.set(node, { host, port });
        peersLeft--;
        return true;
      }
      if (mailbox === null) {
        // Version 2: the mailbox snapshot is the rest of the image. Version 1: a u32 length that must say so.
        let n = r.remainingInRecord;
        if (version === SNAPSHOT_VERSION_1) {
          const said = r.u32('mailbox snapshot');
          n = r.remainingInRecord;
          if (said > n) throw new WireError('TRUNCATED', 'input ends inside mailbox snapshot');
          if (said < n) throw new WireError('TRAILING_BYTES', `${n - said} bytes after the end of the record`);
        }
        mailbox = this.mailbox.restoreSink(n);
        mailboxLeft = n;
        return n > 0;
      }
      const piece = r.raw(Math.min(r.remaining, mailboxLeft), 'mailbox snapshot');
      mailboxLeft -= piece.length;
      mailbox.write(piece);
      return mailboxLeft > 0;
    });
    let open = true;
    const check = () => {
      if (!open) throw new Error('restore already finished or aborted');
    };
    return {
      write: (piece) => {
        check();
        decoder.write(piece);
      },
      finish: () => {
        check();
        decoder.finish();
        // The decoder completes only once it has opened the mailbox image's sink.
        mailbox!.finish();
        open = false;
        this.directory = directory;
        this.onDirectoryChange(this.peers());
      },
      abort: () => {
        open = false;
        mailbox?.abort();
      },
    };
  }

  /** Replaces the whole state (the sink fed in one piece); throws WireError with the state untouched. */
  restore(data: Uint8Array): void {
    const sink = this.restoreSink(data.length);
    sink.write(data);
    sink.finish();
  }

  private applyDirectory(payload: Uint8Array): ClusterResult {
    let cmd: DirectoryCommand;
    try {
      cmd = decodeDirectoryCommand(payload);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      return { entry: 'undecodable', error: err };
    }
    if (cmd.op === 'set') {
      const known = this.directory.get(cmd.node);
      if (known?.host === cmd.host && known.port === cmd.port) return APPLIED;
      if (known === undefined && this.directory.size >= MAX_DIRECTORY_PEERS) {
        return { entry: 'directory', refused: `the peer directory is full (${MAX_DIRECTORY_PEERS} peers)` };
      }
      this.directory.set(cmd.node, { host: cmd.host, port: cmd.port });
    } else if (!this.directory.delete(cmd.node)) {
      return APPLIED;
    }
    this.onDirectoryChange(this.peers());
    return APPLIED;
  }
}
