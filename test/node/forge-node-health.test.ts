// /livez and /readyz of a real ForgeNode (real LevelDB, real Raft loop and TCP transport, in this
// process; no Zenoh router, so readiness also lacks its router session):
//  - a node of a three-node cluster started alone knows no leader: it campaigns again and again
//    (pre-votes: an election that cannot end) and is not ready, but stays live all along;
//  - an event-loop stall while it starts is logged, before the Raft loop exists;
//  - a node whose disk fills under it halts its Raft loop (storage failure) and fails liveness,
//    naming the cause (data directory on a small tmpfs, as in test/e2e/storage-faults.test.ts;
//    skipped where a tmpfs cannot be mounted).

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { pbkdf2 } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/logging.js';
import { ForgeNode } from '../../src/node/forge-node.js';
import { freePort } from '../../src/router/zenoh-router.js';
import { fillDisk, mountTmpfs, tmpfsUnavailable, unmountTmpfs } from '../../src/verify/tmpfs.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function nodeConfig(peers: string[], dataDir: string, metricsPort: number) {
  const peerPorts = await Promise.all(peers.map(() => freePort()));
  return configSchema.parse({
    nodeId: peers[0],
    clusterId: 'health-test',
    dataDir,
    peers: Object.fromEntries(peers.map((id, i) => [id, { host: '127.0.0.1', port: peerPorts[i] }])),
    secret: 'a-health-test-secret-of-32-chars',
    // Nothing listens there: the bridge keeps trying, the node has no router session.
    zenoh: { router: `ws://127.0.0.1:${await freePort()}` },
    auth: { enabled: false },
    metrics: { host: '127.0.0.1', port: metricsPort },
    disk: { minFreeBytes: 0 },
    raft: { tickMs: 50 },
  });
}

async function startNode(peers: string[], dataDir: string) {
  const metricsPort = await freePort();
  const config = await nodeConfig(peers, dataDir, metricsPort);
  const node = await ForgeNode.open(config, createLogger({ level: 'silent' }), { onHalted: () => {} });
  await node.start();
  const probe = async (path: 'livez' | 'readyz') => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/${path}`);
    return { status: res.status, body: (await res.json()) as { status: string; failed?: string[]; checks: Record<string, string> } };
  };
  return { node, probe };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('before a leader is known (an election that cannot end) a node is not ready and stays live', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-health-'));
  dirs.push(dir);
  const { node, probe } = await startNode(['n1', 'n2', 'n3'], dir);
  t.after(() => node.stop());
  // Several election timeouts (10 ticks of 50 ms by default, randomized up to twice that).
  const until = Date.now() + 4000;
  let probes = 0;
  const roles = new Set<string>();
  while (Date.now() < until) {
    roles.add(node.driver.status().role);
    const live = await probe('livez');
    assert.equal(live.status, 200, JSON.stringify(live.body));
    const ready = await probe('readyz');
    assert.equal(ready.status, 503);
    assert.ok(ready.body.failed?.includes('leader_known'), JSON.stringify(ready.body));
    probes++;
    await sleep(100);
  }
  assert.ok(roles.has('preCandidate'), `it campaigned meanwhile (roles seen: ${[...roles].join(', ')})`);
  assert.ok(probes > 10);
});

test('an event-loop stall while the node is starting is logged, not fatal', async (t) => {
  // On a busy CI machine a node died at start: the stall watch, which runs from the start of
  // start(), read the Raft status before the Raft loop existed.
  const dir = mkdtempSync(join(tmpdir(), 'forge-health-'));
  dirs.push(dir);
  const lines: Array<{ msg: string; role?: string; stallMs?: number }> = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const node = await ForgeNode.open(await nodeConfig(['n1', 'n2', 'n3'], dir, 0), log, { onHalted: () => {} });
  // The libuv threadpool (four threads) kept busy by four hashes of 1.5 s or more here, so that
  // start() waits on its file system and LevelDB work, as on a loaded machine, well past the
  // stall's report.
  const poolBusy = Promise.all(Array.from({ length: 4 }, () => new Promise((resolve) => pbkdf2('x', 'y', 3_000_000, 32, 'sha256', resolve))));
  const starting = node.start();
  // start() runs up to its first await: the watch is set, the Raft loop not made yet. Block the
  // event loop past the watch's 200 ms.
  assert.equal(node.driver.hasStarted(), false);
  const until = Date.now() + 400;
  while (Date.now() < until) {
    // busy: nothing else runs
  }
  await starting;
  await poolBusy;
  t.after(() => node.stop());
  const stall = lines.find((l) => l.msg.startsWith('event loop stalled'));
  assert.ok(stall !== undefined, JSON.stringify(lines));
  assert.equal(stall.role, 'starting');
  assert.ok((stall.stallMs ?? 0) >= 200, JSON.stringify(stall));
  assert.equal(node.driver.hasStarted(), true);
});

const noTmpfs = tmpfsUnavailable();
test('a node halted by a storage failure (its disk full) fails liveness, naming the cause', { skip: noTmpfs ?? false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-health-'));
  dirs.push(dir);
  const dataDir = join(dir, 'data');
  mountTmpfs(dataDir, 16 << 20);
  // A cluster of one: it leads at once, so its proposals are log writes.
  const { node, probe } = await startNode(['n1'], dataDir).catch((err: unknown) => {
    unmountTmpfs(dataDir);
    throw err;
  });
  // The store is let go of before the file system under it; LevelDB may hold files of a store that
  // failed a little longer, so the unmount is retried, and detached (lazy) as a last resort.
  t.after(async () => {
    await node.stop();
    for (let attempt = 0; ; attempt++) {
      try {
        unmountTmpfs(dataDir);
        return;
      } catch (err) {
        if (attempt === 20) {
          spawnSync('umount', ['-l', dataDir]);
          throw err;
        }
        await sleep(100);
      }
    }
  });
  while (!node.isLeader()) await sleep(20);
  assert.equal((await probe('livez')).status, 200);

  fillDisk(dataDir);
  for (let n = 0; node.driver.halted() === null && n < 200; n++) {
    await node.command({ op: 'put', user: 'alice', body: new Uint8Array(64 * 1024) }).catch(() => undefined);
  }
  assert.ok(node.driver.halted() !== null, 'the node halted');
  const live = await probe('livez');
  assert.equal(live.status, 503);
  assert.deepEqual(live.body.failed, ['not_halted']);
  assert.match(live.body.checks.not_halted!, /storage failure/);
  assert.equal((await probe('readyz')).status, 503);
});
