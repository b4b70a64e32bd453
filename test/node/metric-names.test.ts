// The metric naming conventions (Prometheus, and etcd's style: etcd_server_is_leader), checked on
// the real registry: one quantity per metric, `_total` exactly on counters, base units, no user ids
// unless opted into.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { exportedMetrics, type ExportedMetric } from '../support/exported-metrics.js';

/** Label names that would mix quantities in one metric (the old forge_raft_state{field=...}). */
const QUANTITY_LABELS = new Set(['field', 'quantity', 'stat', 'metric', 'kind']);

function labelNames(m: ExportedMetric): Set<string> {
  return new Set(m.values.flatMap((v) => Object.keys(v.labels)));
}

/**
 * prom-client's default metrics that break the `_total` rule upstream (gauges of what is open now).
 * Kept as they are: every Node.js dashboard knows them by these names. Ours may not do the same.
 */
const UPSTREAM_EXCEPTIONS = new Set(['nodejs_active_resources_total', 'nodejs_active_handles_total', 'nodejs_active_requests_total']);

/** What is wrong with the names and types of `metrics` (empty: nothing). */
function namingProblems(metrics: ExportedMetric[], allowUserLabel: boolean): string[] {
  const problems: string[] = [];
  for (const m of metrics) {
    const labels = labelNames(m);
    if (m.type === 'counter' && !m.name.endsWith('_total')) problems.push(`counter ${m.name} does not end in _total`);
    if (m.type !== 'counter' && m.name.endsWith('_total') && !UPSTREAM_EXCEPTIONS.has(m.name)) problems.push(`${m.type} ${m.name} ends in _total (only counters do)`);
    if (/_(ms|milliseconds|kb|mb|kib|mib)(_|$)/.test(m.name)) problems.push(`${m.name} is not in base units (seconds, bytes)`);
    if (!/^[a-z][a-z0-9_]*$/.test(m.name)) problems.push(`${m.name} is not snake_case`);
    for (const l of labels) if (QUANTITY_LABELS.has(l)) problems.push(`${m.name} has a "${l}" label: one quantity per metric`);
    if (!allowUserLabel && labels.has('user')) problems.push(`${m.name} has user ids as label values (metrics.perUserDepth is off)`);
    // Ours must show a series, so that their labels are checked. prom-client's defaults are
    // exempt: some have a series only while something is open (nodejs_active_requests{type} on
    // Node 26 has none in an idle test process).
    if (m.values.length === 0 && m.type !== 'histogram' && m.name.startsWith('forge_')) {
      problems.push(`${m.name} exported no series in the fixture: the check saw none of its labels`);
    }
  }
  return problems;
}

test('every exported metric follows the naming conventions; no user id by default', async () => {
  const metrics = await exportedMetrics();
  assert.ok(metrics.some((m) => m.name.startsWith('forge_raft_')) && metrics.some((m) => m.name.startsWith('process_')));
  assert.deepEqual(namingProblems(metrics, false), []);
  assert.ok(!metrics.some((m) => m.name === 'forge_mailbox_depth'));
});

test('with metrics.perUserDepth the user label appears, and only then', async () => {
  const metrics = await exportedMetrics({ perUserDepth: true });
  const depth = metrics.find((m) => m.name === 'forge_mailbox_depth');
  assert.deepEqual(depth?.values.map((v) => v.labels.user), ['alice']);
  assert.deepEqual(namingProblems(metrics, true), []);
  assert.deepEqual(namingProblems(metrics, false), ['forge_mailbox_depth has user ids as label values (metrics.perUserDepth is off)']);
});

test('the check fails on the mistakes it is for', () => {
  const metric = (name: string, type: ExportedMetric['type'], labels: Record<string, string> = {}) =>
    ({ name, type, values: [{ value: 1, labels }] }) as ExportedMetric;
  assert.deepEqual(namingProblems([metric('forge_things_total', 'gauge')], false), ['gauge forge_things_total ends in _total (only counters do)']);
  assert.deepEqual(namingProblems([metric('forge_things', 'counter')], false), ['counter forge_things does not end in _total']);
  assert.deepEqual(namingProblems([metric('forge_raft_state', 'gauge', { field: 'term' })], false), ['forge_raft_state has a "field" label: one quantity per metric']);
  assert.deepEqual(namingProblems([metric('forge_delay_ms', 'gauge')], false), ['forge_delay_ms is not in base units (seconds, bytes)']);
});
