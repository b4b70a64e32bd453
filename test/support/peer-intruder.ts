// A hand-made TLS dialer of the Raft peer protocol, for the tests that play an intruder: any
// certificate, any claimed node id, any frames afterwards. It runs the real dialer handshake
// (handshake.ts, keyed by the TLS session like the transport's) so that only what the test
// changes differs from a genuine peer.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { FRAME, encodeFrame, FrameDecoder, type Frame } from '../../src/raft/frames.js';
import { DialerHandshake, NONCE_BYTES } from '../../src/raft/handshake.js';
import { handshakeKey, type PeerTlsMaterial } from '../../src/raft/peer-tls.js';

export interface Dialled {
  socket: tls.TLSSocket;
  /** Every frame the listener sent, in order. */
  frames: Frame[];
  closed: Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TLS connection to 127.0.0.1:`port` from `localAddress`, presenting `m`'s certificate; the listener's is not checked. */
export async function dialTls(port: number, m: PeerTlsMaterial, localAddress = '127.0.0.1'): Promise<Dialled> {
  const tcp = net.connect({ host: '127.0.0.1', port, localAddress });
  const socket = tls.connect({ socket: tcp, ca: m.ca, cert: m.cert, key: m.key, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
  const frames: Frame[] = [];
  const decoder = new FrameDecoder(1 << 16);
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
    for (let f = decoder.next(); f !== null; f = decoder.next()) frames.push(f);
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  // A listener may close before the handshake ends (its deadline, on a starved machine): that is an
  // error for the caller to see, not a wait that never ends.
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    void closed.then(() => reject(new Error(`the listener on port ${port} closed the connection before the TLS handshake finished`)));
  });
  await within(connected, DIAL_TIMEOUT_MS, `the TLS handshake with port ${port}`);
  return { socket, frames, closed };
}

/** Longer than any deadline of the listener's (2 s to authenticate, 1 s of silence, 1 s of linger). */
const DIAL_TIMEOUT_MS = 20_000;

/** `p`, or an error naming `what` once `ms` have passed. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once the listener has closed `d`; an error if it keeps it open longer than its deadlines allow. */
export function closedByListener(d: Dialled, timeoutMs = DIAL_TIMEOUT_MS): Promise<void> {
  return within(d.closed, timeoutMs, 'the listener closing the connection');
}

async function frameCount(d: Dialled, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (d.frames.length < n) {
    if (Date.now() > deadline) throw new Error(`no answer from the listener within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Runs the dialer's handshake claiming to be `claimed`; resolves with the listener's last answer (WELCOME or REJECT). */
export async function claimIdentity(d: Dialled, clusterId: string, claimed: string, to: string, timeoutMs = 20_000): Promise<Frame> {
  const h = new DialerHandshake({ clusterId, nodeId: claimed, secret: handshakeKey(d.socket) }, to, randomBytes(NONCE_BYTES));
  const hello = h.hello();
  d.socket.write(encodeFrame(hello.kind, hello.body));
  await frameCount(d, 1, timeoutMs);
  const first = d.frames[0]!;
  if (first.kind !== FRAME.challenge) return first;
  const auth = h.receive(first.kind, first.body)!;
  d.socket.write(encodeFrame(auth.kind, auth.body));
  await frameCount(d, 2, timeoutMs);
  return d.frames[1]!;
}
