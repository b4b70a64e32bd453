// End-to-end: only the leader serves clients, so a leader cut off from its Zenoh router must hand
// leadership to a node that still reaches the router (src/node/router-loss-handoff.ts).
// Real node processes and router; the leader's router link goes through a fault proxy.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { sleep, withCluster } from '../support/e2e.js';

test('a leader that loses its router hands leadership over and clients are served again', { timeout: 120_000 }, async (t) => {
  await withCluster({ nodes: 3, proxies: true }, async (cluster, client) => {
    const leader = await cluster.waitForLeader(client);
    await client.put('handoff', 'before', { id: 'before' });

    cluster.routerLink(leader).setMode('reset');
    const cutAt = Date.now();
    // Raft is healthy, so nothing but the router watchdog would move leadership away.
    let served: string | null = null;
    while (Date.now() - cutAt < 30_000) {
      try {
        await client.put('handoff', 'after', { id: 'after' });
        t.diagnostic(`served again ${Date.now() - cutAt} ms after the cut`);
        served = (await cluster.waitForLeader(client, 5_000)) ?? null;
        break;
      } catch {
        await sleep(200);
      }
    }
    assert.ok(served !== null, 'no node served clients within 30 s of the leader losing its router');
    assert.notEqual(served, leader, 'a node that still reaches the router leads now');
    assert.match(cluster.logs(leader), /leader has no Zenoh router: handing leadership over/);
    assert.deepEqual(
      [(await client.consume('handoff'))?.id, (await client.consume('handoff'))?.id, await client.consume('handoff')],
      ['before', 'after', null],
    );
  });
});
