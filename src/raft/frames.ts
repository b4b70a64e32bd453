// Length-prefixed framing for the Raft TCP transport. A frame is a 4-byte big-endian length N
// followed by N bytes: one kind byte and the body. The decoder refuses a frame longer than its
// current bound from the header alone, before buffering the body; an empty frame is refused too.
//
// Protocol version 2 (see handshake.ts) added PING; the other frames are byte for byte those of
// version 1. After the handshake the dialer sends MESSAGE and PING frames, the listener only PING.

/** Frame kinds: the handshake's (see handshake.ts), then the Raft messages and liveness pings after it. */
export const FRAME = { hello: 1, challenge: 2, auth: 3, welcome: 4, reject: 5, message: 6, ping: 7 } as const;

export interface Frame {
  kind: number;
  body: Uint8Array;
}

/** A peer broke the protocol; always ends that connection, never the process. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    /** The REJECT reason to send before closing, when the peer should be told (handshake only). */
    readonly reject: number | null = null,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export function encodeFrame(kind: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32BE(1 + body.length, 0);
  out[4] = kind;
  out.set(body, 5);
  return out;
}

/** "Still here", sent by either side of an idle connection (link-liveness.ts); its body is empty. */
export const PING_FRAME: Buffer = encodeFrame(FRAME.ping, new Uint8Array());

/** Splits a byte stream into frames, refusing any frame longer than `max` from its header. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending = -1;

  /** Raised by the owner once the peer is authenticated. */
  constructor(public max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame, or null until more bytes arrive; throws ProtocolError on a bad length. */
  next(): { kind: number; body: Buffer } | null {
    if (this.pending < 0) {
      if (this.buffered < 4) return null;
      const length = this.take(4).readUInt32BE(0);
      if (length === 0) throw new ProtocolError('empty frame');
      if (length > this.max) throw new ProtocolError(`frame of ${length} bytes exceeds limit ${this.max}`);
      this.pending = length;
    }
    if (this.buffered < this.pending) return null;
    const payload = this.take(this.pending);
    this.pending = -1;
    return { kind: payload[0]!, body: payload.subarray(1) };
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const used = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, used);
      filled += used;
      if (used === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(used);
    }
    return out;
  }
}
