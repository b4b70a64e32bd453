// Every decoder that takes bytes (or text) from outside the process or from disk, as a fuzz
// target of the harness (test/fuzz/harness.ts): Raft messages, entry runs, hard state, snapshot
// meta and configuration changes; transport frames and the handshake; mailbox commands and
// snapshots; cluster-state entries and images; the key-space parser with its parameters and
// attachments; capability tokens; the byte toolkit's reader. Valid encodings come from the
// encoders (round trips compare values, or re-encodings where the format is canonical), so a
// format change (a version bump) adapts without touching this file.

import assert from 'node:assert/strict';
import fc from 'fast-check';

import { AuthError, type Capability, type Operation } from '../../src/auth/capability.js';
import { generateSigningKey } from '../../src/auth/key-files.js';
import { TokenVerifier, issueToken } from '../../src/auth/tokens.js';
import { parseGet, parsePut, type Parsed } from '../../src/bridge/key-space.js';
import { decodeCommand, encodeCommand } from '../../src/mailbox/codec.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { readSnapshot, writeSnapshot } from '../../src/mailbox/snapshot.js';
import { ClusterStateMachine, encodeDirectoryEntry, encodeMailboxEntry } from '../../src/node/cluster-state-machine.js';
import { decodeEntries, decodeHardState, decodeMessage, decodeSnapshotMeta, encodeEntries, encodeHardState, encodeMessage, encodeSnapshotMeta } from '../../src/raft/codec.js';
import { FRAME, FrameDecoder, ProtocolError, encodeFrame } from '../../src/raft/frames.js';
import { DialerHandshake, ListenerHandshake } from '../../src/raft/handshake.js';
import { decodeConfChange, encodeConfChange } from '../../src/raft/membership.js';
import type { ConfChange } from '../../src/raft/types.js';
import { WireError } from '../../src/wire/wire-error.js';
import { decodeBatchPut, decodeConsumes, decodePuts, encodeBatchPut, encodeConsumes, encodePuts, type AddressedConsume, type AddressedMessage, type FramedMessage } from '../../src/bridge/batch-framing.js';
import { decodeReply, encodeConsumeOutcomes, encodePutOutcomes, ReplyDecodeError, BRIDGE_ERROR_CODES, type ErrorBody } from '../../src/bridge/reply-format.js';
import type { MailboxResult } from '../../src/mailbox/commands.js';
import { command } from '../support/mailbox-arbitraries.js';
import { entryRun, hardState, message, nodeId, snapshotMeta } from '../support/raft-arbitraries.js';
import { readRecord, wireRecord, writeRecord } from '../support/wire.js';
import type { FuzzTarget, ValidSample } from './harness.js';

/** A batch put's messages as the framing carries them (any id text, any ttl). */
const batchPut: fc.Arbitrary<FramedMessage[]> = fc.array(
  fc
    .record({ body: fc.uint8Array({ maxLength: 64 }), id: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), ttlMs: fc.option(fc.double({ noNaN: true }), { nil: undefined }) })
    .map(({ body, id, ttlMs }) => ({ body, ...(id === undefined ? {} : { id }), ...(ttlMs === undefined ? {} : { ttlMs }) })),
  { minLength: 1, maxLength: 5 },
);

/** The messages of a `@puts` request as the framing carries them (any user, id and times). */
const manyPuts: fc.Arbitrary<AddressedMessage[]> = fc.array(
  fc
    .record({
      user: fc.string({ maxLength: 20 }),
      body: fc.uint8Array({ maxLength: 64 }),
      id: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      ttlMs: fc.option(fc.double({ noNaN: true }), { nil: undefined }),
      delayMs: fc.option(fc.double({ noNaN: true }), { nil: undefined }),
    })
    .map(({ user, body, id, ttlMs, delayMs }) => ({
      user,
      body,
      ...(id === undefined ? {} : { id }),
      ...(ttlMs === undefined ? {} : { ttlMs }),
      ...(delayMs === undefined ? {} : { delayMs }),
    })),
  { minLength: 1, maxLength: 5 },
);

