import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from '../../src/raft/codec.js';
import {
  SessionStateMachine,
  decodeSessionEnvelope,
  decodeSessionResponse,
  encodePlainCommand,
  encodeSessionCommand,
} from '../../src/raft/sessions.js';
import type { SessionOptions, SessionResponse } from '../../src/raft/sessions.js';
import type { StateMachine } from '../../src/raft/types.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Appends each command to a list and answers with the list length; counts how often it ran. */
class Journal implements StateMachine {
  items: string[] = [];
  apply(data: Uint8Array): Uint8Array {
    this.items.push(str(data));
    return text(`#${this.items.length}`);
  }
  snapshot(): Uint8Array {
    return text(JSON.stringify(this.items));
  }
  restore(data: Uint8Array): void {
    this.items = JSON.parse(str(data)) as string[];
  }
}

const OPTIONS: SessionOptions = { sessionTimeoutMs: 1000, maxSessions: 100, maxResponsesPerClient: 4 };

function machine(options: Partial<SessionOptions> = {}) {
  const inner = new Journal();
  const sm = new SessionStateMachine(inner, { ...OPTIONS, ...options });
  let index = 0;
  const run = (cmd: Uint8Array, time: number): SessionResponse => decodeSessionResponse(sm.apply(cmd, { index: ++index, term: 1, time }));
  const call = (clientId: string, seq: number, data: string, time: number, firstOutstandingSeq = 1) =>
    run(encodeSessionCommand({ clientId, seq, firstOutstandingSeq, data: text(data) }), time);
  return { inner, sm, run, call };
}

function ok(s: string): SessionResponse {
  return { status: 'ok', data: text(s) };
}

test('a duplicate gets the cached response and the inner machine applies the command once', () => {
  const { inner, call } = machine();
  assert.deepEqual(call('alice', 1, 'put x', 10), ok('#1'));
  assert.deepEqual(call('bob', 1, 'put y', 11), ok('#2'));
  assert.deepEqual(call('alice', 1, 'put x', 12), ok('#1'));
  assert.deepEqual(call('alice', 2, 'put z', 13), ok('#3'));
  assert.deepEqual(call('alice', 2, 'put z', 14), ok('#3'));
  assert.deepEqual(inner.items, ['put x', 'put y', 'put z']);
});

test('out-of-order seqs within the window are each applied once', () => {
  const { inner, call } = machine();
  call('c', 1, 'one', 1);
  assert.deepEqual(call('c', 3, 'three', 2), ok('#2'));
  assert.deepEqual(call('c', 2, 'two', 3), ok('#3'));
  assert.deepEqual(call('c', 3, 'three', 4), ok('#2'));
  assert.deepEqual(inner.items, ['one', 'three', 'two']);
});

test('acknowledged and evicted responses are not re-applied', () => {
  const { inner, call } = machine({ maxResponsesPerClient: 2 });
  call('c', 1, 'a', 1);
  call('c', 2, 'b', 2);
  call('c', 3, 'c', 3); // evicts seq 1's response
  assert.deepEqual(call('c', 1, 'a', 4), { status: 'responseDiscarded' });
  call('c', 4, 'd', 5, 4); // acknowledges everything below 4
  assert.deepEqual(call('c', 3, 'c', 6), { status: 'responseDiscarded' });
  assert.deepEqual(inner.items, ['a', 'b', 'c', 'd']);
});

test('plain commands pass straight through', () => {
  const { inner, run } = machine();
  assert.deepEqual(run(encodePlainCommand(text('raw')), 1), ok('#1'));
  assert.deepEqual(run(encodePlainCommand(text('raw')), 2), ok('#2'));
  assert.deepEqual(inner.items, ['raw', 'raw']);
});

test('malformed envelopes are answered as such and change nothing', () => {
  const { inner, sm, run } = machine();
  const before = sm.snapshot();
  for (const bad of [new Uint8Array(), Uint8Array.of(7, 1), Uint8Array.of(1, 0, 1, 1), Uint8Array.of(1, 1, 65, 2, 3)]) {
    assert.equal(run(bad, 5000).status, 'malformed');
  }
  assert.deepEqual(inner.items, []);
  assert.deepEqual(sm.snapshot(), before);
  assert.throws(() => encodeSessionCommand({ clientId: 'c', seq: 2, firstOutstandingSeq: 3, data: new Uint8Array() }), CodecError);
  assert.throws(() => encodeSessionCommand({ clientId: 'x'.repeat(65), seq: 1, firstOutstandingSeq: 1, data: new Uint8Array() }), CodecError);
});

test('sessions expire by entry time, exactly past the timeout, and seq > 1 is then refused', () => {
  const { inner, call } = machine();
  call('alice', 1, 'a1', 1000);
  // 1000 ms later the session is still alive...
  assert.deepEqual(call('bob', 1, 'b1', 2000), ok('#2'));
  assert.deepEqual(call('alice', 2, 'a2', 2000), ok('#3'));
  call('bob', 2, 'b2', 2500);
  // ...and one more millisecond of silence past the timeout ends it, whoever's entry carries the time.
  assert.deepEqual(call('bob', 3, 'b3', 3001), ok('#5'));
  assert.deepEqual(call('alice', 3, 'a3', 3001), { status: 'sessionExpired' });
  assert.deepEqual(call('alice', 2, 'a2', 3001), { status: 'sessionExpired' });
  // A new session starts again at seq 1.
  assert.deepEqual(call('alice', 1, 'again', 3002), ok('#6'));
  assert.deepEqual(inner.items, ['a1', 'b1', 'a2', 'b2', 'b3', 'again']);
});

