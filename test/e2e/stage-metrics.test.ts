// Where a request's time goes on the leader (issue #13), on a real cluster through the leader's own
// metrics: every put is counted in each proposal stage (write, commit, apply) and each request
// stage of the bridge (handle, reply), and the stages add up as they must: the leader's own write
// is part of the commit, and the bridge's handling holds the whole proposal.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import { metricValue, useCluster } from '../support/e2e.js';

const PUTS = 20;

describe('stage metrics', { timeout: 120_000 }, () => {
  const e2e = useCluster({ nodes: 3, metrics: true });
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
    const before = read(await page());
    for (let i = 0; i < PUTS; i++) await e2e.client.put('stages', `m${i}`, { id: `m${i}` });
    const after = read(await page());
    const d = Object.fromEntries(
      Object.entries(after).map(([k, v]) => [k, { count: v.count - before[k as keyof typeof before].count, sum: v.sum - before[k as keyof typeof before].sum }]),
    ) as typeof after;
    const figures = Object.entries(d).map(([k, v]) => `${k} ${v.count} × ${v.count === 0 ? 0 : ((v.sum / v.count) * 1000).toFixed(2)} ms`).join(', ');
    console.error(`stage metrics e2e: ${figures}`);
    // The leader may propose more than the puts meanwhile (an expiry sweep), never fewer.
    for (const s of ['write', 'commit', 'apply'] as const) assert.ok(d[s].count >= PUTS, `${s}: ${figures}`);
    // The status call above is a request too; the puts are at least PUTS more.
    for (const s of ['handle', 'reply'] as const) assert.ok(d[s].count >= PUTS, `${s}: ${figures}`);
    assert.ok(d.commit.sum >= d.write.sum, `the leader's write is part of the commit: ${figures}`);
    assert.ok(d.handle.sum >= d.commit.sum * (PUTS / d.commit.count) * 0.9, `handling a put holds its proposal: ${figures}`);
  });
});