/** What a `@puts` request's messages came to: a put, or a refusal. */
const putOutcomes: fc.Arbitrary<(MailboxResult | ErrorBody)[]> = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('put' as const), id: fc.string({ maxLength: 20 }), seq: fc.nat(), duplicate: fc.boolean() }),
    fc.record({ code: fc.constantFrom(...BRIDGE_ERROR_CODES), message: fc.string({ maxLength: 40 }) }),
  ),
  { minLength: 1, maxLength: 5 },
);
/** The consumes of a `@consumes` request as the framing carries them. */
const manyConsumes: fc.Arbitrary<AddressedConsume[]> = fc.array(
  fc
    .record({
      user: fc.string({ maxLength: 20 }),
      requestId: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      leaseMs: fc.option(fc.double({ noNaN: true }), { nil: undefined }),
      deadLetter: fc.boolean(),
    })
    .map(({ user, requestId, leaseMs, deadLetter }) => ({
      user,
      ...(requestId === undefined ? {} : { requestId }),
      ...(leaseMs === undefined ? {} : { leaseMs }),
      ...(deadLetter ? { deadLetter } : {}),
    })),
  { minLength: 1, maxLength: 5 },
);

/** What a `@consumes` request's consumes came to: a message, empty, or a refusal. */
const consumeOutcomes = fc.array(
  fc.oneof(
    fc.constant({ kind: 'empty' as const }),
    fc
      .record({
        id: fc.string({ maxLength: 20 }),
        seq: fc.nat(),
        body: fc.uint8Array({ maxLength: 64 }),
        enqueuedAt: fc.nat(),
        expiresAt: fc.nat(),
        deliveries: fc.nat(),
        receipt: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
        leaseExpiresAt: fc.option(fc.nat(), { nil: undefined }),
      })
      .map(({ receipt, leaseExpiresAt, ...m }) => ({
        kind: 'message' as const,
        message: { ...m, ...(receipt === undefined ? {} : { receipt }), ...(leaseExpiresAt === undefined ? {} : { leaseExpiresAt }) },
      })),
    fc.record({ code: fc.constantFrom(...BRIDGE_ERROR_CODES), message: fc.string({ maxLength: 40 }) }),
  ),
  { minLength: 1, maxLength: 5 },
);
const CONSUMES_ATTACHMENT = new TextEncoder().encode(JSON.stringify({ status: 'consumes' }));
const PUTS_ATTACHMENT = new TextEncoder().encode(JSON.stringify({ status: 'puts' }));

const wireRefusal = (err: unknown) => (err instanceof WireError ? `refused:${err.code}` : null);
const protocolRefusal = (err: unknown) => (err instanceof ProtocolError ? `refused:${err.reject === null ? 'protocol' : `reject-${err.reject}`}` : null);

/** A target whose valid encodings are `encode(v)` for `values`, decoding back to a deep-equal value. */
function codec<T>(name: string, covers: string, values: fc.Arbitrary<T>, encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => unknown): FuzzTarget {
  return {
    name,
    covers,
    valid: values.map((v): ValidSample => ({ bytes: encode(v), expect: (d) => assert.deepEqual(d, v) })),
    decode,
    refusal: wireRefusal,
  };
}

/** A target whose valid encodings must decode to something that re-encodes to the very same bytes. */
function canonical<T>(name: string, covers: string, encodings: fc.Arbitrary<Uint8Array>, decode: (b: Uint8Array) => T, encode: (v: T) => Uint8Array): FuzzTarget {
  return {
    name,
    covers,
    valid: encodings.map((bytes): ValidSample => ({ bytes, expect: (d) => assert.deepEqual(encode(d as T), bytes) })),
    decode,
    refusal: wireRefusal,
  };
}

const confChange: fc.Arbitrary<ConfChange> = fc.record({ type: fc.constantFrom('addLearner' as const, 'promote' as const, 'remove' as const), node: nodeId }, { noNullPrototype: true });

/** Several frames back to back, as one TCP stream carries them. */
const frames = fc.array(fc.record({ kind: fc.integer({ min: 1, max: 7 }), body: fc.uint8Array({ maxLength: 64 }) }, { noNullPrototype: true }), { minLength: 1, maxLength: 4 });
const FRAME_MAX = 1024;

