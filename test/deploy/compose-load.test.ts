// docker-compose.yml loaded by compose-go (tools/compose-check), the loader `docker compose`
// itself uses: its schema, interpolation, merge keys and profiles, where no Docker engine is
// available. Run as `docker compose --env-file deploy/secrets/compose.env` would, on secrets made
// by the real script; a copy missing a required variable and a copy with a misspelt healthcheck
// key must be refused. Skipped where Go is not installed.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { makeComposeSecrets } from '../../scripts/compose-secrets.js';
import { repoRoot } from '../../src/repo-root.js';
import { buildGoTool, noGo } from '../support/go-tool.js';

const NODES = ['n1', 'n2', 'n3'];
const ROUTERS = ['router-1', 'router-2', 'router-3'];
const GUARDS = ['guard-1', 'guard-2', 'guard-3'];
const COMPOSE_FILE = join(repoRoot, 'docker-compose.yml');

interface Healthcheck {
  test: string[];
  interval: string;
  timeout: string;
  retries: number;
  start_period: string;
}

interface Service {
  image: string;
  user?: string;
  healthcheck?: Healthcheck;
  volumes?: Array<{ type: string; source: string; target: string; read_only?: boolean }>;
  ports?: Array<{ host_ip?: string; published: string; target: number }>;
  profiles?: string[];
}

