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
  await new Promise((r) => socket.once('secureConnect', r));
  return { socket, frames, closed };
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
