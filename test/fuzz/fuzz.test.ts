// The fuzzing harness in CI: a few thousand generated and mutated inputs per decoder (the long
// run is `npm run fuzz -- --runs 1000000`), an inflation sweep of every length field, and checks
// that the harness itself can fail (a decoder that throws a stray error, allocates by a length
// field, or breaks its round trip is caught).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { WireError } from '../../src/wire/wire-error.js';
import { ByteReader } from '../../src/wire/reader.js';
import { failed, formatReport, fuzzTarget, inflationSweep, type FuzzTarget } from './harness.js';
import { fuzzTargets } from './targets.js';

const RUNS = 3000;
const SWEEP_SAMPLES = 3;
const targets = await fuzzTargets();

test('every decoder has a fuzz target', () => {
  assert.deepEqual(targets.map((t) => t.name), [
    'raft-message', 'raft-entries', 'raft-hard-state', 'raft-snapshot-meta', 'raft-conf-change', 'raft-frames', 'raft-handshake',
    'mailbox-command', 'mailbox-snapshot', 'mailbox-snapshot-pieces', 'cluster-entry', 'cluster-snapshot', 'cluster-snapshot-pieces', 'cluster-snapshot-v1', 'key-space-get', 'key-space-attachment', 'batch-put-framing', 'puts-framing', 'puts-reply', 'consumes-framing', 'consumes-reply', 'auth-token', 'wire-reader',
  ]);
});

for (const t of targets) {
  test(`fuzz ${t.name}: ${RUNS} generated and mutated inputs, then every inflated length field, only typed refusals and exact round trips`, async () => {
    const r = await fuzzTarget(t, RUNS, 1);
    assert.equal(failed(r), 0, `${formatReport(r)}\n${r.failures.join('\n')}`);
    assert.ok((r.categories.valid ?? 0) > RUNS / 20, `valid encodings were decoded: ${formatReport(r)}`);
    // Inputs are refused, and mutations are subtle enough that some still decode (a signed token's rarely do).
    const count = (prefix: string) => Object.entries(r.categories).reduce((n, [c, k]) => (c.startsWith(prefix) ? n + k : n), 0);
    assert.ok(count('refused') > RUNS / 2, formatReport(r));
    assert.ok(count('accepted') > 0 || t.name === 'auth-token', formatReport(r));
    const s = await inflationSweep(t, SWEEP_SAMPLES, 1);
    assert.equal(failed(s), 0, `${formatReport(s)}\n${s.failures.join('\n')}`);
  });
}

/** A decoder of a u32-length-prefixed byte string, broken in the way `bug` says. */
function broken(bug: 'stray-error' | 'allocates' | 'round-trip'): FuzzTarget {
  return {
    name: bug,
    covers: 'a deliberately broken decoder',
    valid: fc.uint8Array({ maxLength: 16 }).map((b) => {
      const bytes = new Uint8Array(4 + b.length);
      new DataView(bytes.buffer).setUint32(0, b.length);
      bytes.set(b, 4);
      return { bytes, expect: (d: unknown) => assert.deepEqual(d, bug === 'round-trip' ? b.slice(1) : b) };
    }),
    decode: (b) => {
      if (bug === 'stray-error' && b.length > 0 && b[0] === 0xff) throw new TypeError('unchecked input');
      if (bug === 'allocates') {
        const r = new ByteReader(b);
        const n = r.u32('length');
        // Trusts the length field (capped at 256 MiB so that the test itself stays sane).
        const out = new Uint8Array(Math.min(n, 256 << 20));
        out.set(r.raw(Math.min(n, r.remaining)));
        return out;
      }
      return Uint8Array.from(new ByteReader(b).u32Bytes('body', 16));
    },
    refusal: (err) => (err instanceof WireError ? `refused:${err.code}` : null),
  };
}

test('the harness catches a stray exception, an allocation sized by a length field and a broken round trip', async () => {
  const stray = await fuzzTarget(broken('stray-error'), 2000, 1);
  assert.ok((stray.categories['FAIL:untyped'] ?? 0) > 0, formatReport(stray));
  const alloc = await inflationSweep(broken('allocates'), 1, 1);
  assert.ok((alloc.categories['FAIL:memory'] ?? 0) > 0, formatReport(alloc));
  const trip = await fuzzTarget(broken('round-trip'), 500, 1);
  assert.ok((trip.categories['FAIL:round-trip'] ?? 0) > 0, formatReport(trip));
});
