// Client sessions for exactly-once commands (Raft dissertation §6.3), as a StateMachine wrapping
// any other StateMachine.
//
// A command is a small envelope: either PLAIN (passed straight to the inner machine) or SESSION
// carrying (clientId, seq, firstOutstandingSeq). The wrapper applies each (clientId, seq) at most
// once and answers a repeat with the response it cached the first time. `firstOutstandingSeq` is
// the client's acknowledgement that it holds the responses of all lower seqs, so those are dropped;
// at most `maxResponsesPerClient` responses are kept per client (beyond that the lowest goes and a
// retry of it is answered RESPONSE_DISCARDED rather than re-applied).
//
// Sessions are created by seq 1. A session expires when its last activity is more than
// `sessionTimeoutMs` older than "now", where now is the highest entry time applied so far (entry
// times come from the leader's clock and may step back across leader changes; taking the maximum
// keeps now monotonic). Expiry and the `maxSessions` eviction depend only on the applied entries,
// so they happen identically on every replica — provided all replicas share the same options.
// A command whose session is unknown (expired, evicted or never created) with seq > 1 is refused
// with SESSION_EXPIRED: its earlier commands may or may not have been applied, so applying it
// could break exactly-once; the client must start a new session.
//
// Every response is wrapped: a status byte, then (for OK) the inner machine's response.

import { ByteReader, ByteWriter, CodecError } from './codec.js';
import type { StateMachine } from './types.js';

export interface SessionOptions {
  sessionTimeoutMs: number;
  /** Beyond this many sessions the least recently active one is evicted. */
  maxSessions: number;
  maxResponsesPerClient: number;
}

export interface SessionCommand {
  clientId: string;
  /** 1, 2, 3, … per client; 1 opens the session. */
  seq: number;
  /** The lowest seq whose response the client has not yet received (≤ seq). */
  firstOutstandingSeq: number;
  data: Uint8Array;
}

export type SessionEnvelope = ({ kind: 'session' } & SessionCommand) | { kind: 'plain'; data: Uint8Array };

export type SessionResponse =
  | { status: 'ok'; data: Uint8Array }
  /** The session is unknown (expired or evicted) and seq > 1: start a new session. */
  | { status: 'sessionExpired' }
  /** The command's seq is below what the client acknowledged, or its cached response was evicted. */
  | { status: 'responseDiscarded' }
  /** The envelope could not be decoded; nothing was applied. */
  | { status: 'malformed'; message: string };

export const MAX_CLIENT_ID_BYTES = 64;

const PLAIN = 0;
const SESSION = 1;
const STATUS = { ok: 0, sessionExpired: 1, responseDiscarded: 2, malformed: 3 } as const;
const SNAPSHOT_VERSION = 1;

export function encodePlainCommand(data: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.u8(PLAIN);
  w.raw(data);
  return w.finish();
}

export function encodeSessionCommand(c: SessionCommand): Uint8Array {
  const idBytes = new TextEncoder().encode(c.clientId).length;
  if (idBytes === 0 || idBytes > MAX_CLIENT_ID_BYTES) throw new CodecError('INVALID', `client id must be 1..${MAX_CLIENT_ID_BYTES} UTF-8 bytes`);
  if (c.seq < 1 || c.firstOutstandingSeq < 1 || c.firstOutstandingSeq > c.seq) {
    throw new CodecError('INVALID', `need 1 <= firstOutstandingSeq (${c.firstOutstandingSeq}) <= seq (${c.seq})`);
  }
  const w = new ByteWriter();
  w.u8(SESSION);
  w.string(c.clientId);
  w.uint(c.seq);
  w.uint(c.firstOutstandingSeq);
  w.raw(c.data);
  return w.finish();
}

/** Decodes a command envelope; throws CodecError on anything malformed (leaders can check before proposing). */
export function decodeSessionEnvelope(b: Uint8Array): SessionEnvelope {
  const r = new ByteReader(b);
  const kind = r.u8();
  if (kind === PLAIN) return { kind: 'plain', data: r.raw(r.remaining) };
  if (kind !== SESSION) throw new CodecError('UNKNOWN_TAG', `command envelope kind ${kind}`);
  const clientId = r.string(MAX_CLIENT_ID_BYTES, 'client id');
  const seq = r.uint();
  const firstOutstandingSeq = r.uint();
  if (clientId.length === 0) throw new CodecError('INVALID', 'empty client id');
  if (seq < 1 || firstOutstandingSeq < 1 || firstOutstandingSeq > seq) {
    throw new CodecError('INVALID', `need 1 <= firstOutstandingSeq (${firstOutstandingSeq}) <= seq (${seq})`);
  }
  return { kind: 'session', clientId, seq, firstOutstandingSeq, data: r.raw(r.remaining) };
}

function encodeResponse(res: SessionResponse): Uint8Array {
  const w = new ByteWriter();
  w.u8(STATUS[res.status]);
  if (res.status === 'ok') w.raw(res.data);
  if (res.status === 'malformed') w.raw(new TextEncoder().encode(res.message));
  return w.finish();
}

