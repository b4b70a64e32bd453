// The Prometheus alert rules (deploy/prometheus/alerts.yml) and the Grafana dashboard
// (deploy/grafana/forge-mailbox.json) parse, cover what an operator must be told about, and
// reference only metrics a node exports: names taken from the real registry (NodeMetrics), so a
// renamed metric breaks this test, not an operator's pager. Every expression is also parsed by
// Prometheus's own PromQL parser, and the rule file and the compose monitoring profile's
// prometheus.yml by Prometheus's own loaders (tools/promql-check, Go; skipped where Go is not
// installed).

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../../src/repo-root.js';
import { exportedMetrics, seriesNames } from '../support/exported-metrics.js';
import { buildGoTool, noGo } from '../support/go-tool.js';

/** Series Prometheus makes itself for every scrape target. */
const PROMETHEUS_SERIES = new Set(['up']);
const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression (or a Grafana query) reads. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\blabel_values\(\s*([A-Za-z_:][\w:]*)\s*,[^)]*\)/g, '$1')
    .replace(/\$\{[^}]*\}|\$\w+/g, '')
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, '');
  const names: string[] = [];
  for (const m of bare.matchAll(/[A-Za-z_:][\w:]*/g)) {
    const after = bare.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after) || PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

const exported = seriesNames(await exportedMetrics());

function unknownMetrics(exprs: string[]): string[] {
  return [...new Set(exprs.flatMap(metricNames))].filter((n) => !exported.has(n) && !PROMETHEUS_SERIES.has(n)).sort();
}

interface Rule {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const alerts = parseYaml(readFileSync(join(repoRoot, 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };
const rules = alerts.groups.flatMap((g) => g.rules);

test('the metric-name reader finds metrics and only metrics in PromQL', () => {
  assert.deepEqual(
    metricNames('sum by (node) (rate(forge_proposals_total{outcome!~"ok|rejected"}[5m])) / on(node) forge_x > 0.05 and up{job="a"} == 1e9'),
    ['forge_proposals_total', 'forge_x', 'up'],
  );
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, node) (rate(forge_commit_latency_seconds_bucket{node=~"$node"}[$__rate_interval])))'), [
    'forge_commit_latency_seconds_bucket',
  ]);
  assert.deepEqual(metricNames('label_values(forge_build_info, node)'), ['forge_build_info']);
  assert.deepEqual(unknownMetrics(['forge_raft_state{field="term"}', 'forge_raft_term']), ['forge_raft_state'], 'a metric we do not export is caught');
});

test('alerts.yml: every rule is named, has an expression, a severity and a summary, and reads only exported metrics', () => {
  assert.ok(rules.length > 0);
  for (const r of rules) {
    assert.match(r.alert ?? '', /^ForgeMailbox[A-Za-z]+$/, JSON.stringify(r));
    assert.ok(typeof r.expr === 'string' && r.expr.trim() !== '', `${r.alert}: expr`);
    assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity ?? ''), `${r.alert}: severity`);
    assert.ok(r.annotations?.summary, `${r.alert}: summary`);
    if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/, `${r.alert}: for`);
  }
  assert.equal(new Set(rules.map((r) => r.alert)).size, rules.length, 'alert names are unique');
  assert.deepEqual(unknownMetrics(rules.map((r) => r.expr!)), []);
});

test('alerts.yml covers no leader, follower lag, proposal errors, a full backlog, growing dead letters, the disk watermark, event-loop lag and a halted node', () => {
  const reading = (metric: string) => rules.filter((r) => metricNames(r.expr!).includes(metric)).map((r) => r.alert);
  for (const metric of [
    'forge_raft_is_leader',
    'forge_raft_has_leader',
    'forge_replication_lag_entries',
    'forge_proposals_total',
    'forge_mailbox_quota_messages',
    'forge_mailbox_quota_put_ids',
    'forge_mailbox_quota_consume_results',
    'forge_mailbox_dead_letters',
    'forge_disk_low',
    'forge_disk_free_bytes',
    'nodejs_eventloop_lag_p99_seconds',
    'forge_raft_halted',
  ]) {
    assert.ok(reading(metric).length > 0, `no alert reads ${metric}`);
  }
});

const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'grafana', 'forge-mailbox.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ query?: unknown; definition?: string }> };
};

interface Panel {
  title?: string;
  type: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

test('the Grafana dashboard parses and every query reads only exported metrics', () => {
  assert.equal(dashboard.uid, 'forge-mailbox');
  for (const p of dashboardPanels()) {
    const targets = p.targets ?? [];
    assert.ok(targets.length > 0 && targets.every((t) => typeof t.expr === 'string' && t.expr !== ''), `panel "${p.title}" has queries`);
  }
  const exprs = dashboardQueries();
  for (const v of dashboard.templating.list) if (v.definition) exprs.push(v.definition);
  assert.ok(exprs.length > 20);
  assert.deepEqual(unknownMetrics(exprs), []);
  assert.ok(!exprs.some((e) => /\bfield=|forge_mailbox_depth/.test(e)), 'no field label; per-user depth is opt-in, not on the shared dashboard');
});

function dashboardPanels(): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
}

function dashboardQueries(): string[] {
  return dashboardPanels().flatMap((p) => (p.targets ?? []).map((t) => t.expr!));
}

test('every alert expression and dashboard query is PromQL that Prometheus parses; alerts.yml and prometheus.yml load as promtool would load them', { skip: noGo }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'promql-check-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const binary = await buildGoTool('promql-check', dir);
  const run = (exprs: string[]) => spawnSync(binary, [], { input: JSON.stringify(exprs), encoding: 'utf8' });
  const broken = run(['sum(rate(forge_proposals_total[5m])']);
  assert.equal(broken.status, 1, 'the checker refuses what does not parse');
  const exprs = [...rules.map((r) => r.expr!), ...dashboardQueries()];
  const checked = run(exprs);
  assert.equal(checked.status, 0, checked.stdout + checked.stderr);

  // As `promtool check rules` and `promtool check config` would: Prometheus's own loaders.
  const check = (flag: string, file: string) => spawnSync(binary, [flag, file], { encoding: 'utf8' });
  const alertsFile = join(repoRoot, 'deploy', 'prometheus', 'alerts.yml');
  const rulesChecked = check('-rules', alertsFile);
  assert.equal(rulesChecked.status, 0, rulesChecked.stdout + rulesChecked.stderr);
  const badRules = join(dir, 'alerts.yml');
  writeFileSync(badRules, readFileSync(alertsFile, 'utf8').replace(/^(\s+)for: 1m$/m, '$1for: 1 minute'));
  assert.equal(check('-rules', badRules).status, 1, 'a rule file Prometheus would refuse is refused');
  const configFile = join(repoRoot, 'deploy', 'prometheus', 'prometheus.yml');
  const configChecked = check('-config', configFile);
  assert.equal(configChecked.status, 0, configChecked.stdout + configChecked.stderr);
  const badConfig = join(dir, 'prometheus.yml');
  writeFileSync(badConfig, readFileSync(configFile, 'utf8').replace('scrape_interval:', 'scrape_intervl:'));
  assert.equal(check('-config', badConfig).status, 1, 'a configuration Prometheus would refuse is refused');
});