function readFrames(b: Uint8Array): { kind: number; body: Uint8Array }[] {
  const d = new FrameDecoder(FRAME_MAX);
  // Two pushes, as a stream cut anywhere delivers them.
  const cut = b.length >> 1;
  d.push(Buffer.from(b.subarray(0, cut)));
  d.push(Buffer.from(b.subarray(cut)));
  const out: { kind: number; body: Uint8Array }[] = [];
  for (let f = d.next(); f !== null; f = d.next()) out.push({ kind: f.kind, body: new Uint8Array(f.body) });
  return out;
}

const CLUSTER = 'fuzz-cluster';
const SECRET = 'a secret of sixteen characters or more';
const NONCE = new Uint8Array(32).fill(7);
/** HELLO (for a listener `b`) or CHALLENGE (for a dialer of `b`), tagged by the frame kind byte. */
const handshakeFrames = fc.constantFrom(FRAME.hello, FRAME.challenge).map((kind) => {
  const dialer = new DialerHandshake({ clusterId: CLUSTER, nodeId: 'a', secret: SECRET }, 'b', NONCE);
  const hello = dialer.hello();
  if (kind === FRAME.hello) return Uint8Array.from([kind, ...hello.body]);
  const challenge = new ListenerHandshake({ clusterId: CLUSTER, nodeId: 'b', secret: SECRET }, NONCE).receive(hello.kind, hello.body);
  return Uint8Array.from([kind, ...challenge.body]);
});

function handshake(b: Uint8Array): unknown {
  const kind = b[0] === FRAME.challenge ? FRAME.challenge : FRAME.hello;
  if (kind === FRAME.hello) return new ListenerHandshake({ clusterId: CLUSTER, nodeId: 'b', secret: SECRET }, NONCE).receive(kind, b.subarray(1));
  const dialer = new DialerHandshake({ clusterId: CLUSTER, nodeId: 'a', secret: SECRET }, 'b', NONCE);
  dialer.hello();
  return dialer.receive(kind, b.subarray(1));
}

/** A mailbox after a few commands (puts, consumes with leases, dead letters): its snapshot is a valid image. */
const mailboxImage = fc.array(command, { maxLength: 12 }).map((cmds) => {
  const sm = new MailboxStateMachine({ maxDeliveries: 2 });
  cmds.forEach((c, i) => sm.apply(encodeCommand(c), { index: i + 1, term: 1, time: 1_700_000_000_000 + 1000 * i }));
  return sm.snapshot();
});

const peer = fc.record({ node: fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/), host: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), port: fc.integer({ min: 1, max: 65535 }) }, { noNullPrototype: true });
const clusterEntry = fc.oneof(
  peer.map((p) => encodeDirectoryEntry({ op: 'set', ...p })),
  peer.map((p) => encodeDirectoryEntry({ op: 'delete', node: p.node })),
  command.map((c) => encodeMailboxEntry(c)),
);
const clusterMachine = () => new ClusterStateMachine(new MailboxStateMachine());
const clusterState = fc.tuple(fc.array(clusterEntry, { maxLength: 8 })).map(([entries]) => {
  const sm = clusterMachine();
  entries.forEach((e, i) => sm.apply(e, { index: i + 1, term: 1, time: 1_700_000_000_000 }));
  return sm;
});
const clusterImage = clusterState.map((sm) => sm.snapshot());
/**
 * The same state in cluster snapshot version 1 (still read): the version byte 1 and a u32 length
 * in front of the mailbox snapshot. It restores to the state whose image is the current version.
 */
const clusterImageV1 = clusterState.map((sm): ValidSample => {
  const image = sm.snapshot();
  const mailbox = sm.mailbox.snapshot();
  const head = image.length - mailbox.length;
  const bytes = new Uint8Array(image.length + 4);
  bytes.set(image.subarray(0, head));
  bytes[4] = 1;
  new DataView(bytes.buffer).setUint32(head, mailbox.length, true);
  bytes.set(mailbox, head + 4);
  return { bytes, expect: (d) => assert.deepEqual((d as ClusterStateMachine).snapshot(), image) };
});

/**
 * Feeds `b` to a restore sink in pieces cut every few bytes (a stride that depends on the input,
 * 1 to 23), as the driver feeds an image a slice at a time, then finishes it.
 */
