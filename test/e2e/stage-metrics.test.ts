// Where a request's time goes on the leader (issue #13), on a real cluster through the leader's own
// metrics: every put is counted in each proposal stage (write, commit, apply) and each request
// stage of the bridge (handle, reply), and the stages add up as they must: the leader's own write
// is part of the commit, and the bridge's handling holds the whole proposal.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import { metricValue, useCluster } from '../support/e2e.js';

const PUTS = 20;

describe('stage metrics', { timeout: 120_000 }, () => {
  // No expiry sweep while the puts are measured (the test clusters sweep every 200 ms).
  const e2e = useCluster({ nodes: 3, metrics: true, mailbox: { expireIntervalMs: 600_000 } });
  const { step } = e2e;

  step(`${PUTS} puts are counted in every stage on the leader, and the stages nest`, async () => {
    const leader = ((await e2e.client.status()) as { node: string }).node;
    const page = async () => (await fetch(e2e.cluster.metricsUrl(leader))).text();
    const read = (p: string) => {
      const stage = (metric: string, s: string) => ({
        count: metricValue(p, `${metric}_count`, { stage: s }),
        sum: metricValue(p, `${metric}_sum`, { stage: s }),
      });
      return {
        write: stage('forge_proposal_stage_seconds', 'write'),
        commit: stage('forge_proposal_stage_seconds', 'commit'),
        apply: stage('forge_proposal_stage_seconds', 'apply'),
        handle: stage('forge_request_stage_seconds', 'handle'),
        reply: stage('forge_request_stage_seconds', 'reply'),
      };
    };
    // The leader may propose more than the puts meanwhile, never fewer. The sums only nest for the
    // puts alone: another proposal's commit, slow on a busy machine, is in the commit sum and in no
    // put's handling (a CI run on Node 20 had 3 sweeps among its puts, and its sums did not nest).
    // So the sweep is off here, and a window with other proposals is measured again.
    const WINDOWS = 5;
    const windows: string[] = [];
    for (let w = 0; ; w++) {
      const before = read(await page());
      for (let i = 0; i < PUTS; i++) await e2e.client.put('stages', `w${w}m${i}`, { id: `w${w}m${i}` });
      const after = read(await page());
      const d = Object.fromEntries(
        Object.entries(after).map(([k, v]) => [k, { count: v.count - before[k as keyof typeof before].count, sum: v.sum - before[k as keyof typeof before].sum }]),
      ) as typeof after;
      const figures = Object.entries(d).map(([k, v]) => `${k} ${v.count} × ${v.count === 0 ? 0 : ((v.sum / v.count) * 1000).toFixed(2)} ms`).join(', ');
      console.error(`stage metrics e2e: ${figures}`);
      windows.push(figures);
      for (const s of ['commit', 'apply'] as const) assert.ok(d[s].count >= PUTS, `${s}: ${figures}`);
      // A write is observed only for an entry the leader wrote before it committed: the followers'
      // writes may commit it first (RaftCore.takeCommitted; a CI run had 18 of 20).
      assert.ok(d.write.count <= d.commit.count, `write: ${figures}`);
      // The status call above is a request too; the puts are at least PUTS more.
      for (const s of ['handle', 'reply'] as const) assert.ok(d[s].count >= PUTS, `${s}: ${figures}`);
      assert.ok(d.commit.sum >= d.write.sum, `a write observed is part of its commit: ${figures}`);
      if (d.commit.count === PUTS) {
        assert.ok(d.handle.sum >= d.commit.sum * 0.9, `handling a put holds its proposal: ${figures}`);
        break;
      }
      assert.ok(w + 1 < WINDOWS, `no window of ${PUTS} puts without other proposals: ${windows.join(' | ')}`);
    }
  });
});
