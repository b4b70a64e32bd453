// /livez and /readyz on real `forge-mailbox serve` processes (the real router, Raft over TCP):
// a serving cluster is live and ready everywhere; with the leader and one follower frozen
// (SIGSTOP), the last node campaigns without end: it turns not ready (no leader known) and stays
// live all along, so a liveness probe would never restart the nodes of a cluster in an election.
// Once thawed, all three are ready again. The /metrics page of a real node shows one leader.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import { eventually, sleep, useCluster } from '../support/e2e.js';

interface Probe {
  status: number;
  body: { status: string; failed?: string[]; checks: Record<string, string> };
}

describe('health probes through an election', { timeout: 120_000 }, () => {
  const e2e = useCluster({ nodes: 3, metrics: true });
  const probe = async (id: string, which: 'livez' | 'readyz'): Promise<Probe> => {
    const res = await fetch(e2e.cluster.healthUrl(id, which), { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: (await res.json()) as Probe['body'] };
  };
  const gauge = async (id: string, name: string): Promise<number> => {
    const page = await (await fetch(e2e.cluster.metricsUrl(id))).text();
    const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(page);
    assert.ok(m, `${id} exports ${name}`);
    return Number(m[1]);
  };
  const allReady = () =>
    eventually('every node ready', async () => {
      for (const id of e2e.cluster.ids) if ((await probe(id, 'readyz')).status !== 200) return undefined;
      return true;
    }, 30_000);

  e2e.step('a serving cluster: every node live and ready, exactly one of them leader', async () => {
    await allReady();
    for (const id of e2e.cluster.ids) {
      const live = await probe(id, 'livez');
      assert.equal(live.status, 200);
      assert.deepEqual(live.body, { status: 'ok', checks: { not_halted: 'ok', raft_loop: 'ok' } });
      assert.equal(await gauge(id, 'forge_raft_has_leader'), 1);
    }
    let leaders = 0;
    for (const id of e2e.cluster.ids) leaders += await gauge(id, 'forge_raft_is_leader');
    assert.equal(leaders, 1);
  });

  e2e.step('leader and a follower frozen: the last node is not ready (no leader known) and stays live throughout', async () => {
    const leader = await e2e.cluster.waitForLeader(e2e.client);
    const [frozenFollower, survivor] = e2e.cluster.ids.filter((id) => id !== leader) as [string, string];
    await e2e.cluster.signal(leader, 'SIGSTOP');
    await e2e.cluster.signal(frozenFollower, 'SIGSTOP');
    try {
      const until = Date.now() + 5000;
      let notReady: Probe | null = null;
      let lives = 0;
      while (Date.now() < until) {
        const live = await probe(survivor, 'livez');
        assert.equal(live.status, 200, `liveness failed during the election: ${JSON.stringify(live.body)}`);
        lives++;
        const ready = await probe(survivor, 'readyz');
        if (ready.status === 503 && ready.body.failed?.includes('leader_known')) notReady = ready;
        await sleep(100);
      }
      assert.ok(notReady, 'the survivor turned not ready');
      assert.match(notReady.body.checks.leader_known!, /no leader known in term \d+/);
      assert.equal((await probe(survivor, 'readyz')).status, 503, 'still not ready at the end');
      assert.equal(await gauge(survivor, 'forge_raft_has_leader'), 0);
      assert.ok(lives > 20);
    } finally {
      await e2e.cluster.signal(leader, 'SIGCONT');
      await e2e.cluster.signal(frozenFollower, 'SIGCONT');
    }
    await allReady();
  });
});
