// A follower that needs an image catches up even when sending it outlasts the leader's next
// snapshot. The leader keeps the entries its newer snapshot covers while the older image is being
// sent (RaftConfig.catchUpLogBytes), so the follower goes on from the log once it has installed
// it. Before, the leader compacted at once: the follower finished an image the log no longer
// continued, was sent the newer one, and so on for as long as the load lasted (15 images in 20 s
// in this setting, never caught up).

import { strict as assert } from 'node:assert';
import { afterEach, test } from 'node:test';
import type { RaftDriver } from '../../src/raft/driver.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import { CounterMachine } from '../../src/sim/counter-machine.js';
import { commitUntil, InProcessNetwork, startProductionTimedCluster, waitFor } from '../support/in-process-raft.js';

const ids: NodeId[] = ['n1', 'n2', 'n3'];
/** Eleven 64 KiB chunks, each delivered 100 ms late: a transfer takes over a second. */
const IMAGE_BYTES = 700_000;
const CHUNK_DELAY_MS = 100;
/** The leader snapshots every 100 entries: several times during one transfer. */
const SNAPSHOT_ENTRIES = 100;
/** Room for 400,000 of the test's 16-byte entries (40 bytes each as counted): a transfer here takes 15,000. */
const CATCH_UP_LOG_BYTES = 16 << 20;

let running: Array<RaftDriver<number>> = [];

afterEach(async () => {
  for (const d of running) await d.stop();
  running = [];
});

/** Snapshot chunks to n3 are delivered `CHUNK_DELAY_MS` late (a slow link to it). */
function slowLinkToN3(m: Message, deliver: () => void): void {
  if (m.type === 'snapshot' && m.to === 'n3') setTimeout(deliver, CHUNK_DELAY_MS);
  else deliver();
}

test('a follower whose image takes longer to send than the leader takes to snapshot again installs one image and catches up from the log', { timeout: 120_000 }, async (t) => {
  const net = new InProcessNetwork(slowLinkToN3);
  const machines = new Map(ids.map((id) => [id, new CounterMachine(IMAGE_BYTES)]));
  // n3 is cut off from the start: the others compact their logs past everything it has.
  for (const other of ['n1', 'n2']) net.cut.add(`n3>${other}`).add(`${other}>n3`);
  await startProductionTimedCluster(
    ids,
    net,
    (id) => ({ storage: new MemoryStorage(), stateMachine: machines.get(id)! }),
    { snapshotEntries: SNAPSHOT_ENTRIES, core: { catchUpLogBytes: CATCH_UP_LOG_BYTES } },
    running,
  );
  const leader = await waitFor('a leader', () => running.find((d) => d.softState().role === 'leader'), 10_000);
  const term = leader.softState().term;
  // Compacted, not only snapshotted: the leader keeps the log for n3 until it has not heard from it for a round.
  await commitUntil(leader, 'a compaction on the leader', () => leader.status().compactedThrough > 0);
  const n3 = running.find((d) => d.status().id === 'n3')!;
  const m3 = machines.get('n3')!;
  const leaderId = leader.status().id;

  net.cut.clear();
  const healed = performance.now();
  let snapshotsMeanwhile = 0;
  let lastSnapshot = leader.status().snapshotIndex;
  // Load goes on all along; n3 has caught up once the leader replicates to it from the log.
  const commits = await commitUntil(
    leader,
    'n3 catching up',
    () => {
      const s = leader.status().snapshotIndex;
      if (s !== lastSnapshot) (snapshotsMeanwhile++, (lastSnapshot = s));
      return m3.restores > 0 && leader.status().progress.n3?.state === 'replicate';
    },
    60_000,
  );
  const caughtUp = performance.now() - healed;
  await n3.waitApplied(leader.status().commit);
  t.diagnostic(`caught up ${caughtUp.toFixed(0)} ms after the heal, ${commits.length} commits meanwhile, ${snapshotsMeanwhile} leader snapshots, ${m3.restores} image(s) installed`);
  assert.ok(snapshotsMeanwhile >= 2, `the leader snapshotted ${snapshotsMeanwhile} times while n3 caught up: the setting did not test a transfer outlasting a snapshot`);
  assert.equal(m3.restores, 1, 'one image, then the log');
  assert.equal(m3.count, machines.get(leaderId)!.count, 'n3 holds what the leader holds');
  for (const d of running) assert.equal(d.softState().term, term, `no election happened (${d.status().id})`);
});
