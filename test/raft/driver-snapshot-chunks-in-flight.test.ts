// Several snapshot chunks in flight to one follower (RaftConfig.snapshotChunksInFlight): the
// leader's driver reads them from storage side by side, but a follower takes chunks in order
// only, so each leaves after the one asked for before it, however the reads finish.

import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, test } from 'node:test';
import { RaftDriver } from '../../src/raft/driver.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import type { NodeId, SnapshotChunk } from '../../src/raft/types.js';
import { CounterMachine } from '../../src/sim/counter-machine.js';
import { commitUntil, InProcessNetwork, testDriverOptions, waitFor } from '../support/in-process-raft.js';

const ids: NodeId[] = ['n1', 'n2', 'n3'];
const CHUNK_BYTES = 16 << 10;
const IN_FLIGHT = 4;
/** Thirteen chunks. */
const IMAGE_BYTES = 200_000;

let running: Array<RaftDriver<number>> = [];
afterEach(async () => {
  for (const d of running) await d.stop();
  running = [];
});

/**
 * A store whose reads of a window's later chunks finish first: 12, 8, 4 and 0 ms for chunks 0-3,
 * 4-7, ... (below the leader's 30 ms, three heartbeat answers, before it sends a chunk again).
 */
class ReversedReads extends MemoryStorage {
  override async readSnapshot(index: number, offset: number, length: number): Promise<Uint8Array> {
    await sleep(4 * (IN_FLIGHT - 1 - ((offset / CHUNK_BYTES) % IN_FLIGHT)));
    return super.readSnapshot(index, offset, length);
  }
}

test('chunks read out of order still leave in order, a window at a time, and the follower installs the image once', { timeout: 60_000 }, async () => {
  // The snapshot chunks to n3, in the order they were handed to the network.
  const toN3: SnapshotChunk[] = [];
  const net = new InProcessNetwork((m, deliver) => {
    if (m.type === 'snapshot' && m.to === 'n3') toN3.push(m);
    deliver();
  });
  const machines = new Map(ids.map((id) => [id, new CounterMachine(IMAGE_BYTES)]));
  for (const other of ['n1', 'n2']) net.cut.add(`n3>${other}`).add(`${other}>n3`);
  for (const id of ids) {
    const opts = testDriverOptions(id, { initialMembership: { voters: ids, learners: [] }, storage: new ReversedReads(), transport: net.transport(id), stateMachine: machines.get(id)! });
    const driver = new RaftDriver({ ...opts, core: { ...opts.core, snapshotChunkBytes: CHUNK_BYTES, snapshotChunksInFlight: IN_FLIGHT }, snapshotEntries: 100 });
    running.push(driver);
    await driver.start();
  }
  const leader = await waitFor('a leader', () => running.find((d) => d.softState().role === 'leader'), 10_000);
  await commitUntil(leader, 'a compaction on the leader', () => leader.status().compactedThrough > 0);
  const n3 = running.find((d) => d.status().id === 'n3')!;
  const m3 = machines.get('n3')!;
  net.cut.clear();
  await waitFor('n3 installing the image', () => (m3.restores > 0 ? true : undefined), 30_000);
  await n3.waitApplied(leader.status().commit);

  const index = toN3[0]!.meta.index;
  const first = toN3.filter((ch) => ch.meta.index === index).map((ch) => ch.offset);
  const expected = Array.from({ length: Math.ceil(IMAGE_BYTES / CHUNK_BYTES) }, (_, i) => i * CHUNK_BYTES);
  assert.deepEqual(first.slice(0, expected.length), expected, 'each chunk once, in order');
  assert.equal(m3.restores, 1);
  assert.equal(m3.count, machines.get(leader.status().id)!.count);
});
