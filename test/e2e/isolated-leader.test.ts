// End-to-end: the leader is isolated from its peers (its Raft links black-holed both ways) while
// clients have requests in flight on it. It cannot commit them; when it steps down (check-quorum,
// about an election timeout) it must answer them at once with LEADERSHIP_LOST (outcome unknown,
// retry with the same id) rather than let them wait for their timeout, and the clients must be
// served by the new leader within about a second. Real node processes, LevelDB and router; every
// peer link goes through a fault proxy. The bounds leave room for a loaded 2-core machine; the
// figures are printed.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { sleep, withCluster } from '../support/e2e.js';
import { PutLoad } from '../support/put-load.js';

/** From the isolation to the end of a request in flight on the isolated leader (node timeout 4 s, client 6 s). */
const IN_FLIGHT_BOUND_MS = 2000;
/** From the isolation to the first served request. Target 1 s. */
const SERVICE_BOUND_MS = 3000;

test('requests in flight on an isolated leader are answered LEADERSHIP_LOST at step-down; the new leader serves within the bound', { timeout: 120_000 }, async (t) => {
  await withCluster({ nodes: 3, proxies: true }, async (cluster, client) => {
    const leader = await cluster.waitForLeader(client);
    const load = await PutLoad.start(cluster, 'iso');
    const others = cluster.ids.filter((id) => id !== leader);
    const setLinks = (mode: 'drop' | 'pass') => {
      for (const other of others) {
        cluster.peerLink(leader, other).setMode(mode);
        cluster.peerLink(other, leader).setMode(mode);
      }
    };
    try {
      await sleep(1000);
      const isolatedAt = load.fault();
      setLinks('drop');
      const deadline = Date.now() + 20_000;
      while (!load.records.some((r) => r.ok && r.sent > isolatedAt + 100) && Date.now() < deadline) await sleep(50);
      await sleep(500);
      await load.stop();
      setLinks('pass');
      const records = load.records;

      // Sent before the isolation, ended after it: these were in flight on the isolated leader.
      const inFlight = load.inFlightAtFault();
      const firstServed = Math.min(...records.filter((r) => r.ok && r.sent >= isolatedAt).map((r) => r.ended));
      const summary =
        `isolated leader ${leader}: ${inFlight.length} requests in flight ended after ${JSON.stringify(inFlight.map((r) => r.ended - isolatedAt))} ms ` +
        `(${inFlight.map((r) => r.code ?? 'ok').join(',')}); first request sent after the isolation served ${firstServed - isolatedAt} ms after it`;
      t.diagnostic(summary);
      process.stderr.write(`isolated-leader e2e: ${summary}\n`);
      assert.ok(inFlight.length > 0, `no request was in flight at the isolation: ${summary}`);
      for (const r of inFlight) {
        // ok: committed just before the cut. Otherwise an answer at step-down, not the timeout.
        assert.ok(r.ok || ['LEADERSHIP_LOST', 'NOT_LEADER'].includes(r.code!), `${r.id} ended ${r.code}: ${summary}`);
        assert.ok(r.ended - isolatedAt <= IN_FLIGHT_BOUND_MS, `${r.id} ended ${r.ended - isolatedAt} ms after the isolation: ${summary}`);
      }
      assert.ok(firstServed - isolatedAt <= SERVICE_BOUND_MS, summary);
      const now = await cluster.waitForLeader(client, 10_000);
      assert.notEqual(now, leader);
    } finally {
      setLinks('pass');
      await load.stop();
    }
  });
});
