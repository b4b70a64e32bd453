// Storage faults on real `forge-mailbox serve` processes (LevelDB on disk, the real router):
//  - a corrupt store: a follower whose snapshot has one flipped bit refuses to start (exit 65),
//    naming the store and the key and the recovery step; the runbook (remove-node, wipe, start as
//    a joiner, add-node) brings it back, caught up, with every acknowledged message there once;
//  - a disk that fills (data directories on small tmpfs mounts; skipped when mount is not
//    permitted): below the watermark the leader refuses puts with NOSPACE and no node crashes,
//    consumes still commit; a leader whose disk is truly full halts, leaves Zenoh and exits 74
//    (fail-stop), the others serve, and it rejoins on its intact store once restarted.

import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { describe } from 'node:test';
import { MailboxClientError, type ForgeMailboxClient } from '../../src/bridge/client.js';
import { SERVE_EXIT } from '../../src/node/exit-codes.js';
import { flipStoredBit } from '../../src/verify/store-damage.js';
import { fillDisk, tmpfsUnavailable, unfillDisk } from '../../src/verify/tmpfs.js';
import { eventually, sleep, useCluster } from '../support/e2e.js';

interface NodeStatus {
  node: string;
  role: string;
  appliedIndex: number;
  commitIndex: number;
  snapshotIndex: number;
  members: { voters: string[]; learners: string[] };
}

async function statuses(client: ForgeMailboxClient): Promise<NodeStatus[]> {
  return (await client.nodeStatuses()) as NodeStatus[];
}

/** Resolves once `node` reports itself a voter that applied what the leader had committed when asked. */
async function caughtUp(client: ForgeMailboxClient, node: string): Promise<void> {
  await eventually(`${node} caught up`, async () => {
    const all = await statuses(client);
    const leader = all.find((s) => s.role === 'leader');
    const it = all.find((s) => s.node === node);
    if (!leader || !it || !leader.members.voters.includes(node)) return undefined;
    return it.appliedIndex >= leader.commitIndex ? true : undefined;
  }, 30_000);
}

/** Consumes `user`'s mailbox to the end (each consume with a request id, retried until answered). */
async function drain(client: ForgeMailboxClient, user: string, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; ; n++) {
    const m = await retried(() => client.consume(user, { requestId: `${tag}-${n}` }));
    if (m === null) return ids;
    ids.push(m.id);
  }
}

/** Retries a call through elections and fail-stops; a call with an id/rid is safe to repeat. */
async function retried<T>(call: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof MailboxClientError) || Date.now() > deadline) throw err;
      if (['BAD_REQUEST', 'BAD_USER', 'NOSPACE'].includes(err.code)) throw err;
      await sleep(200);
    }
  }
}

describe('a node whose store is corrupt refuses to start, and the runbook brings it back', { timeout: 240_000 }, () => {
  const e2e = useCluster({ nodes: 3, raft: { snapshotEntries: 32 } });
  const { step, cli } = e2e;
  const acked: string[] = [];
  let victim = '';

  step('acknowledged puts, and every node takes a snapshot', async () => {
    for (let i = 0; i < 80; i++) acked.push((await retried(() => e2e.client.put('alice', `m${i}`, { id: `m${i}` }))).id);
    await eventually('snapshots on every node', async () => ((await statuses(e2e.client)).filter((s) => s.snapshotIndex > 0).length === 3 ? true : undefined));
  });

  step('a flipped bit in a stopped follower\'s snapshot: it refuses to start (exit 65), naming the key and the recovery', async () => {
    const leader = await e2e.cluster.waitForLeader(e2e.client);
    victim = e2e.cluster.ids.find((id) => id !== leader)!;
    await e2e.cluster.signal(victim, 'SIGTERM');
    const key = await flipStoredBit(join(e2e.cluster.dataDir(victim), 'raft'), 'd/');
    // The first chunk of the snapshot, under the generation of the node's latest take.
    assert.match(key ?? '', /^d\/[0-9a-f]{8}\/00000000$/);
    e2e.cluster.startNode(victim);
    assert.equal(await e2e.cluster.waitForExit(victim, 30_000), SERVE_EXIT.storeUnreadable);
    const logs = e2e.cluster.logs(victim);
    assert.match(logs, /refusing to start: the store in .* is unreadable: store .*raft, key "d\/[0-9a-f]{8}\/00000000": checksum mismatch/);
    assert.match(logs, /wipe this node and add it again from its peers/);
  });

  step('runbook: remove-node, wipe, start as a joiner, add-node; it catches up and nothing acknowledged is lost or doubled', async () => {
    const removed = await cli('remove-node', victim);
    assert.equal(removed.code, 0, removed.stderr);
    e2e.cluster.wipeAndRejoin(victim);
    const added = await cli('add-node', victim, `127.0.0.1:${e2e.cluster.nodes.get(victim)!.port}`, '--wait', '60000');
    assert.equal(added.code, 0, added.stderr);
    await caughtUp(e2e.client, victim);
    assert.deepEqual(await drain(e2e.client, 'alice', 'after-rejoin'), acked);
  });
});

