// Fail-stop in the driver: a storage write that fails halts the node at once. Requests waiting on
// it fail then (not at their timeout), new ones are refused, nothing more is sent, and the owner is
// told the cause once (forge-node.ts then leaves Zenoh and exits).

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { RaftDriver } from '../../src/raft/driver.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { BatchedSnapshotWriter } from '../../src/raft/snapshot-writer.js';
import { RaftError, type Membership, type NodeId } from '../../src/raft/types.js';
import { AppendLog, encodeValue } from '../../src/sim/append-log.js';
import { InProcessNetwork, testDriverOptions, waitFor } from '../support/in-process-raft.js';

/** A disk that fails every write once `broken` is set, as a full or dying disk does. */
class BreakableStorage extends MemoryStorage {
  broken = false;
  override save(update: Parameters<MemoryStorage['save']>[0]): Promise<void> {
    if (this.broken) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    return super.save(update);
  }
}

test('a failed write halts the node: waiters fail at once, new requests are refused, the owner learns the cause once', async () => {
  const ids: NodeId[] = ['n1'];
  const membership: Membership = { voters: ids, learners: [] };
  const net = new InProcessNetwork();
  const storage = new BreakableStorage();
  const halts: Error[] = [];
  const driver = new RaftDriver({
    ...testDriverOptions('n1', { initialMembership: membership, storage, transport: net.transport('n1'), stateMachine: new AppendLog() }),
    requestTimeoutMs: 5000,
    onHalt: (cause) => halts.push(cause),
  });
  await driver.start();
  try {
    await waitFor('leadership', () => (driver.softState().role === 'leader' ? true : undefined));
    await driver.propose(encodeValue(1));
    assert.equal(driver.halted(), null);
    assert.ok(driver.sinceLastTickMs()! < 1000, 'a running loop ticks');

    storage.broken = true;
    const started = Date.now();
    const pending = driver.propose(encodeValue(2));
    await assert.rejects(pending, (e: unknown) => e instanceof RaftError && e.code === 'STOPPED' && /ENOSPC/.test(e.message));
    assert.ok(Date.now() - started < 1000, 'failed at the halt, not at the 5 s request timeout');
    assert.equal(halts.length, 1);
    assert.match(halts[0]!.message, /ENOSPC/);
    assert.equal(driver.halted(), halts[0]);
    assert.throws(() => driver.propose(encodeValue(3)), (e: unknown) => e instanceof RaftError && e.code === 'STOPPED');
    assert.throws(() => driver.readBarrier(), (e: unknown) => e instanceof RaftError && e.code === 'STOPPED');
    const silence = driver.sinceLastTickMs()!;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(halts.length, 1, 'told once');
    assert.ok(driver.sinceLastTickMs()! >= silence + 90, 'a halted loop ticks no more (what /livez sees)');
  } finally {
    await driver.stop();
  }
});

/** A disk whose snapshot staging fails (the Raft loop's own writes still succeed). */
class FailingSnapshotStorage extends MemoryStorage {
  override beginSnapshot() {
    return new BatchedSnapshotWriter(8, {
      stage: () => Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })),
      commit: () => Promise.reject(new Error('never reached')),
      drop: () => {},
    });
  }
}

test('a failed write of a snapshot being taken halts the node too', async () => {
  const membership: Membership = { voters: ['n1'], learners: [] };
  const net = new InProcessNetwork();
  const halts: Error[] = [];
  const driver = new RaftDriver({
    ...testDriverOptions('n1', { initialMembership: membership, storage: new FailingSnapshotStorage(), transport: net.transport('n1'), stateMachine: new AppendLog() }),
    snapshotEntries: 5,
    onHalt: (cause) => halts.push(cause),
  });
  await driver.start();
  try {
    await waitFor('leadership', () => (driver.softState().role === 'leader' ? true : undefined));
    for (let i = 0; i < 8 && driver.halted() === null; i++) await driver.propose(encodeValue(i)).catch(() => undefined);
    await waitFor('the halt', () => driver.halted() ?? undefined);
    assert.equal(halts.length, 1);
    assert.match(halts[0]!.message, /EIO/);
    assert.equal(driver.status().snapshotIndex, 0, 'no snapshot was committed');
  } finally {
    await driver.stop();
  }
});
