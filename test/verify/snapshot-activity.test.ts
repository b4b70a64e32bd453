import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { formatSnapshotActivity, snapshotEvents } from '../../src/verify/snapshot-activity.js';

const line = (o: Record<string, unknown>) => JSON.stringify({ level: 30, node: 'n1', ...o });

test('snapshot events are read from a node log with the phase of the run they fell in', () => {
  const log = [
    line({ time: 900, index: 2000, bytes: 600_000, ms: 40, slices: 3, msg: 'snapshot taken' }),
    line({ time: 1000, msg: 'raft node started from disk' }),
    '{"level":30,"time":1100,"msg":"installed snapsh', // cut by kill -9
    line({ time: 1500, index: 4000, bytes: 1_200_000, ms: 75, msg: 'restored snapshot from disk' }),
    line({ time: 2000, index: 6000, bytes: 2_000_000, ms: 120, queued: 3, msg: 'installed snapshot from leader' }),
    line({ time: 2600, index: 8000, bytes: 2_500_000, ms: 90, msg: 'snapshot taken' }),
    line({ time: 2700, msg: 'snapshot take abandoned' }),
  ].join('\n');
  const events = snapshotEvents('n1', log, 1000, 2500);
  assert.deepEqual(
    events.map((e) => [e.kind, e.phase, e.time, e.index, e.bytes, e.ms]),
    [
      ['taken', 'before', 900, 2000, 600_000, 40],
      ['restored', 'faults', 1500, 4000, 1_200_000, 75],
      ['installed', 'faults', 2000, 6000, 2_000_000, 120],
      ['taken', 'after', 2600, 8000, 2_500_000, 90],
    ],
  );
  assert.deepEqual(formatSnapshotActivity(events), [
    'n1 taken     2 (before 1, faults 0, after 1); largest 2.4 MiB, longest 90 ms',
    'n1 installed 1 (before 0, faults 1, after 0); largest 1.9 MiB, longest 120 ms',
    'n1 restored  1 (before 0, faults 1, after 0); largest 1.1 MiB, longest 75 ms',
  ]);
});