test('entry time stepping backwards does not revive or shorten sessions', () => {
  const { call } = machine();
  call('alice', 1, 'a1', 5000);
  call('bob', 1, 'b1', 6500); // alice expired: 1500 ms of silence
  // A new leader with a slow clock: its times are behind, "now" stays at 6500.
  assert.deepEqual(call('alice', 2, 'a2', 4000), { status: 'sessionExpired' });
  assert.deepEqual(call('bob', 2, 'b2', 100), ok('#3'));
  // bob's activity was recorded at the clamped 6500, so at 7400 it is still alive.
  assert.deepEqual(call('bob', 3, 'b3', 7400), ok('#4'));
});

test('the least recently active session is evicted beyond maxSessions', () => {
  const { call } = machine({ maxSessions: 2 });
  call('a', 1, 'x', 1);
  call('b', 1, 'x', 2);
  call('a', 2, 'x', 3); // a is now more recent than b
  call('c', 1, 'x', 4); // evicts b
  assert.deepEqual(call('b', 2, 'x', 5), { status: 'sessionExpired' });
  assert.equal(call('a', 3, 'x', 6).status, 'ok');
});

test('replicas applying the same entries agree on every response and on snapshot bytes', () => {
  const command = fc.record({
    client: fc.constantFrom('a', 'b', 'c', 'd'),
    seq: fc.integer({ min: 1, max: 6 }),
    ackBack: fc.integer({ min: 0, max: 6 }),
    dt: fc.integer({ min: -300, max: 700 }),
  });
  fc.assert(
    fc.property(fc.array(command, { maxLength: 60 }), (cmds) => {
      const r1 = machine({ maxSessions: 3, maxResponsesPerClient: 3 });
      const r2 = machine({ maxSessions: 3, maxResponsesPerClient: 3 });
      let time = 1000;
      for (const [i, c] of cmds.entries()) {
        time += c.dt;
        const ack = Math.max(1, c.seq - c.ackBack);
        assert.deepEqual(r1.call(c.client, c.seq, `cmd${i}`, time, ack), r2.call(c.client, c.seq, `cmd${i}`, time, ack));
        // Mid-way, the second replica restarts from the first one's snapshot.
        if (i === Math.floor(cmds.length / 2)) r2.sm.restore(r1.sm.snapshot());
      }
      assert.deepEqual(r1.sm.snapshot(), r2.sm.snapshot());
      assert.deepEqual(r1.inner.items, r2.inner.items);
    }),
    { numRuns: 200 },
  );
});

test('snapshot and restore preserve deduplication and expiry', () => {
  const a = machine();
  a.call('alice', 1, 'a1', 100);
  a.call('alice', 2, 'a2', 200);
  a.call('bob', 1, 'b1', 900);
  const b = machine();
  b.sm.restore(a.sm.snapshot());
  assert.deepEqual(b.inner.items, ['a1', 'a2', 'b1']);
  assert.deepEqual(b.call('alice', 2, 'a2', 1000), ok('#2'));
  assert.deepEqual(b.inner.items, ['a1', 'a2', 'b1']);
  // Activity times came along: bob (last active 900) expires after 1900, alice (1000) after 2000.
  assert.deepEqual(b.call('alice', 3, 'a3', 1950), ok('#4'));
  assert.deepEqual(b.call('bob', 2, 'b2', 1950), { status: 'sessionExpired' });
});

test('a garbled snapshot is refused and the machine keeps its state', () => {
  const { sm, inner, call } = machine();
  call('alice', 1, 'a1', 1);
  const good = sm.snapshot();
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (pos, byte, cut) => {
      const bad = good.slice(0, good.length - (cut % 4));
      bad[pos % bad.length] = byte;
      try {
        sm.restore(bad);
        sm.restore(good); // the mutation happened to be valid: put the original back
      } catch (err) {
        if (!(err instanceof CodecError) && !(err instanceof SyntaxError)) throw err;
      }
      assert.deepEqual(sm.snapshot(), good);
    }),
    { numRuns: 300 },
  );
  assert.throws(() => sm.restore(Uint8Array.of(9)), CodecError);
  assert.deepEqual(inner.items, ['a1']);
  assert.deepEqual(call('alice', 1, 'a1', 2), ok('#1'));
});

test('envelopes round trip', () => {
  const c = { clientId: 'client-7', seq: 2 ** 40, firstOutstandingSeq: 2 ** 39, data: text('payload') };
  assert.deepEqual(decodeSessionEnvelope(encodeSessionCommand(c)), { kind: 'session', ...c });
  assert.deepEqual(decodeSessionEnvelope(encodePlainCommand(text('p'))), { kind: 'plain', data: text('p') });
});

test('option values must be positive integers', () => {
  assert.throws(() => new SessionStateMachine(new Journal(), { ...OPTIONS, sessionTimeoutMs: 0 }), RangeError);
  assert.throws(() => new SessionStateMachine(new Journal(), { ...OPTIONS, maxResponsesPerClient: 1.5 }), RangeError);
});