function restoreInPieces<T extends { restoreSink(size: number): { write(p: Uint8Array): void; finish(): void } }>(sm: T, b: Uint8Array): T {
  const sink = sm.restoreSink(b.length);
  const stride = 1 + ((b.length * 7) % 23);
  for (let at = 0; at < b.length; at += stride) sink.write(b.subarray(at, at + stride));
  sink.finish();
  return sm;
}

const PREFIX = 'forge/mailbox';
const LIMITS = { maxBodyBytes: 1024 };
const KEY_SPACE_CODES = new Set(['BAD_USER', 'BAD_REQUEST', 'TOO_LARGE', 'UNKNOWN_OP']);
const classifyParsed = (r: unknown) => {
  const p = r as Parsed<unknown>;
  if (p.ok) return 'accepted';
  return KEY_SPACE_CODES.has(p.error.code) ? `refused:${p.error.code}` : `FAIL:code-${p.error.code}`;
};
const expectAccepted = (d: unknown) => assert.ok((d as Parsed<unknown>).ok, JSON.stringify(d));
const user = fc.stringMatching(/^[A-Za-z0-9._-]{1,24}$/).filter((u) => u !== '.' && u !== '..');
const id = fc.stringMatching(/^[A-Za-z0-9._:+=/-][A-Za-z0-9._:@+=/-]{0,20}$/);
const ms = fc.integer({ min: 1, max: 86_400_000 });
/** `key?parameters` of a valid GET. */
const getRequest = fc.oneof(
  fc.tuple(user, id, ms).map(([u, i, t]) => `${PREFIX}/${u}/put?id=${i};ttl=${t}`),
  fc.tuple(user, id, ms).map(([u, i, l]) => `${PREFIX}/${u}/consume?rid=${i}&lease=${l}`),
  fc.tuple(user, fc.constantFrom('peek?dlq', 'len', 'purge?dlq=1', 'consume?dlq=true')).map(([u, op]) => `${PREFIX}/${u}/${op}`),
  fc.tuple(user, id, fc.constantFrom('ack', 'nack')).map(([u, r, op]) => `${PREFIX}/${u}/${op}?receipt=${r}`),
  fc.tuple(user, id, ms).map(([u, r, d]) => `${PREFIX}/${u}/nack?receipt=${r}&delay=${d}`),
  fc.tuple(user, id, ms).map(([u, r, l]) => `${PREFIX}/${u}/touch?receipt=${r}&lease=${l}`),
  fc.tuple(user, ms).map(([u, d]) => `${PREFIX}/${u}/put?delay=${d}`),
  fc.tuple(user, fc.option(ms, { nil: undefined })).map(([u, n]) => `${PREFIX}/${u}/redrive${n === undefined ? '' : `?max=${n}`}`),
  fc.constantFrom(`${PREFIX}/@cluster/status`, `${PREFIX}/@cluster/admin/add-node?node=n4;host=10.0.0.4;port=7000`, `${PREFIX}/@cluster/admin/remove-node?node=n1`),
);
const utf8 = new TextEncoder();
const lenient = new TextDecoder();

function keySpaceGet(b: Uint8Array): unknown {
  const text = lenient.decode(b);
  const q = text.indexOf('?');
  return parseGet(PREFIX, q < 0 ? text : text.slice(0, q), q < 0 ? '' : text.slice(q + 1), b.subarray(0, 8), LIMITS);
}

/** A PUT sample's attachment: the capability token, and maybe an id and a ttl. */
const attachment = fc.tuple(fc.string({ maxLength: 40 }), fc.option(id, { nil: undefined }), fc.option(ms, { nil: undefined })).map(([token, i, ttl]) =>
  utf8.encode(JSON.stringify({ token, ...(i === undefined ? {} : { id: i }), ...(ttl === undefined ? {} : { ttl }) })),
);

