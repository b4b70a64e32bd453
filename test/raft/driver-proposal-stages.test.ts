// The driver tells where each proposal's time went on the node that proposed it (issue #13: know
// where the time goes): its own log write, the commit on a majority, and the apply. Each stage is
// made slow in turn, by a slow save on the leader, a slow save on the followers, or a slow apply,
// and the stage that grew is the one told. A slow save on the leader alone does not slow the
// commit: the followers' writes make the majority, and the leader applies what they commit while
// its own write goes on (RaftCore.takeAppends, takeCommitted).

import { strict as assert } from 'node:assert';
import { afterEach, test } from 'node:test';
import { RaftDriver, type ProposalStages } from '../../src/raft/driver.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import type { RaftStorage, RestoreSink, SnapshotSource, StateMachine } from '../../src/raft/types.js';
import { busy } from '../support/busy.js';
import { InProcessNetwork, testDriverOptions, onePieceSource, waitFor } from '../support/in-process-raft.js';

/** Memory storage whose saves take `delayMs` more when `slow` says so. */
class SlowSaveStorage extends MemoryStorage {
  delayMs = 0;
  override async save(update: Parameters<RaftStorage['save']>[0]): Promise<void> {
    if (this.delayMs > 0 && update.entries.length > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return super.save(update);
  }
}

class CountingMachine implements StateMachine<number> {
  count = 0;
  applyMs = 0;
  apply(): number {
    if (this.applyMs > 0) busy(this.applyMs);
    return ++this.count;
  }
  snapshotSource(): SnapshotSource {
    return onePieceSource(new Uint8Array([this.count]));
  }
  restoreSink(): RestoreSink {
    return { write: () => {}, finish: () => {}, abort: () => {} };
  }
}

let running: RaftDriver<number>[] = [];

afterEach(async () => {
  for (const d of running) await d.stop();
  running = [];
});

test('the proposer is told each proposal\'s write, commit and apply times, and the slow stage is the one that grows', { timeout: 60_000 }, async (t) => {
  const net = new InProcessNetwork();
  const ids = ['n1', 'n2', 'n3'];
  const told = new Map<string, ProposalStages[]>(ids.map((id) => [id, []]));
  const storages = new Map(ids.map((id) => [id, new SlowSaveStorage()]));
  const machines = new Map(ids.map((id) => [id, new CountingMachine()]));
  for (const id of ids) {
    const opts = testDriverOptions(id, { initialMembership: { voters: ids, learners: [] }, transport: net.transport(id), storage: storages.get(id)!, stateMachine: machines.get(id)! });
    // Elections of 0.5-1 s: the slow saves below must not cost the leadership.
    const driver = new RaftDriver({ ...opts, tickMs: 50, onProposalStages: (s) => told.get(id)!.push(s) });
    running.push(driver);
    await driver.start();
  }
  const leader = await waitFor('a leader', () => running.find((d) => d.softState().role === 'leader'), 10_000);
  const leaderId = leader.status().id;
  const followers = ids.filter((id) => id !== leaderId);

  /** The stages told for `n` sequential proposals made with the given slowness. */
  const measure = async (n: number): Promise<ProposalStages[]> => {
    const mine = told.get(leaderId)!;
    const from = mine.length;
    for (let i = 0; i < n; i++) await leader.propose(new Uint8Array(8));
    return mine.slice(from);
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const written = (s: ProposalStages[]) => s.filter((x): x is ProposalStages & { writeMs: number } => x.writeMs !== null);
  const summary = (name: string, s: ProposalStages[]) =>
    `${name}: write ${written(s).length === 0 ? '-' : median(written(s).map((x) => x.writeMs)).toFixed(1)} ms (${s.length - written(s).length} committed before it), commit ${median(s.map((x) => x.commitMs)).toFixed(1)} ms, apply ${median(s.map((x) => x.applyMs)).toFixed(1)} ms`;

  const base = await measure(10);
  storages.get(leaderId)!.delayMs = 60;
  const slowLeaderWrite = await measure(10);
  storages.get(leaderId)!.delayMs = 0;
  for (const id of followers) storages.get(id)!.delayMs = 60;
  const slowFollowerWrites = await measure(10);
  for (const id of followers) storages.get(id)!.delayMs = 0;
  machines.get(leaderId)!.applyMs = 60;
  const slowApply = await measure(10);
  machines.get(leaderId)!.applyMs = 0;
  t.diagnostic([summary('base', base), summary('slow leader write', slowLeaderWrite), summary('slow follower writes', slowFollowerWrites), summary('slow apply', slowApply)].join('; '));

  for (const batch of [base, slowLeaderWrite, slowFollowerWrites, slowApply]) {
    assert.equal(batch.length, 10, 'one report per proposal');
    for (const s of batch) {
      assert.ok(s.commitMs >= 0 && s.applyMs >= 0, JSON.stringify(s));
      // A write is told only when it ended before the commit (so it was part of it).
      if (s.writeMs !== null) assert.ok(s.writeMs >= 0 && s.commitMs >= s.writeMs, JSON.stringify(s));
    }
  }
  const med = (b: ProposalStages[], k: 'commitMs' | 'applyMs') => median(b.map((s) => s[k]));
  // Each slow stage shows where it is: the followers' writes between the leader's write and the
  // commit; the apply after the commit. Differences, not absolute times, so that a loaded
  // machine's own delays do not count.
  const gap = (b: ProposalStages[]) => median(written(b).map((s) => s.commitMs - s.writeMs));
  // The leader's slow write is off the commit's path: most entries commit before it ends.
  assert.ok(written(slowLeaderWrite).length <= 5, summary('slow leader write', slowLeaderWrite));
  assert.ok(med(slowLeaderWrite, 'commitMs') < 55, summary('slow leader write', slowLeaderWrite));
  assert.ok(written(slowFollowerWrites).length >= 5 && gap(slowFollowerWrites) >= 55, summary('slow follower writes', slowFollowerWrites));
  assert.ok(med(slowApply, 'applyMs') >= 55, summary('slow apply', slowApply));
  assert.ok(med(slowApply, 'applyMs') - med(base, 'applyMs') > med(slowApply, 'commitMs') - med(base, 'commitMs'), 'the apply grew, not the commit');
  // Only the proposer is told.
  for (const id of followers) assert.equal(told.get(id)!.length, 0, `${id} proposed nothing and was told nothing`);
});
