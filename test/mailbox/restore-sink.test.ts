// A restore sink takes an image in pieces cut anywhere, beside the live state: fed whole or a
// byte at a time, it makes the state the one-shot restore makes, byte for byte; a bad image is
// refused with the one-shot restore's typed error, and until `finish` the live state is the
// one commands go on changing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import type { ImageSink } from '../../src/mailbox/snapshot.js';
import { ClusterStateMachine, encodeDirectoryEntry } from '../../src/node/cluster-state-machine.js';
import { WireError } from '../../src/wire/wire-error.js';
import { type LogEntry, log, options } from '../support/mailbox-log.js';

interface Machine {
  apply(data: Uint8Array, meta: LogEntry['meta']): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
  restoreSink(size: number): ImageSink;
}

const mailboxMachine = (): Machine => new MailboxStateMachine(options);
const clusterMachine = (): Machine => new ClusterStateMachine(new MailboxStateMachine(options));

/** Mailbox entries tagged for the cluster state machine, with some directory changes among them. */
function clusterEntries(entries: LogEntry[]): LogEntry[] {
  return entries.map((e, i) =>
    i % 7 === 3
      ? { ...e, data: encodeDirectoryEntry(i % 2 === 0 ? { op: 'set', node: `n${i % 4}`, host: 'h', port: 1000 + i } : { op: 'delete', node: `n${i % 4}` }) }
      : { ...e, data: Uint8Array.of(0, ...e.data) },
  );
}

function machineAfter(make: () => Machine, entries: LogEntry[]): Machine {
  const sm = make();
  for (const e of entries) sm.apply(e.data, e.meta);
  return sm;
}

/** `data` cut at the given offsets (taken modulo its length, in any order, repeats allowed). */
function cut(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const to of [...at, data.length]) {
    pieces.push(data.subarray(from, to));
    from = to;
  }
  return pieces;
}

/** What restoring `image` into a machine after `live` does: the new image, or the error's code and message. */
type Outcome = { image?: Buffer; error?: string };

function oneShot(make: () => Machine, live: LogEntry[], image: Uint8Array): Outcome & { before: Buffer; after: Buffer } {
  const sm = machineAfter(make, live);
  const before = Buffer.from(sm.snapshot());
  try {
    sm.restore(image);
    return { image: Buffer.from(sm.snapshot()), before, after: Buffer.from(sm.snapshot()) };
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return { error: `${err.code}: ${err.message}`, before, after: Buffer.from(sm.snapshot()) };
  }
}

/**
 * Feeds `pieces` into a sink of a machine after `live`, applying `meanwhile` to the live state
 * between pieces; the live state must stay the live one until `finish`.
 */
function sliced(make: () => Machine, live: LogEntry[], pieces: Uint8Array[], meanwhile: LogEntry[]): Outcome & { after: Buffer } {
  const sm = machineAfter(make, live);
  const shadow = machineAfter(make, live);
  const sink = sm.restoreSink(pieces.reduce((n, p) => n + p.length, 0));
  let next = 0;
  try {
    for (const piece of pieces) {
      sink.write(piece);
      const e = meanwhile[next++];
      if (e) {
        sm.apply(e.data, e.meta);
        shadow.apply(e.data, e.meta);
      }
    }
    assert.deepEqual(Buffer.from(sm.snapshot()), Buffer.from(shadow.snapshot()), 'the live state until finish');
    sink.finish();
    return { image: Buffer.from(sm.snapshot()), after: Buffer.from(sm.snapshot()) };
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    assert.deepEqual(Buffer.from(sm.snapshot()), Buffer.from(shadow.snapshot()), 'a refused image leaves the live state');
    return { error: `${err.code}: ${err.message}`, after: Buffer.from(sm.snapshot()) };
  }
}

const scenario = fc.record({
  live: log,
  source: log,
  meanwhile: log,
  cuts: fc.array(fc.nat(), { maxLength: 40 }),
});

