// A slow fsync is not a dead node. While a write is in progress, heartbeats and their answers still
// leave (RaftCore.takeHeartbeats): a leader whose followers take several election timeouts to sync
// one entry (a 1 MiB body on a busy disk) keeps its leadership, and followers whose leader is
// stuck in its own write call no election. Before, both sides fell silent for the write's length:
// CheckQuorum deposed the leader, and a CI run's 1 MiB put came back LEADERSHIP_LOST.

import { strict as assert } from 'node:assert';
import { afterEach, test } from 'node:test';
import { RaftDriver } from '../../src/raft/driver.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import type { NodeId, RaftStorage } from '../../src/raft/types.js';
import { AppendLog, encodeValue } from '../../src/sim/append-log.js';
import { InProcessNetwork, startProductionTimedCluster, waitFor } from '../support/in-process-raft.js';

const ids: NodeId[] = ['n1', 'n2', 'n3'];
// Five times the longest election timeout of production timing (300-600 ms).
const SLOW_WRITE_MS = 3000;
let running: Array<RaftDriver<number>> = [];

afterEach(async () => {
  for (const d of running) await d.stop();
  running = [];
});

/** A perfect disk whose writes of entries take `slowMs` while it is set. */
class SlowDisk extends MemoryStorage {
  slowMs = 0;
  override async save(update: Parameters<RaftStorage['save']>[0]): Promise<void> {
    if (this.slowMs > 0 && update.entries.length > 0) await new Promise((r) => setTimeout(r, this.slowMs));
    return super.save(update);
  }
}

async function cluster(): Promise<{ disks: Map<NodeId, SlowDisk>; leader: RaftDriver<number> }> {
  const net = new InProcessNetwork();
  const disks = new Map(ids.map((id) => [id, new SlowDisk()]));
  await startProductionTimedCluster(ids, net, (id) => ({ storage: disks.get(id)!, stateMachine: new AppendLog() }), { requestTimeoutMs: 4 * SLOW_WRITE_MS }, running);
  const leader = await waitFor('a leader', () => running.find((d) => d.softState().role === 'leader'));
  await leader.propose(encodeValue(1));
  return { disks, leader };
}

/** Every node's term, and who leads, sampled until `p` settles; the distinct values seen. */
async function watchTerms(p: Promise<unknown>): Promise<Set<string>> {
  const seen = new Set<string>();
  let settled = false;
  void p.finally(() => (settled = true)).catch(() => {});
  while (!settled) {
    for (const d of running) seen.add(`${d.status().term}:${d.softState().leader}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return seen;
}

test("followers slow to write keep answering heartbeats: the leader is not deposed, and the entry commits", { timeout: 30_000 }, async () => {
  const { disks, leader } = await cluster();
  const before = `${leader.status().term}:${leader.status().id}`;
  for (const [id, disk] of disks) if (id !== leader.status().id) disk.slowMs = SLOW_WRITE_MS;
  const started = Date.now();
  const proposal = leader.propose(encodeValue(2));
  const seen = await watchTerms(proposal);
  await proposal;
  assert.ok(Date.now() - started >= SLOW_WRITE_MS, 'the commit waited for a follower to sync');
  assert.deepEqual([...seen], [before], 'one leader in one term throughout');
});

test('a leader slow to write keeps sending heartbeats: no follower calls an election', { timeout: 30_000 }, async () => {
  const { disks, leader } = await cluster();
  const before = `${leader.status().term}:${leader.status().id}`;
  for (const disk of disks.values()) disk.slowMs = SLOW_WRITE_MS;
  const proposal = leader.propose(encodeValue(2));
  const seen = await watchTerms(proposal);
  await proposal;
  assert.deepEqual([...seen], [before], 'one leader in one term throughout');
});
