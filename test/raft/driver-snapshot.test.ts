// The driver's snapshot triggers: the count of entries applied since the last snapshot
// (snapshotEntries, raised for a large image by snapshotImageBytesPerEntry) and, whichever comes
// first, their payload bytes (snapshotBytes), so that a log of large entries is compacted long
// before it reaches the entry count.

import { strict as assert } from 'node:assert';
import { afterEach, test } from 'node:test';
import { RaftDriver } from '../../src/raft/driver.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { CounterMachine } from '../../src/sim/counter-machine.js';
import { InProcessNetwork, testDriverOptions, waitFor } from '../support/in-process-raft.js';

let running: RaftDriver<number>[] = [];

afterEach(async () => {
  for (const d of running) await d.stop();
  running = [];
});

/**
 * Resolves once everything the driver was doing for earlier proposals is done, the snapshot check
 * included (it runs after the proposal is answered): Readies are handled one at a time, so an
 * empty entry's answer comes after. Empty: it adds no bytes. A snapshot that check began is taken
 * beside the loop (one piece for the counter machine): a few more turns see it stored.
 */
const settled = async (driver: RaftDriver<number>) => {
  await driver.propose(new Uint8Array(0));
  await new Promise((r) => setTimeout(r, 20));
};

const snapshotAt = (driver: RaftDriver<number>, index: number) =>
  waitFor(`a snapshot at ${index}`, () => (driver.status().snapshotIndex === index ? true : undefined));

/**
 * Proposes small entries up to one short of `at` (the settling entry the last of them), checks
 * that the latest snapshot is still `previous`, then proposes one more: the next snapshot is at `at`.
 */
async function nextSnapshotAt(driver: RaftDriver<number>, previous: number, at: number, why?: string): Promise<void> {
  const entry = new Uint8Array(10);
  while (driver.status().applied < at - 2) await driver.propose(entry);
  await settled(driver);
  assert.equal(driver.status().applied, at - 1);
  assert.equal(driver.status().snapshotIndex, previous, why);
  await driver.propose(entry);
  await snapshotAt(driver, at);
}

/** A one-node cluster on memory storage, leading, with the given triggers. */
async function leader(
  triggers: { snapshotEntries: number; snapshotBytes?: number; snapshotJitter?: number; snapshotImageBytesPerEntry?: number },
  random?: () => number,
  imageBytes = 0,
  storage = new MemoryStorage(),
): Promise<{ driver: RaftDriver<number>; storage: MemoryStorage }> {
  const opts = testDriverOptions('n1', {
    initialMembership: { voters: ['n1'], learners: [] },
    storage,
    transport: new InProcessNetwork().transport('n1'),
    stateMachine: new CounterMachine(imageBytes),
  });
  const driver = new RaftDriver({ ...opts, ...(random ? { core: { ...opts.core, random } } : {}), ...triggers });
  running.push(driver);
  await driver.start();
  await waitFor('leadership', () => (driver.softState().role === 'leader' ? true : undefined));
  return { driver, storage };
}

test('a snapshot is taken once the entries applied since the last one carry snapshotBytes, long before the entry count', async () => {
  const { driver, storage } = await leader({ snapshotEntries: 1_000_000, snapshotBytes: 10_000 });
  const entry = new Uint8Array(1000);
  for (let i = 0; i < 9; i++) await driver.propose(entry);
  await settled(driver);
  assert.equal(driver.status().snapshotIndex, 0, '9,000 bytes (plus the bootstrap entries): no snapshot yet');
  await driver.propose(entry);
  // The 10th 1,000-byte entry passes 10,000 bytes: a snapshot at its index.
  const first = driver.status().applied;
  await snapshotAt(driver, first);
  assert.equal((await storage.load()).snapshot?.meta.index, first, 'the snapshot is on disk and the log compacted behind it');
  // The bytes are counted again from the snapshot.
  for (let i = 0; i < 9; i++) await driver.propose(entry);
  await settled(driver);
  assert.equal(driver.status().snapshotIndex, first);
  await driver.propose(entry);
  await snapshotAt(driver, driver.status().applied);
});

test('small entries do not reach the byte trigger: the entry count still decides', async () => {
  const { driver } = await leader({ snapshotEntries: 50, snapshotBytes: 10_000 });
  await nextSnapshotAt(driver, 0, 50, '49 entries of at most 10 bytes: neither trigger reached');
});

test('without snapshotBytes, large entries wait for the entry count', async () => {
  const { driver } = await leader({ snapshotEntries: 1_000_000 });
  for (let i = 0; i < 30; i++) await driver.propose(new Uint8Array(1000));
  await settled(driver);
  assert.equal(driver.status().snapshotIndex, 0);
});

test('snapshotJitter stretches the triggers of each snapshot by its own draw', async () => {
  // Every draw 0.5 and a jitter of 1: each snapshot comes after 1.5 x 20 entries, not 20.
  const { driver } = await leader({ snapshotEntries: 20, snapshotJitter: 1 }, () => 0.5);
  await nextSnapshotAt(driver, 0, 30, '29 entries: past 20, short of the stretched 30');
  // Drawn anew for the next one: 30 more.
  await nextSnapshotAt(driver, 30, 60);
});

test('snapshotImageBytesPerEntry raises the entry trigger to one entry per that many bytes of the last image', async () => {
  // Images of 4,000 bytes, one entry per 100 bytes of image: 40 entries after the first
  // snapshot, not snapshotEntries' 10.
  const storage = new MemoryStorage();
  const { driver } = await leader({ snapshotEntries: 10, snapshotImageBytesPerEntry: 100 }, undefined, 4000, storage);
  // No image yet: the first snapshot comes at snapshotEntries.
  await nextSnapshotAt(driver, 0, 10);
  assert.equal((await storage.load()).snapshot?.size, 4000);
  await nextSnapshotAt(driver, 10, 50, '39 entries after a 4,000-byte image: short of 40');
  await driver.stop();
  running = [];

  // A restart counts from the image it loaded: the next snapshot 40 entries after the stored one.
  const { driver: again } = await leader({ snapshotEntries: 10, snapshotImageBytesPerEntry: 100 }, undefined, 4000, storage);
  assert.equal(again.status().snapshotIndex, 50, 'the restarted node loaded the image at 50');
  await nextSnapshotAt(again, 50, 90, '39 entries after the loaded image: no snapshot yet');
});

test('an image smaller than snapshotEntries x snapshotImageBytesPerEntry leaves the entry count as it is', async () => {
  const { driver } = await leader({ snapshotEntries: 20, snapshotImageBytesPerEntry: 100 }, undefined, 1000);
  await nextSnapshotAt(driver, 0, 20);
  // 1,000 bytes of image per 100: 10 entries, less than 20: the next comes 20 entries later.
  await nextSnapshotAt(driver, 20, 40);
});