interface Project {
  name: string;
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

interface Loaded {
  status: number | null;
  stdout: string;
  stderr: string;
}

const work = mkdtempSync(join(tmpdir(), 'compose-check-'));
after(() => rmSync(work, { recursive: true, force: true }));
let binary = '';
let secretsDir = '';

before(async () => {
  if (noGo) return;
  binary = await buildGoTool('compose-check', work);
  secretsDir = await makeComposeSecrets(join(work, 'secrets'));
});

/** compose-check with only PATH from this process's environment (no FORGE_* or COMPOSE_* leaks in). */
function load(args: string[], env: Record<string, string> = {}): Loaded {
  const r = spawnSync(binary, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function loadProject(args: string[]): Project {
  const r = load(args);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Project;
}

/** The healthcheck docker-compose.yml writes for a service (the `test` array, as the file has it). */
const fileCompose = parseYaml(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as { services: Record<string, { healthcheck?: { test: string[] } }> };

const VOLUMES = ['grafana-data', 'n1-data', 'n2-data', 'n3-data', 'prometheus-data'];

/** The named volumes the enabled services mount (what `docker compose up` creates). */
function usedVolumes(project: Project): string[] {
  const used = Object.values(project.services).flatMap((s) => (s.volumes ?? []).filter((v) => v.type === 'volume').map((v) => v.source));
  return [...new Set(used)].sort();
}

test('docker-compose.yml loads as `docker compose --env-file deploy/secrets/compose.env` would: 10 services, 3 volumes in use, every probe and secret as meant', { skip: noGo, timeout: 300_000 }, () => {
  const project = loadProject(['-f', COMPOSE_FILE, '--env-file', join(secretsDir, 'compose.env')]);
  assert.equal(project.name, 'forge-mailbox');
  const names = Object.keys(project.services).sort();
  assert.deepEqual(names, [...NODES, ...ROUTERS, ...GUARDS, 'gateway'].sort(), 'the monitoring profile is off by default');
  assert.deepEqual(Object.keys(project.volumes).sort(), VOLUMES);
  assert.deepEqual(usedVolumes(project), ['n1-data', 'n2-data', 'n3-data']);
  console.log(`compose-go loaded ${names.length} services, ${Object.keys(project.volumes).length} volumes declared, ${usedVolumes(project).length} in use`);
  const uid = String(process.getuid?.() ?? 0);
  for (const name of names) {
    const s = project.services[name]!;
    const hc = s.healthcheck;
    assert.ok(hc, `${name} has a healthcheck`);
    assert.deepEqual(hc.test, fileCompose.services[name]!.healthcheck!.test, `${name}: the probe the file writes, unchanged by interpolation`);
    assert.ok(hc.retries > 0 && /^\d+s$/.test(hc.interval) && /^\d+s$/.test(hc.timeout) && /^\d+s$/.test(hc.start_period), `${name}: ${JSON.stringify(hc)}`);
    assert.deepEqual(s.profiles ?? [], [], `${name} runs without a profile`);
  }
  for (const node of NODES) assert.match(project.services[node]!.healthcheck!.test.join(' '), /\/livez/);
  // Every secret reaches its service as a read-only bind of a file the script made, never created
  // by Docker (create_host_path: false), and the services that read them run as their owner.
  for (const name of [...NODES, ...ROUTERS, 'gateway']) {
    const s = project.services[name]!;
    assert.equal(s.user, uid, `${name}.user is FORGE_SECRETS_UID from compose.env`);
    const secrets = (s.volumes ?? []).filter((v) => v.type === 'bind' && v.source.startsWith(`${secretsDir}/`));
    assert.ok(secrets.length >= 4, `${name}: ${secrets.length} secret mounts`);
    for (const v of secrets) {
      assert.equal(v.read_only, true, `${name}: ${v.target} read-only`);
      assert.ok(existsSync(v.source), `${name}: ${v.source} exists`);
    }
  }
  for (const node of NODES) {
    const config = project.services[node]!.volumes!.find((v) => v.target === '/etc/forge-mailbox/config.json');
    assert.equal(config?.source, join(repoRoot, 'deploy', 'config', `${node}.json`));
  }
});

test('with --profile monitoring: 12 services, Prometheus and Grafana on the repository\'s files, their data on their own volumes', { skip: noGo }, () => {
  const project = loadProject(['-f', COMPOSE_FILE, '--env-file', join(secretsDir, 'compose.env'), '--profile', 'monitoring']);
  const names = Object.keys(project.services).sort();
  assert.deepEqual(names, [...NODES, ...ROUTERS, ...GUARDS, 'gateway', 'prometheus', 'grafana'].sort());
  assert.deepEqual(usedVolumes(project), VOLUMES);
  console.log(`compose-go with --profile monitoring loaded ${names.length} services, ${usedVolumes(project).length} volumes in use`);
  for (const name of ['prometheus', 'grafana']) {
    const s = project.services[name]!;
    assert.deepEqual(s.profiles, ['monitoring']);
    assert.deepEqual(s.healthcheck?.test, fileCompose.services[name]!.healthcheck!.test);
    for (const v of (s.volumes ?? []).filter((m) => m.type === 'bind')) {
      assert.ok(v.source.startsWith(join(repoRoot, 'deploy') + '/') && existsSync(v.source), `${name}: ${v.source} is in deploy/`);
      assert.equal(v.read_only, true, `${name}: ${v.target} read-only`);
    }
    assert.deepEqual(s.ports?.map((p) => p.host_ip), ['127.0.0.1'], `${name} publishes on loopback only`);
  }
});

test('compose-go refuses the file without the secrets: a missing FORGE_SECRETS_UID or FORGE_ROUTER_SECRETS is named, with the way out', { skip: noGo }, () => {
  const envFile = join(work, 'no-uid.env');
  writeFileSync(envFile, readFileSync(join(secretsDir, 'compose.env'), 'utf8').replace(/^FORGE_SECRETS_UID=.*\n/m, ''));
  const noUid = load(['-f', COMPOSE_FILE, '--env-file', envFile]);
  assert.equal(noUid.status, 1, noUid.stdout);
  assert.match(noUid.stderr, /required variable FORGE_SECRETS_UID is missing a value: run scripts\/make-router-secrets\.ts/);
  assert.doesNotMatch(noUid.stderr, /FORGE_ROUTER_SECRETS/, 'only the missing variable is named');
  const nothing = load(['-f', COMPOSE_FILE], { COMPOSE_DISABLE_ENV_FILE: 'true' });
  assert.equal(nothing.status, 1, nothing.stdout);
  assert.match(nothing.stderr, /required variable FORGE_ROUTER_SECRETS is missing a value/);
});

test('compose-go refuses a healthcheck key the Compose schema does not have (the check can fail)', { skip: noGo }, () => {
  const text = readFileSync(COMPOSE_FILE, 'utf8');
  const misspelt = text.replace(/^( +)start_period: 30s$/m, '$1start_period: 30s\n$1start_intervall: 5s');
  assert.notEqual(misspelt, text);
  const file = join(work, 'docker-compose.yml');
  writeFileSync(file, misspelt);
  const r = load(['-f', file, '--env-file', join(secretsDir, 'compose.env')]);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /healthcheck additional properties 'start_intervall' not allowed/);
});