/** Capability tokens need keys and a few issued tokens first. */
async function tokenTarget(): Promise<FuzzTarget> {
  const key = await generateSigningKey();
  const verifier = new TokenVerifier({ jwks: { keys: [key.publicKey] }, audience: CLUSTER });
  const issued: [string, string[], Operation[]][] = [['alice', ['alice'], ['consume', 'peek']], ['svc', ['*'], ['put']], ['op.1', ['a', 'b', 'c'], ['admin', 'purge', 'status']]];
  const grants = new Map(issued.map(([principal, users, ops]) => [principal, [ops, users]]));
  const tokens = await Promise.all(
    issued.map(([principal, users, ops]) =>
      issueToken({ signingKey: key.signingKey, audience: CLUSTER, principal, users, ops, ttlSeconds: 3600 }).then((t) => [principal, t] as const),
    ),
  );
  return {
    name: 'auth-token',
    covers: 'src/auth/tokens.ts TokenVerifier.verify',
    valid: fc.constantFrom(...tokens).map(([principal, token]): ValidSample => ({
      bytes: utf8.encode(token),
      expect: (cap) => assert.equal((cap as { principal: string }).principal, principal),
    })),
    decode: (b) => verifier.verify(lenient.decode(b)),
    // Base64url is malleable in the unused low bits of a part's last character, so a mutant may
    // carry the very same signed bytes: it must then grant exactly what the original grants.
    checkAccepted: (cap) => {
      const c = cap as Capability;
      const issued = grants.get(c.principal);
      assert.ok(issued !== undefined, `a mutated token verified for ${c.principal}`);
      assert.deepEqual([[...c.ops].sort(), c.users === '*' ? ['*'] : [...c.users].sort()], issued);
    },
    refusal: (err) => (err instanceof AuthError && err.code === 'UNAUTHORIZED' ? 'refused:UNAUTHORIZED' : null),
  };
}

