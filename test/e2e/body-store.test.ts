// Message bodies on disk in a real cluster: every `serve` node keeps the bodies of the messages
// it holds, each with its client id, in <dataDir>/bodies (forge_body_store_live_bytes counts
// them), frees them as they are consumed, and after kill -9 starts from a wiped directory that its
// snapshot and log refill.

import { strict as assert } from 'node:assert';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { sleep, useCluster } from '../support/e2e.js';

/** A body of `n` bytes whose content depends on `seed`. */
function body(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i) & 0xff;
  return b;
}

/** forge_body_store_<field>_bytes of one node, from its metrics page; null while it does not answer (restarting). */
async function bodyStoreBytes(url: string, field: 'live' | 'stored'): Promise<number | null> {
  let page: string;
  try {
    page = await (await fetch(url)).text();
  } catch {
    return null;
  }
  const line = page.split('\n').find((l) => l.startsWith(`forge_body_store_${field}_bytes{`));
  assert.ok(line !== undefined, `no forge_body_store_${field}_bytes in ${url}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('message bodies in <dataDir>/bodies', { timeout: 180_000 }, () => {
  const e2e = useCluster({ nodes: 3, metrics: true });
  const { step } = e2e;
  const bodies = [body(1000, 1), body(2000, 2), body(3000, 3)];
  /** Each message's id (m0, m1, m2) is stored with its body: 2 bytes more per message held. */
  const ID_BYTES = 2;

  /** Waits until every running node's live body bytes are `bytes` (followers apply a little later). */
  async function everyNodeHolds(bytes: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const live = await Promise.all(e2e.cluster.ids.map((id) => bodyStoreBytes(e2e.cluster.metricsUrl(id), 'live')));
      if (live.every((n) => n === bytes)) return;
      if (Date.now() > deadline) assert.fail(`live body bytes per node ${live.join(', ')}, expected ${bytes} on each`);
      await sleep(200);
    }
  }

  step('every node keeps the bodies it holds in its body directory, and frees them as they are consumed', async () => {
    for (const [i, b] of bodies.entries()) await e2e.client.put('deep', b, { id: `m${i}` });
    await everyNodeHolds(6000 + 3 * ID_BYTES);
    for (const id of e2e.cluster.ids) assert.ok(existsSync(join(e2e.cluster.dataDir(id), 'bodies', 'g0')), `${id} has its body directory`);
    const got = await e2e.client.consume('deep');
    assert.deepEqual(got?.body, bodies[0], 'the body comes back byte for byte');
    assert.equal(got?.id, 'm0', 'and its id with it');
    await everyNodeHolds(5000 + 2 * ID_BYTES);
  });

  step('a node killed with -9 starts from a wiped body directory and refills it from its log', async () => {
    const leader = ((await e2e.client.status()) as { node: string }).node;
    const id = e2e.cluster.ids.find((n) => n !== leader)!;
    await e2e.cluster.signal(id, 'SIGKILL');
    const stray = join(e2e.cluster.dataDir(id), 'bodies', 'g0', 'stray.seg');
    writeFileSync(stray, 'left by a crash');
    e2e.cluster.startNode(id);
    await everyNodeHolds(5000 + 2 * ID_BYTES);
    assert.ok(!existsSync(stray), 'the directory was wiped at start');
    const got = await e2e.client.consume('deep');
    assert.deepEqual(got?.body, bodies[1]);
    assert.equal(got?.id, 'm1');
    await everyNodeHolds(3000 + ID_BYTES);
  });
});
