// Replicated time (src/raft/entry-clock.ts through the core): entry times never go backwards and
// follow a leader's wall clock only within ±CLOCK_SLEW of its monotonic elapsed time, whatever
// that wall clock does; a new leader, a restarted node and a compacted log keep the same bounds.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RaftCore } from '../../src/raft/core.js';
import { CLOCK_SLEW } from '../../src/raft/entry-clock.js';
import type { Entry } from '../../src/raft/types.js';
import { bytes, config, emptyState, flush, TestCluster } from './core-harness.js';

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

function lastTime(core: RaftCore, c: TestCluster, id: string): number {
  void core;
  return c.applied.get(id)!.at(-1)!.time;
}

/** A three-node cluster led by a, whose first entry is stamped T0 at monotonic 0. */
function led(): TestCluster {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  c.core('a').propose(bytes('first'), { wall: T0, mono: 0 });
  c.settle();
  return c;
}

function stamp(c: TestCluster, id: string, wall: number, mono: number): number {
  c.core(id).propose(bytes(`at ${mono}`), { wall, mono });
  c.settle();
  return lastTime(c.core(id), c, id);
}

test('time: a leader takes its wall clock while it agrees with its monotonic clock, and an idle hour passes in full', () => {
  const c = led();
  assert.equal(lastTime(c.core('a'), c, 'a'), T0, 'the cluster\'s first stamp is the wall clock');
  assert.equal(stamp(c, 'a', T0 + 1000, 1000), T0 + 1000);
  assert.equal(stamp(c, 'a', T0 + 1000 + HOUR, 1000 + HOUR), T0 + 1000 + HOUR, 'an hour of monotonic time is an hour');
  for (const id of ['b', 'c']) assert.equal(lastTime(c.core(id), c, id), T0 + 1000 + HOUR, `${id} applies the leader's time`);
});

test('time: a wall clock that steps back an hour never moves entry time backwards; time runs at 90% until the clock catches up', () => {
  const c = led();
  assert.equal(stamp(c, 'a', T0 - HOUR, 1000), T0 + 1000 * (1 - CLOCK_SLEW));
  assert.equal(stamp(c, 'a', T0 - HOUR, 1000), T0 + 900, 'no monotonic time passed: time stands still');
  assert.equal(stamp(c, 'a', T0 - HOUR + 2000, 2000), T0 + 1800);
  // The clock, an hour slow, catches up with replicated time only after ten hours of monotonic time.
  assert.equal(stamp(c, 'a', T0 + 11 * HOUR, 12 * HOUR), T0 + 11 * HOUR, 'reached the wall clock again');
});

test('time: a wall clock that jumps an hour ahead is followed at 110% of monotonic time, not at once', () => {
  const c = led();
  assert.equal(stamp(c, 'a', T0 + HOUR, 1000), T0 + 1100);
  // Many proposals in a burst gain nothing: the allowance is per monotonic millisecond, not per entry.
  for (let i = 1; i <= 100; i++) c.core('a').propose(bytes(`burst ${i}`), { wall: T0 + HOUR, mono: 1000 + i / 100 });
  c.settle();
  assert.equal(lastTime(c.core('a'), c, 'a'), T0 + 1101);
  assert.equal(stamp(c, 'a', T0 + 10_000, 10_000), T0 + 10_000, 'a clock set right again is followed');
});

test('time: a new leader whose clock is an hour ahead or behind moves time by its monotonic elapsed time ±10% since it learned the last entry', () => {
  for (const skew of [HOUR, -HOUR, 0]) {
    const c = led();
    // b's clocks as the first entry reaches it: its monotonic clock has its own origin.
    c.core('b').tick({ wall: T0 + skew, mono: 50_000 });
    c.core('a').propose(bytes('second'), { wall: T0 + 10, mono: 10 });
    c.settle();
    c.core('a').transferLeadership('b');
    c.settle();
    assert.equal(c.core('b').status().role, 'leader');
    const t = stamp(c, 'b', T0 + skew + 510, 50_500);
    const expected = skew > 0 ? T0 + 10 + 550 : skew < 0 ? T0 + 10 + 450 : T0 + 510;
    assert.equal(t, expected, `skew ${skew}`);
    assert.ok(c.applied.get('c')!.every((e, i, all) => i === 0 || all[i - 1]!.time <= e.time), 'monotonic on c');
  }
});

