// End-to-end: a follower whose Raft links are black-holed (packets dropped, connections left open,
// as a partition does) for 5, 15 and then 30 s rejoins within about a second of each heal, and
// the majority keeps serving under its leader throughout. Real node processes and router; every
// peer link goes through a fault proxy in `drop` mode, which keeps the connections open at the
// cut dead after the heal, as TCP's backed-off retransmission would for seconds: only the
// transport's liveness (src/raft/link-liveness.ts) brings the follower back.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { ProxyMode } from '../../src/verify/fault-proxy.js';
import { sleep, withCluster } from '../support/e2e.js';

interface LeaderStatus {
  node: string;
  role: string;
  term: number;
  commitIndex: number;
  followers?: Record<string, { match: number; lag: number; state: string }>;
}

interface NodeStatus {
  node: string;
  role: string;
  term: number;
  leader: string | null;
}

/** Codes after which a request may simply be retried (with the same id): a leader change under load. */
const RETRYABLE = new Set(['NOT_LEADER', 'LEADERSHIP_LOST', 'UNAVAILABLE', 'TIMEOUT']);
/** The majority must serve throughout: a request may meet an election (a busy 2-core machine can
 * delay a heartbeat past the 200 ms election timeout) but must succeed within this bound. */
const SERVE_BOUND_MS = 3000;

async function served<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (!RETRYABLE.has(code ?? '') || Date.now() - start > SERVE_BOUND_MS) throw e;
      await sleep(50);
    }
  }
}

// The link is redialled within the liveness timeout (300 ms: the default election timeout) plus
// the reconnect backoff (≤ 250 ms) after the heal; the rest is margin for a busy 2-core machine.
const REJOIN_BOUND_MS = 2000;

test('a follower black-holed for 5, 15 and 30 s rejoins within the bound after each heal; the majority keeps its leader', { timeout: 180_000 }, async () => {
  await withCluster({ nodes: 3, proxies: true }, async (cluster, client) => {
    const leader = await cluster.waitForLeader(client);
    const cut = cluster.ids.find((id) => id !== leader)!;
    const others = cluster.ids.filter((id) => id !== cut);
    const setLinks = (mode: ProxyMode) => {
      for (const other of others) {
        cluster.peerLink(cut, other).setMode(mode);
        cluster.peerLink(other, cut).setMode(mode);
      }
    };
    const rejoinMs: Record<string, number> = {};
    let puts = 0;

    for (const seconds of [5, 15, 30]) {
      setLinks('drop');
      // The majority keeps a leader and serves writes the cut follower misses.
      for (const end = Date.now() + seconds * 1000; Date.now() < end; ) {
        const st = (await served('status', () => client.status())) as LeaderStatus;
        assert.equal(st.role, 'leader', `no leader ${seconds} s partition, at ${JSON.stringify(st)}`);
        const id = `put-${++puts}`;
        await served(`put ${id}`, () => client.put('partition', `during ${seconds} s`, { id }));
        await sleep(200);
      }
      const atHeal = (await served('status', () => client.status())) as LeaderStatus;
      assert.ok(atHeal.followers![cut]!.match < atHeal.commitIndex, `${cut} missed the writes of the partition`);

      setLinks('pass');
      const healedAt = Date.now();
      for (;;) {
        const st = (await served('status', () => client.status())) as LeaderStatus;
        const follower = st.followers?.[cut];
        if (follower !== undefined && follower.match >= atHeal.commitIndex) break;
        assert.ok(Date.now() - healedAt < 3 * REJOIN_BOUND_MS, `${cut} not caught up ${Date.now() - healedAt} ms after the heal: ${JSON.stringify(st)}`);
        await sleep(20);
      }
      rejoinMs[`${seconds} s`] = Date.now() - healedAt;

      // The cut node answers as a follower of the current leader, at its term.
      const view = ((await client.nodeStatuses()) as NodeStatus[]).find((s) => s.node === cut);
      const now = (await served('status', () => client.status())) as LeaderStatus;
      assert.deepEqual(view && { role: view.role, term: view.term, leader: view.leader }, { role: 'follower', term: now.term, leader: now.node });
    }

    process.stderr.write(`partition-heal: ${cut} rejoined after ${JSON.stringify(rejoinMs)} ms\n`);
    for (const [length, ms] of Object.entries(rejoinMs)) assert.ok(ms <= REJOIN_BOUND_MS, `rejoin after the ${length} partition took ${ms} ms`);
  });
});