const noTmpfs = tmpfsUnavailable();
if (noTmpfs !== null) process.stderr.write(`skipping the disk-full tests: cannot mount a tmpfs here (${noTmpfs})\n`);

describe('a disk that fills: NOSPACE below the watermark, fail-stop when full', { timeout: 300_000, skip: noTmpfs ?? false }, () => {
  const WATERMARK = 8 << 20;
  const e2e = useCluster({ nodes: 3, tmpfsBytes: 48 << 20, disk: { minFreeBytes: WATERMARK, checkIntervalMs: 200 } });
  const { step } = e2e;
  // Every acknowledged put, and every consumed id, in order: at the end each put was consumed once.
  const acked: string[] = [];
  const consumed: string[] = [];
  const consume = async (rid: string) => {
    const m = await retried(() => e2e.client.consume('bob', { requestId: rid }));
    if (m !== null) consumed.push(m.id);
    return m;
  };

  step('below the watermark the leader refuses puts with NOSPACE; consumes still commit; nobody crashes', async () => {
    for (let i = 0; i < 10; i++) acked.push((await retried(() => e2e.client.put('bob', `b${i}`, { id: `b${i}` }))).id);
    for (const id of e2e.cluster.ids) fillDisk(e2e.cluster.dataDir(id), WATERMARK / 2);
    await sleep(800);
    await assert.rejects(
      retried(() => e2e.client.put('bob', 'refused', { id: 'refused' })),
      (e: unknown) => e instanceof MailboxClientError && e.code === 'NOSPACE' && /watermark/.test(e.message),
    );
    assert.equal((await consume('low-disk-consume'))?.id, 'b0', 'a consume commits out of the reserve');
    assert.equal((await e2e.client.len('bob')).count, acked.length - 1);
    for (const id of e2e.cluster.ids) assert.ok(e2e.cluster.isRunning(id), `${id} still running`);
    for (const id of e2e.cluster.ids) unfillDisk(e2e.cluster.dataDir(id));
    await sleep(800);
    acked.push((await retried(() => e2e.client.put('bob', 'accepted again', { id: 'again' }))).id);
  });

  step('a leader whose disk is full halts, leaves Zenoh and exits 74; the others serve; it rejoins after a restart', async () => {
    const leader = await e2e.cluster.waitForLeader(e2e.client);
    fillDisk(e2e.cluster.dataDir(leader));
    // Its puts are refused by the watermark; consumes (and its expiry sweeps) are log writes,
    // which fail once the last page of its log file is used up.
    for (let n = 0; e2e.cluster.isRunning(leader) && n < 50; n++) await consume(`full-disk-${n}`);
    assert.equal(await e2e.cluster.waitForExit(leader, 30_000), SERVE_EXIT.storageFailed);
    const logs = e2e.cluster.logs(leader);
    assert.match(logs, /"level":50.*storage failure halted raft: leaving Zenoh/);
    assert.match(logs, /no space left on device|ENOSPC|IO error/i);
    const next = await e2e.cluster.waitForLeader(e2e.client, 20_000, leader);
    assert.notEqual(next, leader);
    acked.push((await retried(() => e2e.client.put('bob', 'after fail-stop', { id: 'after' }))).id);

    // Restarted on the still-full disk: it cannot open its store (LevelDB writes as it opens) or
    // halts at its first write; either way a storage failure, exit 74, not a generic failure.
    e2e.cluster.startNode(leader);
    assert.equal(await e2e.cluster.waitForExit(leader, 30_000), SERVE_EXIT.storageFailed);

    unfillDisk(e2e.cluster.dataDir(leader));
    e2e.cluster.startNode(leader);
    await caughtUp(e2e.client, leader);
    assert.ok(e2e.cluster.isRunning(leader));
    for (let n = 0; (await consume(`final-${n}`)) !== null; n++);
    assert.deepEqual(consumed, acked, 'every acknowledged put consumed exactly once, in order');
  });
});
