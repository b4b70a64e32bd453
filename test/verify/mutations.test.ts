// Every deliberate bug the chaos runner must catch (src/verify/mutations.ts, detector `chaos`)
// is switched on in a real cluster (FORGE_UNSAFE_MUTATIONS) and the runner must report it within
// a short run: a checker that goes blind, or a workload or nemesis that stops exposing the bug,
// fails here. Each schedule is fixed (seed, faults, workload) and was picked to expose its bug
// several times per run, so one run catching it is not luck. The safe build under the same
// faults is checked clean by test/verify/chaos.test.ts.

import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { formatReport, runChaos, UNSAFE_MODES, type ChaosOptions, type ChaosReport, type UnsafeMode } from '../../src/verify/chaos.js';
import { readHistory } from '../../src/verify/history.js';
import { MUTATIONS } from '../../src/verify/mutations.js';
import { useTempDir } from '../support/e2e.js';

const histories = useTempDir('forge-mutations-test-', 'mutation histories');

interface Schedule {
  options: Omit<ChaosOptions, 'nodes' | 'historyPath' | 'unsafe'>;
  /** What the checkers must report beyond "not clean". */
  caught: (r: ChaosReport) => void;
  /** The first op of the history that shows the bug, when the report names one. */
  firstOffence?: (r: ChaosReport) => number | undefined;
}

const SCHEDULES: Record<UnsafeMode, Schedule> = {
  // Consumes answered before commit: concurrent consumers get one message, answers outlive
  // proposals lost with a killed or isolated leader.
  'ack-before-commit': {
    options: { seed: 303, timeSec: 12, faults: ['kill-leader', 'partition-leader'] },
    caught: (r) => {
      const tq = r.totalQueue!;
      assert.ok(tq.counts.duplicated > 0 || tq.counts.lost > 0, 'duplicated or lost messages found');
      assert.equal(r.linearizability!.linearizable, false, 'Porcupine finds it');
    },
  },
  // Reads from local state: only a deposed leader that still answers shows it, which is what the
  // stale-leader fault makes, and only reads landing in that window see it (the readers).
  'read-without-read-index': {
    options: { seed: 5, timeSec: 20, faults: ['stale-leader'], readers: 3 },
    caught: (r) => assert.equal(r.linearizability!.linearizable, false, 'Porcupine finds the stale read'),
    firstOffence: (r) => r.totalQueue!.staleReads[0]?.opId,
  },
  // Receipts reused across deliveries: short leases, acks after the lease ran out while another
  // consumer holds the message again; one leased user, so a returned message is taken again soon.
  // No fault is needed; leader changes add lease expiries.
  'lease-receipt-reuse': {
    options: { seed: 7, timeSec: 20, faults: ['kill-leader', 'partition-leader'], leaseMs: 400, plainUsers: 3, leasedUsers: 1 },
    caught: (r) => {
      assert.ok(r.totalQueue!.staleSettles.length > 0, 'an ack settled a delivery a later one superseded');
      assert.equal(r.linearizability!.linearizable, false, 'Porcupine finds it');
    },
    firstOffence: (r) => r.totalQueue!.staleSettles[0]?.opId,
  },
};

test('every mutation the chaos runner must catch has a schedule here', () => {
  const chaos = MUTATIONS.filter((m) => m.detector === 'chaos').map((m) => m.name);
  assert.deepEqual([...UNSAFE_MODES].sort(), [...chaos].sort());
  assert.deepEqual(Object.keys(SCHEDULES).sort(), [...chaos].sort());
});

describe('chaos: every chaos-detected mutation is caught', { timeout: 900_000 }, () => {
  for (const mutation of UNSAFE_MODES) {
    const schedule = SCHEDULES[mutation];
    test(`${mutation}: seed ${schedule.options.seed}, ${schedule.options.timeSec} s`, { timeout: 240_000 }, async () => {
      const r = await runChaos({
        log: (line) => process.stderr.write(`# ${mutation} ${line}\n`),
        nodes: 3,
        holdMs: [800, 2500],
        quietMs: [300, 1200],
        checkTimeoutMs: 60_000,
        historyPath: join(histories.path, `${mutation}.jsonl`),
        unsafe: mutation,
        ...schedule.options,
      });
      process.stderr.write(formatReport(r) + '\n');
      const first = schedule.firstOffence?.(r);
      if (first !== undefined) {
        const op = (await readHistory(r.historyPath)).ops.find((o) => o.id === first);
        if (op !== undefined) process.stderr.write(`${mutation}: first offending op ${first} invoked ${(op.call / 1e9).toFixed(1)} s into the run\n`);
      }
      rmSync(r.clusterDir, { recursive: true, force: true });
      if (r.clean) histories.keep();
      assert.equal(r.unsafe, mutation);
      assert.equal(r.checkError, null);
      assert.equal(r.clean, false, `${mutation} went unnoticed`);
      schedule.caught(r);
    });
  }
});