test('time: the noop of a new leader and configuration changes carry time forward', () => {
  const c = led();
  c.core('a').proposeConfChange({ type: 'remove', node: 'c' }, { wall: T0 + 5, mono: 5 });
  c.settle();
  c.core('a').transferLeadership('b');
  c.settle();
  const entries = c.applied.get('b')!;
  assert.deepEqual(entries.slice(-2).map((e) => [e.type, e.time]), [[2, T0 + 5], [1, T0 + 5]], 'conf change, then the noop of b');
});

test('time: a snapshot carries the latest entry time, so a node restarted from it with no log after it stays bounded', () => {
  const c = led();
  stamp(c, 'a', T0 + 700, 700);
  const a = c.core('a');
  const index = a.status().commit;
  const snap = a.createSnapshot(index, 5, new Uint8Array(32));
  assert.equal(snap.meta.time, T0 + 700);
  // One voter restarts from that snapshot alone and leads.
  const solo = new RaftCore(config('a'), { ...emptyState(['a']), hardState: { term: 5, vote: null, commit: index }, snapshot: { ...snap, meta: { ...snap.meta, membership: { voters: ['a'], learners: [] } } } });
  solo.tick({ wall: 0, mono: 10 });
  for (let i = 0; i < 30 && solo.status().role !== 'leader'; i++) solo.tick();
  flush(solo);
  solo.propose(bytes('clock reset to 1970'), { wall: 0, mono: 110 });
  solo.propose(bytes('clock a day ahead'), { wall: T0 + 24 * HOUR, mono: 1110 });
  const rd = flush(solo);
  const times = rd.entries.map((e: Entry) => e.time);
  assert.deepEqual(times, [T0 + 700 + 90, T0 + 790 + 1100]);
});

test('time: a read is evaluated at a stamped time, so an entry appended after it never carries an earlier time', () => {
  const c = led();
  // The wall clock runs 5 s ahead of replicated time (an outage the cluster caught up at 10%).
  const readAt = c.core('a').readTime({ wall: T0 + 5000 + 1000, mono: 1000 });
  assert.equal(readAt, T0 + 1100, 'a read follows the same bound as an entry, not the wall clock');
  const written = stamp(c, 'a', T0 + 5000 + 1000, 1000);
  assert.ok(written >= readAt, `an entry after the read carries ${written}, not earlier than the read's ${readAt}`);
  // A follower has no clock of its own to read by: it answers the latest time it knows.
  assert.equal(c.core('b').readTime({ wall: T0 + HOUR, mono: HOUR }), written);
});

test('time: a read of a state that has not applied an entry in its log is evaluated no later than that entry', () => {
  // Stop 31's CI: a len evaluated after a batch consume was stamped, on the state before it, counted
  // a returned message that the consume, applied after it, skipped as still leased.
  const c = led();
  // a proposes at T0 + 1000 (not committed yet), then a read comes at T0 + 3000.
  c.core('a').propose(bytes('in flight'), { wall: T0 + 1000, mono: 1000 });
  const applied = c.applied.get('a')!.at(-1)!.index;
  const pending = T0 + 1000;
  assert.equal(c.core('a').readTime({ wall: T0 + 3000, mono: 3000 }, applied), pending, 'not after the entry the read does not see');
  // Read on a state that has applied everything: the stamp, as before.
  c.settle();
  const all = c.applied.get('a')!.at(-1)!.index;
  assert.equal(c.core('a').readTime({ wall: T0 + 3000, mono: 3000 }, all), T0 + 3000);
});
