// The pure handshake of the Raft transport: the documented bytes, mutual proof of the shared
// secret, and refusal of another cluster, a wrong node, replayed or reflected proofs and garbage.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { FRAME, ProtocolError, type Frame } from '../../src/raft/frames.js';
import { DialerHandshake, ListenerHandshake, REJECT, rejectFrame, type HandshakeIdentity } from '../../src/raft/handshake.js';

const SECRET = 'correct horse battery staple';
const id = (nodeId: string, over: Partial<HandshakeIdentity> = {}): HandshakeIdentity => ({ clusterId: 'c1', nodeId, secret: SECRET, ...over });
const nonce = (fill: number) => new Uint8Array(32).fill(fill);
/** A length-prefixed string as the documented format writes it (lengths below 128 take one byte). */
const str = (s: string) => [s.length, ...Buffer.from(s)];

/** Runs a dialer against a listener frame by frame; returns the frames exchanged. */
function run(dialer: DialerHandshake, listener: ListenerHandshake): Frame[] {
  const hello = dialer.hello();
  const challenge = listener.receive(hello.kind, hello.body);
  const auth = dialer.receive(challenge.kind, challenge.body)!;
  const welcome = listener.receive(auth.kind, auth.body);
  assert.equal(dialer.receive(welcome.kind, welcome.body), null);
  return [hello, challenge, auth, welcome];
}

const refusedWith = (reject: number | null, message?: RegExp) => (e: unknown) =>
  e instanceof ProtocolError && e.reject === reject && (message === undefined || message.test(e.message));

function mac(secret: string, role: string, dialer: string, listener: string, nd: Uint8Array, nl: Uint8Array): Buffer {
  const transcript = Buffer.from([...str('forge-raft-handshake-v1'), ...str(role), ...str('c1'), ...str(dialer), ...str(listener), 32, ...nd, 32, ...nl]);
  return createHmac('sha256', secret).update(transcript).digest();
}

test('two members authenticate each other with the documented bytes', () => {
  const dialer = new DialerHandshake(id('a'), 'b', nonce(1));
  const listener = new ListenerHandshake(id('b'), nonce(2));
  const [hello, challenge, auth, welcome] = run(dialer, listener);
  assert.ok(dialer.done && listener.done);
  assert.equal(listener.peer, 'a');
  assert.equal(hello!.kind, FRAME.hello);
  assert.deepEqual([...hello!.body], [3, ...str('c1'), ...str('a'), ...str('b'), ...nonce(1)]);
  assert.equal(challenge!.kind, FRAME.challenge);
  assert.deepEqual(Buffer.from(challenge!.body), Buffer.from([...str('b'), ...nonce(2), ...mac(SECRET, 'listener', 'a', 'b', nonce(1), nonce(2))]));
  assert.equal(auth!.kind, FRAME.auth);
  assert.deepEqual(Buffer.from(auth!.body), mac(SECRET, 'dialer', 'a', 'b', nonce(1), nonce(2)));
  assert.deepEqual(welcome, { kind: FRAME.welcome, body: new Uint8Array() });
});

test('a wrong secret is caught by both sides', () => {
  // The dialer checks the listener's proof first.
  const dialer = new DialerHandshake(id('a', { secret: 'guessed' }), 'b', nonce(1));
  const listener = new ListenerHandshake(id('b'), nonce(2));
  const hello = dialer.hello();
  const challenge = listener.receive(hello.kind, hello.body);
  assert.throws(() => dialer.receive(challenge.kind, challenge.body), refusedWith(null, /peer failed authentication/));

  // A dialer that obtained a challenge it could verify (from an accomplice knowing its secret, same
  // nonce) still cannot produce the proof the real listener expects.
  const accomplice = new ListenerHandshake(id('b', { secret: 'guessed' }), nonce(2));
  const intruder = new DialerHandshake(id('a', { secret: 'guessed' }), 'b', nonce(1));
  const real = new ListenerHandshake(id('b'), nonce(2));
  const h = intruder.hello();
  const c = accomplice.receive(h.kind, h.body);
  real.receive(h.kind, h.body);
  const auth = intruder.receive(c.kind, c.body)!;
  assert.throws(() => real.receive(auth.kind, auth.body), refusedWith(REJECT.auth, /dialer failed authentication/));
  assert.equal(real.done, false);
});

test('another cluster, an unexpected node id or version are refused with a reason the dialer reports', () => {
  const cases: Array<[DialerHandshake, ListenerHandshake, number, RegExp]> = [
    [new DialerHandshake(id('a', { clusterId: 'c2' }), 'b', nonce(1)), new ListenerHandshake(id('b'), nonce(2)), REJECT.cluster, /different cluster id/],
    [new DialerHandshake(id('a'), 'b', nonce(1)), new ListenerHandshake(id('c'), nonce(2)), REJECT.node, /unexpected node id/],
    [new DialerHandshake(id('b'), 'b', nonce(1)), new ListenerHandshake(id('b'), nonce(2)), REJECT.node, /unexpected node id/],
  ];
  for (const [dialer, listener, reason, text] of cases) {
    const hello = dialer.hello();
    assert.throws(() => listener.receive(hello.kind, hello.body), refusedWith(reason));
    const refusal = rejectFrame(reason);
    assert.throws(() => dialer.receive(refusal.kind, refusal.body), refusedWith(null, text));
  }
  const hello = new DialerHandshake(id('a'), 'b', nonce(1)).hello();
  // Version 1 lacked PING frames (frames.ts), version 2 snapshot times and digests (codec.ts): their dialers
  // are refused, as is any other version.
  for (const version of [1, 2, 4]) {
    const other = Uint8Array.from(hello.body);
    other[0] = version;
    assert.throws(() => new ListenerHandshake(id('b'), nonce(2)).receive(FRAME.hello, other), refusedWith(REJECT.version));
  }
});

