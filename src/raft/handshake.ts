// The Raft transport's handshake, as two pure state machines over frames: no sockets, no clock,
// no randomness (the nonces are given), so every path can be tested byte for byte.
//
// The dialer D connects to the listener L:
//   D → L  HELLO      version, cluster id, D's id, the id D expects L to have, nonce_D
//   L → D  CHALLENGE  L's id, nonce_L, HMAC-SHA256(secret, transcript("listener"))
//   D → L  AUTH       HMAC-SHA256(secret, transcript("dialer"))
//   L → D  WELCOME    (D may now send MESSAGE frames; both sides may send PING frames)
// or L → D REJECT with a reason code, then close. The transcript binds role, cluster, both ids and
// both fresh nonces, so a proof can neither be replayed on another connection nor reflected in
// the other direction. Both sides verify with timingSafeEqual.
//
// The same handshake runs in both modes of the transport (tcp-transport.ts):
// - mutual TLS (production): the connection is TLS 1.3 with certificates of the cluster CA on
//   both sides, and the MAC key is the TLS session's exported keying material, so the proofs tie
//   this handshake to that TLS session. The identity comes from the certificates: the listener
//   is given the node id its dialer's certificate names (`certifiedPeer`) and refuses a HELLO
//   that claims another (REJECT "node id differs from its certificate"); the dialer checked the
//   listener's certificate before sending HELLO. Frames after WELCOME are protected by TLS.
// - shared secret (development only): plain TCP, the MAC key is the cluster secret. Frames after
//   the handshake are not individually authenticated: anyone on the path can inject or alter them.
//
// Version 2 of the protocol is version 1 plus the PING frame after WELCOME (frames.ts); every
// other byte is unchanged, the MAC transcript label included. A version-1 peer would close the
// connection at the first PING, so HELLO refuses it up front (REJECT "unsupported protocol version").
// Version 3: snapshot metadata in Raft messages carries the snapshot's entry time and the SHA-256
// of its data (codec.ts).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { ByteReader } from '../wire/reader.js';
import { ByteWriter } from '../wire/writer.js';
import { WireError } from '../wire/wire-error.js';
import { FRAME, ProtocolError, type Frame } from './frames.js';
import type { NodeId } from './types.js';

const PROTOCOL_VERSION = 3;
/** Bound on every frame before the peer is authenticated. */
export const HANDSHAKE_MAX_FRAME = 512;
export const MAX_CLUSTER_ID_BYTES = 128;
export const MAX_NODE_ID_BYTES = 64;
export const NONCE_BYTES = 32;
const MAC_BYTES = 32;

/** Reasons a listener gives in REJECT. */
export const REJECT = { version: 1, cluster: 2, node: 3, auth: 4, certificate: 5 } as const;
const REJECT_TEXT: Record<number, string> = {
  [REJECT.version]: 'unsupported protocol version',
  [REJECT.cluster]: 'different cluster id',
  [REJECT.node]: 'unexpected node id',
  [REJECT.auth]: 'authentication failed',
  [REJECT.certificate]: 'node id differs from its certificate',
};

/** Who this node is, and the key of the proofs: the cluster secret, or the TLS session's exported keying material. */
export interface HandshakeIdentity {
  clusterId: string;
  nodeId: NodeId;
  secret: string | Uint8Array;
}

export function rejectFrame(reason: number): Frame {
  return { kind: FRAME.reject, body: Uint8Array.of(reason) };
}

function proof(
  secret: string | Uint8Array,
  role: 'dialer' | 'listener',
  clusterId: string,
  dialer: NodeId,
  listener: NodeId,
  dialerNonce: Uint8Array,
  listenerNonce: Uint8Array,
): Buffer {
  const w = new ByteWriter();
  w.varString('forge-raft-handshake-v1');
  w.varString(role);
  w.varString(clusterId);
  w.varString(dialer);
  w.varString(listener);
  w.varBytes(dialerNonce);
  w.varBytes(listenerNonce);
  return createHmac('sha256', secret).update(w.finish()).digest();
}

function proofMatches(expected: Buffer, given: Uint8Array): boolean {
  return given.length === expected.length && timingSafeEqual(expected, given);
}

/** Reads a handshake frame body with the codec's bounded reader, mapping its errors to protocol errors. */
function parse<T>(body: Uint8Array, read: (r: ByteReader) => T): T {
  try {
    const r = new ByteReader(body);
    const value = read(r);
    r.end();
    return value;
  } catch (err) {
    if (err instanceof WireError) throw new ProtocolError(`malformed handshake frame: ${err.message}`);
    throw err;
  }
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`a nonce has ${NONCE_BYTES} bytes`);
}

/** The dialing side: sends HELLO, answers the CHALLENGE with AUTH, and is done at WELCOME. */
export class DialerHandshake {
  private stage: 'challenge' | 'welcome' | 'done' = 'challenge';

  constructor(
    private readonly self: HandshakeIdentity,
    /** The node this side expects to reach. */
    readonly peer: NodeId,
    private readonly nonce: Uint8Array,
  ) {
    checkNonce(nonce);
  }