export async function fuzzTargets(): Promise<FuzzTarget[]> {
  return [
    codec('raft-message', 'src/raft/codec.ts decodeMessage', message, (m) => encodeMessage(m), (b) => decodeMessage(b)),
    codec('raft-entries', 'src/raft/codec.ts decodeEntries', entryRun, (e) => encodeEntries(e), (b) => decodeEntries(b)),
    codec('raft-hard-state', 'src/raft/codec.ts decodeHardState', hardState, (h) => encodeHardState(h), (b) => decodeHardState(b)),
    codec('raft-snapshot-meta', 'src/raft/codec.ts decodeSnapshotMeta', snapshotMeta, (m) => encodeSnapshotMeta(m), (b) => decodeSnapshotMeta(b)),
    {
      ...codec('raft-conf-change', 'src/raft/membership.ts decodeConfChange', confChange, encodeConfChange, decodeConfChange),
      // Malformed changes decode to null: every replica ignores the same entry.
      classify: (r) => (r === null ? 'refused:null' : 'accepted'),
    },
    {
      name: 'raft-frames',
      covers: 'src/raft/frames.ts FrameDecoder',
      valid: frames.map((fs): ValidSample => ({
        bytes: new Uint8Array(Buffer.concat(fs.map((f) => encodeFrame(f.kind, f.body)))),
        expect: (d) => assert.deepEqual(d, fs),
      })),
      decode: readFrames,
      refusal: protocolRefusal,
    },
    {
      name: 'raft-handshake',
      covers: 'src/raft/handshake.ts HELLO and CHALLENGE',
      valid: handshakeFrames.map((bytes): ValidSample => ({ bytes, expect: (d) => assert.ok(d !== null && typeof d === 'object') })),
      decode: handshake,
      refusal: protocolRefusal,
    },
    canonical('mailbox-command', 'src/mailbox/codec.ts decodeCommand', command.map(encodeCommand), decodeCommand, encodeCommand),
    canonical('mailbox-snapshot', 'src/mailbox/snapshot.ts readSnapshot', mailboxImage, (b) => readSnapshot(b), writeSnapshot),
    canonical('mailbox-snapshot-pieces', 'src/mailbox/snapshot.ts SnapshotReader fed in pieces (Mailbox.restoreSink)', mailboxImage, (b) => restoreInPieces(new MailboxStateMachine({ maxDeliveries: 2 }), b), (sm) => sm.snapshot()),
    {
      name: 'cluster-entry',
      covers: 'src/node/cluster-state-machine.ts apply (entry tags, directory commands)',
      valid: clusterEntry.map((bytes): ValidSample => ({ bytes, expect: (d) => assert.notEqual((d as { entry: string }).entry, 'undecodable') })),
      decode: (b) => clusterMachine().apply(b, { index: 1, term: 1, time: 1_700_000_000_000 }),
      refusal: () => null,
      // An undecodable entry is a typed result, never an exception: it must not wedge the log.
      classify: (r) => {
        const x = r as { entry: string; error?: unknown; result?: { kind: string; code?: string } };
        if (x.entry === 'undecodable') return x.error instanceof WireError ? `refused:${x.error.code}` : 'FAIL:untyped-result';
        return x.result?.kind === 'error' ? `accepted:${x.result.code}` : `accepted:${x.entry}`;
      },
    },
    canonical('cluster-snapshot', 'src/node/cluster-state-machine.ts restore', clusterImage, (b) => {
      const sm = clusterMachine();
      sm.restore(b);
      return sm;
    }, (sm) => sm.snapshot()),
    canonical('cluster-snapshot-pieces', 'src/node/cluster-state-machine.ts restoreSink fed in pieces', clusterImage, (b) => restoreInPieces(clusterMachine(), b), (sm) => sm.snapshot()),
    {
      name: 'cluster-snapshot-v1',
      covers: 'src/node/cluster-state-machine.ts restoreSink of a version-1 image (u32 mailbox snapshot length)',
      valid: clusterImageV1,
      decode: (b) => restoreInPieces(clusterMachine(), b),
      refusal: wireRefusal,
    },
    {
      name: 'key-space-get',
      covers: 'src/bridge/key-space.ts parseGet, parseParameters',
      valid: getRequest.map((text): ValidSample => ({ bytes: utf8.encode(text), expect: expectAccepted })),
      decode: keySpaceGet,
      refusal: () => null,
      classify: classifyParsed,
    },
    {
      name: 'key-space-attachment',
      covers: 'src/bridge/key-space.ts parsePut, parseAttachment',
      valid: attachment.map((bytes): ValidSample => ({ bytes, expect: expectAccepted })),
      decode: (b) => parsePut(PREFIX, `${PREFIX}/alice`, b.subarray(0, 16), b, LIMITS),
      refusal: () => null,
      classify: classifyParsed,
    },
    codec(
      'batch-put-framing',
      'src/bridge/batch-framing.ts decodeBatchPut',
      batchPut,
      encodeBatchPut,
      (b) => decodeBatchPut(b, 1024, 64 * 1024),
    ),
    codec('puts-framing', 'src/bridge/batch-framing.ts decodePuts', manyPuts, encodePuts, (b) => decodePuts(b, 64 * 1024)),
    {
      name: 'puts-reply',
      covers: 'src/bridge/reply-format.ts decodeReply ("puts")',
      valid: putOutcomes.map(
        (outcomes): ValidSample => ({
          bytes: encodePutOutcomes(outcomes).payload,
          expect: (d) =>
            assert.deepEqual(
              d,
              {
                status: 'puts',
                puts: outcomes.map((o) => ('kind' in o && o.kind === 'put' ? { ok: true, id: o.id, seq: o.seq, duplicate: o.duplicate } : { ok: false, error: { code: (o as ErrorBody).code, message: (o as ErrorBody).message } })),
              },
            ),
        }),
      ),
      decode: (b) => decodeReply(b, PUTS_ATTACHMENT),
      refusal: (err) => (err instanceof ReplyDecodeError ? 'refused:reply' : null),
    },
    codec('consumes-framing', 'src/bridge/batch-framing.ts decodeConsumes', manyConsumes, encodeConsumes, decodeConsumes),
    {
      name: 'consumes-reply',
      covers: 'src/bridge/reply-format.ts decodeReply ("consumes")',
      valid: consumeOutcomes.map(
        (outcomes): ValidSample => ({
          bytes: encodeConsumeOutcomes(outcomes).payload,
          expect: (d) =>
            assert.deepEqual(d, {
              status: 'consumes',
              consumes: outcomes.map((o) =>
                'kind' in o ? { ok: true, message: o.kind === 'message' ? o.message : null } : { ok: false, error: { code: o.code, message: o.message } },
              ),
            }),
        }),
      ),
      decode: (b) => decodeReply(b, CONSUMES_ATTACHMENT),
      refusal: (err) => (err instanceof ReplyDecodeError ? 'refused:reply' : null),
    },
    await tokenTarget(),
    codec('wire-reader', 'src/wire/reader.ts, text.ts (every field kind)', wireRecord, writeRecord, readRecord),
  ];
}