test('a dialer refuses a listener that is not the node it dialled', () => {
  const dialer = new DialerHandshake(id('a'), 'b', nonce(1));
  // A listener `c` that accepts HELLOs addressed to `b` (a misrouted address) answers as itself.
  const impostor = new ListenerHandshake(id('c'), nonce(2));
  const honestHello = new DialerHandshake(id('a'), 'c', nonce(1)).hello();
  const challenge = impostor.receive(honestHello.kind, honestHello.body);
  dialer.hello();
  assert.throws(() => dialer.receive(challenge.kind, challenge.body), refusedWith(null, /expected node b, found c/));
});

test('replayed and reflected proofs are refused: every connection has fresh nonces', () => {
  const first = run(new DialerHandshake(id('a'), 'b', nonce(1)), new ListenerHandshake(id('b'), nonce(2)));
  const [hello, challenge, auth] = first;

  // An eavesdropper replays the whole dialer side to a listener that picked another nonce.
  const listener = new ListenerHandshake(id('b'), nonce(3));
  listener.receive(hello!.kind, hello!.body);
  assert.throws(() => listener.receive(auth!.kind, auth!.body), refusedWith(REJECT.auth));

  // ...or replays the listener side to a dialer that picked another nonce.
  const dialer = new DialerHandshake(id('a'), 'b', nonce(4));
  dialer.hello();
  assert.throws(() => dialer.receive(challenge!.kind, challenge!.body), refusedWith(null, /peer failed authentication/));

  // The listener's own proof reflected back as AUTH does not pass: the role is in the transcript.
  const reflected = new ListenerHandshake(id('b'), nonce(2));
  const c = reflected.receive(hello!.kind, hello!.body);
  const listenerProof = c.body.subarray(c.body.length - 32);
  assert.throws(() => reflected.receive(FRAME.auth, listenerProof), refusedWith(REJECT.auth));
});

test('frames out of order or malformed are protocol errors, never anything else', () => {
  const listener = () => new ListenerHandshake(id('b'), nonce(2));
  assert.throws(() => listener().receive(FRAME.auth, new Uint8Array(32)), refusedWith(null, /unexpected frame kind 3 during hello/));
  assert.throws(() => listener().receive(FRAME.message, new Uint8Array(1)), refusedWith(null, /during hello/));
  assert.throws(() => listener().receive(FRAME.hello, new Uint8Array([1, 200])), refusedWith(null, /malformed handshake frame/));
  const hello = new DialerHandshake(id('a'), 'b', nonce(1)).hello();
  assert.throws(() => listener().receive(FRAME.hello, Uint8Array.from([...hello.body, 0])), refusedWith(null, /malformed/), 'trailing bytes');
  const done = listener();
  const d = new DialerHandshake(id('a'), 'b', nonce(1));
  run(d, done);
  assert.throws(() => done.receive(FRAME.hello, hello.body), refusedWith(null, /during ready/));
  assert.throws(() => d.receive(FRAME.welcome, new Uint8Array()), refusedWith(null, /during ready/));
  const early = new DialerHandshake(id('a'), 'b', nonce(1));
  assert.throws(() => early.receive(FRAME.welcome, new Uint8Array()), refusedWith(null, /unexpected frame kind 4 during challenge/));
  assert.throws(() => early.receive(FRAME.reject, Uint8Array.of(99)), refusedWith(null, /unknown reason/));
  assert.throws(() => new ListenerHandshake(id('b'), new Uint8Array(31)), RangeError);

  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 600 }), fc.boolean(), (kind, body, asDialer) => {
      try {
        if (asDialer) new DialerHandshake(id('a'), 'b', nonce(1)).receive(kind, body);
        else listener().receive(kind, body);
      } catch (e) {
        return e instanceof ProtocolError;
      }
      return true;
    }),
  );
});

test('under TLS the listener refuses a HELLO claiming another node than the certificate, keyed by the session material', () => {
  const sessionKey = new Uint8Array(32).fill(7);
  const tlsId = (nodeId: string) => id(nodeId, { secret: sessionKey });
  const liar = new DialerHandshake(tlsId('a'), 'b', nonce(1));
  const hello = liar.hello();
  assert.throws(() => new ListenerHandshake(tlsId('b'), nonce(2), 'c').receive(hello.kind, hello.body), refusedWith(REJECT.certificate, /claims node a with the certificate of c/));
  const refusal = rejectFrame(REJECT.certificate);
  assert.throws(() => liar.receive(refusal.kind, refusal.body), refusedWith(null, /node id differs from its certificate/));
  // The same dialer with the matching certificate completes; its proofs are keyed by the session, not the secret.
  const [, challenge] = run(new DialerHandshake(tlsId('a'), 'b', nonce(1)), new ListenerHandshake(tlsId('b'), nonce(2), 'a'));
  assert.deepEqual(Buffer.from(challenge!.body.subarray(-32)), createHmac('sha256', sessionKey).update(Buffer.from([...str('forge-raft-handshake-v1'), ...str('listener'), ...str('c1'), ...str('a'), ...str('b'), 32, ...nonce(1), 32, ...nonce(2)])).digest());
});