  get done(): boolean {
    return this.stage === 'done';
  }

  hello(): Frame {
    const w = new ByteWriter();
    w.uint(PROTOCOL_VERSION);
    w.varString(this.self.clusterId);
    w.varString(this.self.nodeId);
    w.varString(this.peer);
    w.raw(this.nonce);
    return { kind: FRAME.hello, body: w.finish() };
  }

  /** One frame from the listener: the AUTH to send after its CHALLENGE, null at WELCOME. Throws ProtocolError. */
  receive(kind: number, body: Uint8Array): Frame | null {
    const { secret, clusterId, nodeId } = this.self;
    if (this.stage === 'challenge' && kind === FRAME.challenge) {
      const c = parse(body, (r) => ({ id: r.varString('node id', MAX_NODE_ID_BYTES), nonce: r.raw(NONCE_BYTES, 'nonce'), mac: r.raw(MAC_BYTES, 'proof') }));
      if (c.id !== this.peer) throw new ProtocolError(`expected node ${this.peer}, found ${c.id}`);
      const expected = proof(secret, 'listener', clusterId, nodeId, this.peer, this.nonce, c.nonce);
      if (!proofMatches(expected, c.mac)) throw new ProtocolError('peer failed authentication (different secret?)');
      this.stage = 'welcome';
      return { kind: FRAME.auth, body: proof(secret, 'dialer', clusterId, nodeId, this.peer, this.nonce, c.nonce) };
    }
    if (this.stage === 'welcome' && kind === FRAME.welcome && body.length === 0) {
      this.stage = 'done';
      return null;
    }
    if (this.stage !== 'done' && kind === FRAME.reject) {
      const reason = body.length === 1 ? REJECT_TEXT[body[0]!] : undefined;
      throw new ProtocolError(`peer refused the connection: ${reason ?? 'unknown reason'}`);
    }
    throw new ProtocolError(`unexpected frame kind ${kind} during ${this.stage === 'done' ? 'ready' : this.stage}`);
  }
}

/**
 * The listening side: answers HELLO with a CHALLENGE, a valid AUTH with WELCOME. A refusal throws
 * a ProtocolError whose `reject` (when not null) is the reason to send in REJECT before closing.
 */
export class ListenerHandshake {
  private stage: 'hello' | 'auth' | 'done' = 'hello';
  private expectedProof: Buffer | null = null;
  /** The dialer's claimed id once its HELLO arrived (authenticated only once `done`); '' before. */
  peer = '';

  constructor(
    private readonly self: HandshakeIdentity,
    private readonly nonce: Uint8Array,
    /** Under TLS: the node id the dialer's certificate names, which its HELLO must claim. */
    private readonly certifiedPeer: NodeId | null = null,
  ) {
    checkNonce(nonce);
  }

  get done(): boolean {
    return this.stage === 'done';
  }

  receive(kind: number, body: Uint8Array): Frame {
    const { secret, clusterId, nodeId } = this.self;
    if (this.stage === 'hello' && kind === FRAME.hello) {
      const h = parse(body, (r) => ({
        version: r.uint('protocol version'),
        cluster: r.varString('cluster id', MAX_CLUSTER_ID_BYTES),
        from: r.varString('node id', MAX_NODE_ID_BYTES),
        to: r.varString('node id', MAX_NODE_ID_BYTES),
        // A copy: kept until the dialer's proof arrives in a later frame.
        nonce: r.raw(NONCE_BYTES, 'nonce').slice(),
      }));
      this.peer = h.from;
      if (h.version !== PROTOCOL_VERSION) throw new ProtocolError(`protocol version ${h.version}`, REJECT.version);
      if (h.cluster !== clusterId) throw new ProtocolError(`cluster id ${JSON.stringify(h.cluster)}`, REJECT.cluster);
      if (h.to !== nodeId || h.from === nodeId || h.from.length === 0) {
        throw new ProtocolError(`dialer ${h.from} expected node ${h.to}`, REJECT.node);
      }
      if (this.certifiedPeer !== null && h.from !== this.certifiedPeer) {
        throw new ProtocolError(`dialer claims node ${h.from} with the certificate of ${this.certifiedPeer}`, REJECT.certificate);
      }
      const w = new ByteWriter();
      w.varString(nodeId);
      w.raw(this.nonce);
      w.raw(proof(secret, 'listener', clusterId, h.from, nodeId, h.nonce, this.nonce));
      this.expectedProof = proof(secret, 'dialer', clusterId, h.from, nodeId, h.nonce, this.nonce);
      this.stage = 'auth';
      return { kind: FRAME.challenge, body: w.finish() };
    }
    if (this.stage === 'auth' && kind === FRAME.auth) {
      if (this.expectedProof === null || !proofMatches(this.expectedProof, body)) throw new ProtocolError('dialer failed authentication', REJECT.auth);
      this.stage = 'done';
      return { kind: FRAME.welcome, body: new Uint8Array() };
    }
    throw new ProtocolError(`unexpected frame kind ${kind} during ${this.stage === 'done' ? 'ready' : this.stage}`);
  }
}