for (const [name, make, tag] of [
  ['mailbox', mailboxMachine, (e: LogEntry[]) => e],
  ['cluster', clusterMachine, clusterEntries],
] as const) {
  test(`${name}: an image in pieces cut anywhere, commands applied between them, restores the one-shot state byte for byte`, () => {
    fc.assert(
      fc.property(scenario, ({ live, source, meanwhile, cuts }) => {
        const image = machineAfter(make, tag(source)).snapshot();
        const expected = oneShot(make, tag(live), image);
        const got = sliced(make, tag(live), cut(image, cuts), tag(meanwhile));
        assert.deepEqual(got.image, Buffer.from(image));
        assert.deepEqual(got.image, expected.image);
      }),
      { numRuns: 200 },
    );
  });

  test(`${name}: a byte at a time too`, () => {
    fc.assert(
      fc.property(log, (source) => {
        const image = machineAfter(make, tag(source)).snapshot();
        const pieces = Array.from(image, (_, i) => image.subarray(i, i + 1));
        assert.deepEqual(sliced(make, [], pieces, []).image, Buffer.from(image));
      }),
      { numRuns: 50 },
    );
  });

  test(`${name}: a damaged image (truncated, bytes changed, bytes added) gives the one-shot outcome, typed, and leaves the live state`, () => {
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), count: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }) }),
    );
    fc.assert(
      fc.property(scenario, damage, ({ live, source, cuts, meanwhile }, d) => {
        const image = machineAfter(make, tag(source)).snapshot().slice();
        let bad: Uint8Array;
        if (d.kind === 'truncate') bad = image.subarray(0, d.at % image.length);
        else if (d.kind === 'append') bad = Buffer.concat([image, d.bytes]);
        else {
          bad = image;
          for (let i = 0; i < d.count; i++) bad[(d.at + i * 7919) % bad.length] = (d.value + i * 31) & 0xff;
        }
        const expected = oneShot(make, tag(live), bad);
        const got = sliced(make, tag(live), cut(bad, cuts), tag(meanwhile));
        if (expected.error !== undefined) {
          assert.equal(got.error, expected.error);
          assert.deepEqual(expected.after, expected.before, 'the one-shot restore left the state');
        } else {
          assert.deepEqual(got.image, expected.image);
        }
      }),
      { numRuns: 400 },
    );
  });
}

test('abort drops the image: the live state stays, and the sink takes nothing more', () => {
  fc.assert(
    fc.property(log, log, fc.nat(), (live, source, at) => {
      const image = machineAfter(mailboxMachine, source).snapshot();
      const sm = machineAfter(mailboxMachine, live);
      const before = Buffer.from(sm.snapshot());
      const sink = sm.restoreSink(image.length);
      sink.write(image.subarray(0, at % (image.length + 1)));
      sink.abort();
      assert.deepEqual(Buffer.from(sm.snapshot()), before);
      assert.throws(() => sink.write(image.subarray(0, 1)), /aborted/);
      assert.throws(() => sink.finish(), /aborted/);
    }),
    { numRuns: 50 },
  );
});

test('a sink refuses bytes past the size it was given, and a finish before all of them', () => {
  const image = mailboxMachine().snapshot();
  const over = mailboxMachine().restoreSink(image.length - 1);
  assert.throws(() => over.write(image), (e: unknown) => e instanceof WireError && e.code === 'TRAILING_BYTES');
  const short = mailboxMachine().restoreSink(image.length);
  short.write(image.subarray(0, 5));
  assert.throws(() => short.finish(), (e: unknown) => e instanceof WireError && e.code === 'TRUNCATED');
});

test('a finished restore ends a snapshot stream under way', () => {
  const sm = new MailboxStateMachine(options);
  const stream = sm.snapshotSource();
  const image = mailboxMachine().snapshot();
  const sink = sm.restoreSink(image.length);
  sink.write(image);
  stream.next();
  sink.finish();
  assert.throws(() => stream.next(), /closed/);
});