export function decodeSessionResponse(b: Uint8Array): SessionResponse {
  const r = new ByteReader(b);
  const status = r.u8();
  const rest = r.raw(r.remaining);
  switch (status) {
    case STATUS.ok:
      return { status: 'ok', data: rest };
    case STATUS.sessionExpired:
    case STATUS.responseDiscarded:
      if (rest.length !== 0) throw new CodecError('TRAILING_BYTES', 'bytes after a bare status');
      return { status: status === STATUS.sessionExpired ? 'sessionExpired' : 'responseDiscarded' };
    case STATUS.malformed:
      return { status: 'malformed', message: new TextDecoder().decode(rest) };
    default:
      throw new CodecError('UNKNOWN_TAG', `session response status ${status}`);
  }
}

interface Session {
  lastActive: number;
  /** Seqs below this are acknowledged or evicted: never applied again, never answered again. */
  floor: number;
  responses: Map<number, Uint8Array>;
}

export class SessionStateMachine implements StateMachine {
  /** Insertion order is activity order (a touched session is moved to the end), so expiry scans from the front. */
  private sessions = new Map<string, Session>();
  private now = 0;

  constructor(
    private readonly inner: StateMachine,
    private readonly options: SessionOptions,
  ) {
    for (const name of ['sessionTimeoutMs', 'maxSessions', 'maxResponsesPerClient'] as const) {
      const v = options[name];
      if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`session option ${name} must be a positive integer, got ${v}`);
    }
  }

  apply(data: Uint8Array, meta: { index: number; term: number; time: number }): Uint8Array {
    let cmd: SessionEnvelope;
    try {
      cmd = decodeSessionEnvelope(data);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      return encodeResponse({ status: 'malformed', message: err.message });
    }
    this.now = Math.max(this.now, meta.time);
    this.expire();
    if (cmd.kind === 'plain') return encodeResponse({ status: 'ok', data: this.inner.apply(cmd.data, meta) });

    let session = this.sessions.get(cmd.clientId);
    if (session === undefined) {
      if (cmd.seq !== 1) return encodeResponse({ status: 'sessionExpired' });
      session = { lastActive: this.now, floor: 1, responses: new Map() };
      if (this.sessions.size >= this.options.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    } else {
      this.sessions.delete(cmd.clientId);
    }
    this.sessions.set(cmd.clientId, session);
    session.lastActive = this.now;

    if (cmd.firstOutstandingSeq > session.floor) {
      session.floor = cmd.firstOutstandingSeq;
      for (const seq of session.responses.keys()) if (seq < session.floor) session.responses.delete(seq);
    }
    if (cmd.seq < session.floor) return encodeResponse({ status: 'responseDiscarded' });
    const cached = session.responses.get(cmd.seq);
    if (cached !== undefined) return encodeResponse({ status: 'ok', data: cached });

    const response = this.inner.apply(cmd.data, meta);
    session.responses.set(cmd.seq, response);
    if (session.responses.size > this.options.maxResponsesPerClient) {
      const lowest = Math.min(...session.responses.keys());
      session.responses.delete(lowest);
      session.floor = Math.max(session.floor, lowest + 1);
    }
    return encodeResponse({ status: 'ok', data: response });
  }

  /** Deterministic bytes: version, now, sessions in activity order (responses by seq), then the inner snapshot. */
  snapshot(): Uint8Array {
    const w = new ByteWriter();
    w.u8(SNAPSHOT_VERSION);
    w.uint(this.now);
    w.uint(this.sessions.size);
    for (const [clientId, s] of this.sessions) {
      w.string(clientId);
      w.uint(s.lastActive);
      w.uint(s.floor);
      const seqs = [...s.responses.keys()].sort((a, b) => a - b);
      w.uint(seqs.length);
      for (const seq of seqs) {
        w.uint(seq);
        w.bytes(s.responses.get(seq)!);
      }
    }
    w.raw(this.inner.snapshot());
    return w.finish();
  }

  /** Replaces all state; on malformed input throws CodecError and changes nothing. */
  restore(data: Uint8Array): void {
    const r = new ByteReader(data);
    const version = r.u8();
    if (version !== SNAPSHOT_VERSION) throw new CodecError('BAD_VERSION', `session snapshot version ${version}`);
    const now = r.uint();
    const sessions = new Map<string, Session>();
    // Every record takes at least one byte, so the remaining input bounds each count.
    const count = r.count(r.remaining, 'sessions');
    for (let i = 0; i < count; i++) {
      const clientId = r.string(MAX_CLIENT_ID_BYTES, 'client id');
      const lastActive = r.uint();
      const floor = r.uint();
      const responses = new Map<number, Uint8Array>();
      const n = r.count(r.remaining, 'responses');
      for (let j = 0; j < n; j++) {
        const seq = r.uint();
        responses.set(seq, r.bytes(r.remaining, 'response'));
      }
      if (sessions.has(clientId) || responses.size !== n) throw new CodecError('INVALID', `duplicate session or response for ${clientId}`);
      sessions.set(clientId, { lastActive, floor, responses });
    }
    this.inner.restore(r.raw(r.remaining));
    this.sessions = sessions;
    this.now = now;
  }

  private expire(): void {
    for (const [clientId, s] of this.sessions) {
      if (this.now - s.lastActive <= this.options.sessionTimeoutMs) break;
      this.sessions.delete(clientId);
    }
  }
}
