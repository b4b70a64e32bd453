// A snapshot stream is a point-in-time image: whatever is applied while its pieces are pulled,
// the pieces make exactly the bytes the synchronous snapshot made when the stream began, and the
// live state goes on exactly as if no stream had run (copy before write copies, never changes).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeCommand } from '../../src/mailbox/codec.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { ClusterStateMachine, encodeDirectoryEntry } from '../../src/node/cluster-state-machine.js';
import { type LogEntry, log, options } from '../support/mailbox-log.js';

/** One item per step: the most interleaving a state this small can have. */
const TINY_STEPS = { pieceBytes: 1 };

interface Machine {
  apply(data: Uint8Array, meta: LogEntry['meta']): unknown;
  snapshot(): Uint8Array;
  snapshotSource(steps?: typeof TINY_STEPS): { next(): Uint8Array | null; close(): void };
}

/**
 * Applies `entries[0..start)`, begins a stream, then follows `schedule` (true: pull a piece,
 * false: apply the next entry) until the stream ends, pulling the rest if the schedule runs out;
 * entries left over are applied after. Checks the image and the live state.
 */
function streamWhileApplying(make: () => Machine, entries: LogEntry[], start: number, schedule: boolean[]): void {
  const sm = make();
  for (const e of entries.slice(0, start)) sm.apply(e.data, e.meta);
  const expected = sm.snapshot();
  const source = sm.snapshotSource(TINY_STEPS);
  const pieces: Uint8Array[] = [];
  let next = start;
  let ended = false;
  const pull = () => {
    const piece = source.next();
    if (piece === null) ended = true;
    else pieces.push(piece);
  };
  for (const pullNow of schedule) {
    if (ended) break;
    if (pullNow || next >= entries.length) pull();
    else {
      const e = entries[next++]!;
      sm.apply(e.data, e.meta);
    }
  }
  while (!ended) pull();
  assert.deepEqual(Buffer.concat(pieces), Buffer.from(expected), `image of the state at entry ${start}, ${next - start} entries applied meanwhile`);
  for (const e of entries.slice(next)) sm.apply(e.data, e.meta);
  const plain = make();
  for (const e of entries) plain.apply(e.data, e.meta);
  assert.deepEqual(sm.snapshot(), plain.snapshot(), 'the stream left the live state as it would have been');
}

const scenario = fc.tuple(log, fc.nat(), fc.array(fc.boolean(), { maxLength: 600 }));

/**
 * Windows short enough for a log of these to outlast them (entries move time by up to 60 ms): put
 * ids and consume results are forgotten while a stream walks them, some before it reaches them.
 */
const forgetful = { ...options, dedupeWindowMs: 150, requestWindowMs: 150 };

test('a mailbox snapshot stream makes the bytes of the snapshot at its start, whatever is applied meanwhile', () => {
  fc.assert(
    fc.property(scenario, ([entries, cut, schedule]) => {
      streamWhileApplying(() => new MailboxStateMachine(options), entries, cut % (entries.length + 1), schedule);
    }),
    { numRuns: 300 },
  );
});

test('so it does while put ids and consume results are forgotten under it', () => {
  fc.assert(
    fc.property(scenario, ([entries, cut, schedule]) => {
      streamWhileApplying(() => new MailboxStateMachine(forgetful), entries, cut % (entries.length + 1), schedule);
    }),
    { numRuns: 300 },
  );
});

test('so does the cluster state machine (directory and mailbox), directory changes included', () => {
  const withDirectory = (entries: LogEntry[]) =>
    entries.map((e, i) =>
      i % 7 === 3
        ? { ...e, data: encodeDirectoryEntry(i % 2 === 0 ? { op: 'set', node: `n${i % 4}`, host: 'h', port: 1000 + i } : { op: 'delete', node: `n${i % 4}` }) }
        : { ...e, data: Uint8Array.of(0, ...e.data) },
    );
  fc.assert(
    fc.property(scenario, ([entries, cut, schedule]) => {
      const tagged = withDirectory(entries);
      streamWhileApplying(() => new ClusterStateMachine(new MailboxStateMachine(options)), tagged, cut % (tagged.length + 1), schedule);
    }),
    { numRuns: 200 },
  );
});

test('restore ends a stream under way; a new stream ends the one before', () => {
  const sm = new MailboxStateMachine(options);
  sm.apply(encodeCommand({ op: 'put', user: 'ann', body: Uint8Array.of(1) }), { index: 1, term: 1, time: 1 });
  const first = sm.snapshotSource(TINY_STEPS);
  first.next();
  const second = sm.snapshotSource(TINY_STEPS);
  assert.throws(() => first.next(), /closed/);
  second.next();
  sm.restore(sm.snapshot());
  assert.throws(() => second.next(), /closed/);
});
