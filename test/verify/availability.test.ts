import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { measureAvailability } from '../../src/verify/availability.js';
import { HistoryBuilder } from './history-builder.js';

const MS = 1_000_000;

test('the gap after a fault runs to the first served answer to a request sent after it', () => {
  const h = new HistoryBuilder();
  h.put('u', 'a', [0, 1 * MS]);
  // Sent before the fault, answered after it: says nothing about the service after the fault.
  h.put('u', 'b', [99 * MS, 700 * MS]);
  // Sent after the fault: indeterminate, then refused by a deposed leader: neither is service.
  h.putInfo('u', 'c', 150 * MS);
  h.putFail('u', 'd', [200 * MS, 260 * MS]);
  // The first served one.
  h.put('u', 'e', [300 * MS, 900 * MS]);
  h.put('u', 'f', [1500 * MS, 1510 * MS]);
  const r = measureAvailability(h.ops, [{ kind: 'freeze-leader', start: 100 * MS, end: 1400 * MS, target: 'n1' }]);
  assert.deepEqual(r.byKind['freeze-leader'], { faults: 1, afterStartMaxMs: 800, afterHealMaxMs: 110, unserved: 0 });
  assert.deepEqual(r.worst, { kind: 'freeze-leader', target: 'n1', after: 'start', gapMs: 800 });
  // Served answers returned at 1, 700, 900, 1510 ms.
  assert.equal(r.longestGapMs, 699);
});

test('per kind, the longest of its faults; a fault never followed by service is reported as such', () => {
  const h = new HistoryBuilder();
  h.put('u', 'a', [10 * MS, 20 * MS]);
  h.put('u', 'b', [1000 * MS, 1300 * MS]);
  const r = measureAvailability(h.ops, [
    { kind: 'pause', start: 0, end: 500 * MS, target: 'n2' },
    { kind: 'pause', start: 600 * MS, end: 900 * MS, target: 'n3' },
    { kind: 'kill', start: 1200 * MS, end: 1400 * MS, target: 'n1' },
  ]);
  // The second pause's start gap (700 ms to b's answer) is cut at the kill's start (600 ms); the
  // first pause's heal gap at the second pause's start (100 ms), the second's at the kill (300 ms).
  assert.deepEqual(r.byKind.pause, { faults: 2, afterStartMaxMs: 600, afterHealMaxMs: 300, unserved: 0 });
  assert.deepEqual(r.byKind.kill, { faults: 1, afterStartMaxMs: null, afterHealMaxMs: null, unserved: 2 });
});

test('a gap is cut at the next fault\'s start: a later fault\'s silence is not the earlier one\'s', () => {
  const h = new HistoryBuilder();
  h.put('u', 'a', [10 * MS, 20 * MS]);
  h.put('u', 'b', [3000 * MS, 3100 * MS]);
  const r = measureAvailability(h.ops, [
    // Healed at 500 ms; nothing served until the router restart at 1200 ms ... and beyond.
    { kind: 'pause', start: 0, end: 500 * MS, target: 'n2' },
    // Overlapping: starts while the first holds.
    { kind: 'router-restart', start: 1200 * MS, end: 1300 * MS, target: '' },
    { kind: 'kill', start: 1250 * MS, end: 2000 * MS, target: 'n1' },
  ]);
  // pause: its start gap runs to its own served answer at 20 ms; its heal gap is cut at 1200 ms.
  assert.deepEqual(r.byKind.pause, { faults: 1, afterStartMaxMs: 20, afterHealMaxMs: 700, unserved: 0 });
  // router-restart: start cut at the kill's start (50 ms); its heal gap runs to 3100 ms.
  assert.deepEqual(r.byKind['router-restart'], { faults: 1, afterStartMaxMs: 50, afterHealMaxMs: 1800, unserved: 0 });
  assert.deepEqual(r.byKind.kill, { faults: 1, afterStartMaxMs: 1850, afterHealMaxMs: 1100, unserved: 0 });
});
