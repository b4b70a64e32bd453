// Static checks of the Docker deployment: docker-compose.yml, deploy/*.Dockerfile and the node
// configs it mounts. There is no Docker engine in CI, so these tests read the files and check
// them against the real CLI definitions and the real config schema instead of starting them.
// Importing the CLI modules loads zenoh-ts, which needs --experimental-wasm-modules (package.json's
// test script sets it).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, relative } from 'node:path';
import { Command, CommanderError } from 'commander';
import { parse as parseYaml } from 'yaml';
import { registerClientCommands } from '../../src/cli/client-commands.js';
import { registerLinkGuardCommand } from '../../src/cli/link-guard-command.js';
import { registerServeCommand } from '../../src/cli/serve.js';
import { ConfigError, loadConfig, readConfigFile } from '../../src/config/load.js';
import { repoRoot } from '../../src/repo-root.js';
import { CONTAINER_DIR, makeComposeSecrets } from '../../scripts/compose-secrets.js';
import { maxMessageBytes } from '../../src/router/router-config.js';
import { readJwks } from '../../src/auth/key-files.js';
import { TokenVerifier } from '../../src/auth/tokens.js';
import { certificateNodeId, readPeerTls } from '../../src/raft/peer-tls.js';

const root = repoRoot;
const NODES = ['n1', 'n2', 'n3'] as const;
const ROUTERS = ['router-1', 'router-2', 'router-3'] as const;
const GUARDS = ['guard-1', 'guard-2', 'guard-3'] as const;
const ZENOH_PORT = 7447;
const WS_PORT = 10000;
/** Where the nodes connect: their router's link guard, in the router's network namespace. */
const GUARD_PORT = 10001;
const ZENOH_CLIENT_HOST_PORTS = [7447, 7448, 7449];
/** Services of the optional `monitoring` profile. */
const MONITORING = ['prometheus', 'grafana'];
const A_SECRET = 'a-compose-test-secret-of-32-chars';

type Yaml = Record<string, unknown>;

function readText(path: string): string {
  return readFileSync(join(root, path), 'utf8');
}

const compose = parseYaml(readText('docker-compose.yml'), { merge: true }) as Yaml;
const services = compose.services as Record<string, Yaml>;

function service(name: string): Yaml {
  const s = services[name];
  assert.ok(s, `docker-compose.yml has no service "${name}"`);
  return s;
}

function stringList(value: unknown, what: string): string[] {
  assert.ok(Array.isArray(value) && value.every((v) => typeof v === 'string'), `${what} must be a list of strings (exec form)`);
  return value as string[];
}

function zenohVersionOfPackage(): string {
  const pkg = JSON.parse(readText('package.json')) as { dependencies: Record<string, string> };
  const v = pkg.dependencies['@eclipse-zenoh/zenoh-ts'];
  assert.ok(v && /^\d+\.\d+\.\d+$/.test(v), `package.json must pin @eclipse-zenoh/zenoh-ts exactly, has ${v}`);
  return v;
}

/** Compose's `${NAME:-default}` / `${NAME:?message}` with NAME unset. */
function interpolateUnset(text: string): string {
  return text.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*)|:?\?[^}]*)?\}/g, (_m, dflt: string | undefined) => dflt ?? '');
}

// ---- command lines, parsed by the real commander definitions with every action replaced -------

interface ParsedCommand {
  name: string;
  opts: Record<string, unknown>;
}

function parseCli(register: (program: Command) => void, args: string[]): ParsedCommand {
  const program = new Command();
  // Set before registering: subcommands copy these settings when they are created.
  program.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  register(program);
  let parsed: ParsedCommand | null = null;
  for (const sub of program.commands) {
    // The client commands exit the process on a usage error; here a usage error must throw.
    sub.exitOverride();
    sub.action((...actionArgs: unknown[]) => {
      const cmd = actionArgs[actionArgs.length - 1] as Command;
      parsed = { name: cmd.name(), opts: cmd.opts() };
    });
  }
  program.parse(args, { from: 'user' });
  assert.ok(parsed, `"${args.join(' ')}" ran no command`);
  return parsed;
}

test('the command-line check rejects what the CLI rejects (so it can catch a broken compose file)', () => {
  assert.throws(() => parseCli(registerServeCommand, ['serve', '--config', '/x.json', '--no-such-flag']), CommanderError);
  assert.throws(() => parseCli(registerServeCommand, ['serve', '--config']), CommanderError);
  assert.throws(() => parseCli(registerClientCommands, ['status', '--timeout', 'soon']), CommanderError);
  assert.throws(() => parseCli(registerClientCommands, ['stat', '--router', 'ws://r:10000']), CommanderError);
});

// ---- services --------------------------------------------------------------------------------

test('the compose file runs exactly three nodes, one router and link guard per node and a gateway, and Prometheus and Grafana in the monitoring profile, all restarted unless stopped', () => {
  assert.deepEqual(Object.keys(services).sort(), [...NODES, ...ROUTERS, ...GUARDS, 'gateway', ...MONITORING].sort());
  for (const name of Object.keys(services)) {
    assert.equal(service(name).restart, 'unless-stopped', `${name}.restart`);
    assert.deepEqual(service(name).profiles, MONITORING.includes(name) ? ['monitoring'] : undefined, `${name}.profiles`);
  }
});

function routerOf(node: string): string {
  return `router-${node.slice(1)}`;
}

function guardOf(node: string): string {
  return `guard-${node.slice(1)}`;
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

function mountsOf(name: string): Mount[] {
  const volumes = service(name).volumes;
  assert.ok(Array.isArray(volumes), `${name} has no volumes`);
  return volumes.map((v: unknown): Mount => {
    if (typeof v === 'string') {
      const [source, target, mode] = v.split(':');
      assert.ok(source && target, `${name}: bad volume "${v}"`);
      return { source, target, readOnly: mode === 'ro' };
    }
    const m = v as { source?: string; target?: string; read_only?: boolean };
    assert.ok(m.source && m.target, `${name}: bad volume ${JSON.stringify(v)}`);
    return { source: m.source, target: m.target, readOnly: m.read_only === true };
  });
}

function serveArgs(node: string): ParsedCommand {
  return parseCli(registerServeCommand, stringList(service(node).command, `${node}.command`));
}

for (const node of NODES) {
  test(`${node}: its command is a "serve" the CLI accepts, reading the config file mounted read-only from deploy/config`, () => {
    const cmd = serveArgs(node);
    assert.equal(cmd.name, 'serve');
    const configPath = cmd.opts.config;
    assert.equal(typeof configPath, 'string', `${node} must pass --config`);
    const mount = mountsOf(node).find((m) => m.target === configPath);
    assert.ok(mount, `${node}: nothing is mounted at ${String(configPath)}`);
    assert.equal(normalize(mount.source), normalize(`deploy/config/${node}.json`));
    assert.ok(mount.readOnly, `${node}: the config mount should be read-only`);
  });

  test(`${node}: its config file commits no secret and validates as it is: peer links in mutual TLS, no shared secret`, () => {
    const file = join(root, 'deploy', 'config', `${node}.json`);
    assert.equal('secret' in readConfigFile(file), false, `${file} must not hold a secret`);
    assert.equal((service(node).environment as Yaml | undefined)?.FORGE_SECRET, undefined, 'no development-only shared secret');
    const config = loadConfig({ file, env: {} });
    assert.equal(config.secret, undefined);
    assert.ok(config.peerTls, `${node} must configure peerTls`);
    assert.equal(config.nodeId, node);
    // Setting the development secret on top is refused, not silently combined.
    assert.throws(() => loadConfig({ file, env: { FORGE_SECRET: A_SECRET } }), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('peerTls:')));
  });

  test(`${node}: its config points at its own router's link guard, its peers are the compose nodes, its data is on its own named volume`, () => {
    const config = loadConfig({ file: join(root, 'deploy', 'config', `${node}.json`), env: {} });
    assert.equal(config.zenoh.router, `ws://${routerOf(node)}:${GUARD_PORT}`);
    assert.deepEqual(Object.keys(config.peers).sort(), [...NODES]);
    for (const [id, addr] of Object.entries(config.peers)) assert.equal(addr.host, id, `peers.${id}.host is the service name`);
    const selfPort = config.peers[node]!.port;
    assert.ok(config.listen.port === undefined || config.listen.port === selfPort, 'listen.port must be the port peers dial');
    assert.equal(config.listen.host, '0.0.0.0', 'the Raft port must accept connections from the other containers');

    const dataMount = mountsOf(node).find((m) => m.target === config.dataDir);
    assert.ok(dataMount, `${node}: dataDir ${config.dataDir} is not on a volume (LevelDB would die with the container)`);
    assert.equal(dataMount.source, `${node}-data`);
    assert.ok(compose.volumes && dataMount.source in (compose.volumes as Yaml), `volume ${dataMount.source} is not declared`);
    assert.equal(dataMount.readOnly, false);
  });

  test(`${node}: the healthcheck probes GET /livez on the node's operator port, served inside the compose network only`, async () => {
    const hc = service(node).healthcheck as Yaml | undefined;
    assert.ok(hc, `${node} has no healthcheck`);
    for (const key of ['interval', 'timeout', 'retries', 'start_period']) assert.ok(key in hc, `${node}.healthcheck.${key}`);
    const argv = stringList(hc.test, `${node}.healthcheck.test`);
    assert.deepEqual(argv.slice(0, 3), ['CMD', 'node', '-e'], 'the probe runs the image\'s own node (no curl or wget in a slim image)');
    const script = argv[3]!;
    const config = loadConfig({ file: join(root, 'deploy', 'config', `${node}.json`), env: {} });
    assert.equal(config.metrics.host, '0.0.0.0', 'reachable by the probe and by a Prometheus in the compose network');
    assert.ok(config.metrics.port > 0);
    assert.equal(config.metrics.perUserDepth, false, 'no user ids in the metrics by default');
    const url = `http://127.0.0.1:${config.metrics.port}/livez`;
    assert.ok(script.includes(`'${url}'`), `the probe fetches ${url}: ${script}`);
    assert.ok(!publishedPorts(node).some((p) => p.containerPort === config.metrics.port), 'the operator port is not published');
    // The probe itself, run by this Node against a stand-in for the node: 0 on 200, 1 on 503 and when nothing listens.
    const answer = { status: 200 };
    const server = createServer((req, res) => res.writeHead(req.url === '/livez' ? answer.status : 404).end('{}'));
    const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
    // Asynchronously: the stand-in answers from this process's event loop.
    const probe = () =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['-e', script.replace(`:${config.metrics.port}/`, `:${port}/`)], { stdio: 'ignore', timeout: 10_000 });
        child.on('exit', (code) => resolve(code));
      });
    try {
      assert.equal(await probe(), 0);
      answer.status = 503;
      assert.equal(await probe(), 1);
    } finally {
      await new Promise((r) => server.close(r));
    }
    assert.equal(await probe(), 1, 'nothing listening');
  });

  test(`${node}: starts after its router's link guard is healthy`, () => {
    const deps = service(node).depends_on as Record<string, { condition?: string }> | undefined;
    assert.equal(deps?.[guardOf(node)]?.condition, 'service_healthy');
  });

  test(`${guardOf(node)}: a link guard the CLI accepts, in ${routerOf(node)}'s network namespace, relaying to its loopback-only WebSocket`, () => {
    const guard = service(guardOf(node));
    assert.equal(guard.network_mode, `service:${routerOf(node)}`, 'the guard shares the router\'s network namespace');
    assert.equal(guard.image, service(node).image, 'the guard runs from the node image');
    const cmd = parseCli(registerLinkGuardCommand, stringList(guard.command, `${guardOf(node)}.command`));
    assert.equal(cmd.name, 'link-guard');
    assert.equal(cmd.opts.listen, `0.0.0.0:${GUARD_PORT}`);
    assert.equal(cmd.opts.upstream, `ws://127.0.0.1:${WS_PORT}`);
    assert.ok(Number(cmd.opts.exitAfterUpstreamDownMs) > 0, 'a guard left in a restarted router\'s old namespace must exit to be restarted');
    assert.equal(publishedPorts(guardOf(node)).length, 0);
    const deps = guard.depends_on as Record<string, { condition?: string }> | undefined;
    assert.equal(deps?.[routerOf(node)]?.condition, 'service_healthy');
    assert.ok(guard.healthcheck, `${guardOf(node)} has no healthcheck`);
  });
}

// ---- routers ---------------------------------------------------------------------------------

// The secrets compose mounts, made by the real script into a temporary directory.
const secretsDir = await makeComposeSecrets(join(mkdtempSync(join(tmpdir(), 'forge-compose-')), 'secrets'));
after(() => rmSync(dirname(secretsDir), { recursive: true, force: true }));

const SECRETS_VAR = /^\$\{FORGE_ROUTER_SECRETS:\?[^}]*\}\//;

/** The mount at `target` of a router service: a generated secrets file, read-only, from the required secrets dir. */
function secretMount(name: string, target: string): string {
  const mount = mountsOf(name).find((m) => m.target === target);
  assert.ok(mount, `${name}: nothing mounted at ${target}`);
  assert.match(mount.source, SECRETS_VAR, `${name}: ${target} must come from \${FORGE_ROUTER_SECRETS:?...} (compose refuses to start without it)`);
  assert.ok(mount.readOnly, `${name}: ${target} must be read-only`);
  return join(secretsDir, mount.source.replace(SECRETS_VAR, ''));
}

/** Reads a generated json5 config (JSON after its // header). */
function readZenohConfig(path: string): Yaml {
  return JSON.parse(readFileSync(path, 'utf8').replace(/^\/\/.*\n/gm, '')) as Yaml;
}

function at(config: Yaml, path: string): unknown {
  return path.split('/').reduce<unknown>((v, k) => (v as Yaml | undefined)?.[k], config);
}

/** Every file a config names under CONTAINER_DIR is mounted into the service, from the secrets dir. */
function assertFilesMounted(name: string, config: Yaml): void {
  const paths = JSON.stringify(config).match(new RegExp(`${CONTAINER_DIR}/[A-Za-z0-9._-]+`, 'g')) ?? [];
  assert.ok(paths.length > 0);
  for (const p of new Set(paths)) secretMount(name, p);
}

for (const node of NODES) {
  test(`${node}: verifies tokens with the generated JWKS, and holds no token itself`, async () => {
    const config = loadConfig({ file: join(root, 'deploy', 'config', `${node}.json`), env: {} });
    assert.equal(config.auth.enabled, true);
    const jwks = readJwks(secretMount(node, config.auth.jwksFile!));
    const operator = readFileSync(join(secretsDir, 'admin.token'), 'utf8').trim();
    assert.equal((await new TokenVerifier({ jwks, audience: config.clusterId }).verify(operator)).principal, 'compose-operator');
    assert.equal((service(node).environment as Yaml | undefined)?.FORGE_TOKEN, undefined, 'the healthcheck needs no token');
  });
}

for (const node of NODES) {
  test(`${node}: its peer TLS files are mounted read-only from the secrets dir: the peer CA, and a certificate of that CA naming ${node} with its 0600 key`, () => {
    const config = loadConfig({ file: join(root, 'deploy', 'config', `${node}.json`), env: {} });
    const { caFile, certFile, keyFile } = config.peerTls!;
    assert.equal(relative(secretsDir, secretMount(node, caFile)), 'peer-tls/ca.crt');
    assert.equal(relative(secretsDir, secretMount(node, certFile)), `peer-tls/${node}.crt`);
    assert.equal(relative(secretsDir, secretMount(node, keyFile)), `peer-tls/${node}.key`);
    const ca = new X509Certificate(readFileSync(secretMount(node, caFile)));
    const cert = new X509Certificate(readFileSync(secretMount(node, certFile)));
    assert.equal(certificateNodeId(cert), node);
    assert.ok(cert.verify(ca.publicKey), 'signed by the peer CA');
    assert.ok(!cert.verify(new X509Certificate(readFileSync(join(secretsDir, 'ca.crt'))).publicKey), 'the routers\' CA is another one');
    assert.equal(statSync(secretMount(node, keyFile)).mode & 0o777, 0o600);
    assert.doesNotThrow(() => readPeerTls({ caFile: secretMount(node, caFile), certFile: secretMount(node, certFile), keyFile: secretMount(node, keyFile) }));
    // The node runs as the owner of those 0600 files.
    assert.match(String(service(node).user), /^\$\{FORGE_SECRETS_UID:\?[^}]+\}$/, `${node}.user`);
  });
}

test('compose refuses to start without the router secrets: every router mount and user needs FORGE_ROUTER_SECRETS / FORGE_SECRETS_UID', () => {
  for (const name of [...ROUTERS, 'gateway']) {
    assert.match(String(service(name).user), /^\$\{FORGE_SECRETS_UID:\?[^}]+\}$/, `${name}.user`);
    for (const m of mountsOf(name)) assert.match(m.source, SECRETS_VAR, `${name}: ${m.source}`);
  }
  assert.match(readText('.gitignore'), /^deploy\/secrets\/$/m, 'deploy/secrets/ is git-ignored');
});

for (const router of ROUTERS) {
  test(`${router}: runs on its generated config: tls/ mesh with the other routers, usrpwd, access control, private remote-api`, () => {
    const argv = stringList(service(router).command, `${router}.command`);
    assert.deepEqual(argv, ['--config', '/etc/zenoh/router.json5']);
    const config = readZenohConfig(secretMount(router, '/etc/zenoh/router.json5'));
    assert.equal(path(secretMount(router, '/etc/zenoh/router.json5')), `${router}.json5`);
    assert.deepEqual(at(config, 'listen/endpoints'), [`tls/0.0.0.0:${ZENOH_PORT}`]);
    const others = ROUTERS.filter((r) => r !== router).map((r) => `tls/${r}:${ZENOH_PORT}`);
    assert.deepEqual((at(config, 'connect/endpoints') as string[]).sort(), others.sort());
    assert.equal(at(config, 'scouting/multicast/enabled'), false, 'multicast scouting would join unrelated Zenoh peers');
    assert.equal(at(config, 'access_control/enabled'), true);
    assert.equal(at(config, 'access_control/default_permission'), 'deny');
    assert.equal(at(config, 'transport/auth/usrpwd/user'), 'router');
    assert.equal(at(config, 'transport/auth/usrpwd/dictionary_file'), `${CONTAINER_DIR}/zenoh-users.txt`);
    assert.equal(at(config, 'transport/link/tls/listen_certificate'), `${CONTAINER_DIR}/router.crt`);
    assert.equal(path(secretMount(router, `${CONTAINER_DIR}/router.crt`)), `${router}.crt`, 'its own certificate');
    assert.equal(at(config, 'adminspace/permissions/write'), false);
    assert.ok((at(config, 'transport/link/rx/max_message_size') as number) < 2 * 1024 * 1024);
    assert.equal(at(config, 'plugins/remote_api/websocket_port'), `127.0.0.1:${WS_PORT}`, 'only the link guard beside it reaches it');
    assertFilesMounted(router, config);
    assert.ok(service(router).healthcheck, `${router} has no healthcheck`);
  });
}

test('gateway: a client-mode router logged in as "gateway" over tls/ to the routers, serving wss:// with its certificate', () => {
  assert.deepEqual(stringList(service('gateway').command, 'gateway.command'), ['--config', '/etc/zenoh/gateway.json5', '--mode', 'client']);
  const config = readZenohConfig(secretMount('gateway', '/etc/zenoh/gateway.json5'));
  assert.deepEqual(at(config, 'connect/endpoints'), ROUTERS.map((r) => `tls/${r}:${ZENOH_PORT}`));
  assert.deepEqual(at(config, 'listen/endpoints'), [], 'the gateway listens for nothing but its WebSocket');
  assert.equal(at(config, 'transport/auth/usrpwd/user'), 'gateway');
  assert.equal(at(config, 'plugins/remote_api/secure_websocket/certificate_path'), `${CONTAINER_DIR}/gateway.crt`);
  assertFilesMounted('gateway', config);
});

function path(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

// ---- published ports ---------------------------------------------------------------------------

interface Published {
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

function publishedPorts(name: string): Published[] {
  const ports = service(name).ports;
  if (ports === undefined) return [];
  assert.ok(Array.isArray(ports), `${name}.ports must be a list`);
  return ports.map((p: unknown): Published => {
    if (typeof p === 'string') {
      const m = /^(?:(.+):)?(\d+):(\d+)(?:\/tcp)?$/.exec(p);
      assert.ok(m, `${name}: port "${p}" must name a host and a container port`);
      return { hostIp: interpolateUnset(m[1] ?? ''), hostPort: Number(m[2]), containerPort: Number(m[3]) };
    }
    const o = p as { host_ip?: string; published?: string | number; target?: number };
    return { hostIp: interpolateUnset(o.host_ip ?? ''), hostPort: Number(o.published), containerPort: Number(o.target) };
  });
}

test('published: each router\'s tls/ Zenoh port (7447-7449) and the gateway\'s wss port, on loopback unless configured; never the nodes\' WebSocket; Prometheus and Grafana on loopback only', () => {
  assert.deepEqual(publishedPorts('prometheus'), [{ hostIp: '127.0.0.1', hostPort: 9090, containerPort: 9090 }]);
  assert.deepEqual(publishedPorts('grafana'), [{ hostIp: '127.0.0.1', hostPort: 3000, containerPort: 3000 }]);
  for (const name of MONITORING) assert.ok(!JSON.stringify(service(name).ports).includes('FORGE_PUBLISH_ADDRESS'), `${name} authenticates no one: never published beyond loopback`);
  for (const name of [...NODES, ...GUARDS]) assert.deepEqual(publishedPorts(name), [], `${name} must publish nothing`);
  const all = ROUTERS.flatMap((r) => publishedPorts(r));
  assert.equal(all.length, ROUTERS.length, 'each router publishes exactly one port');
  for (const p of all) {
    assert.equal(p.containerPort, ZENOH_PORT, 'the routers\' remote-api WebSocket (the nodes\' sessions) stays on the compose network');
    assert.equal(p.hostIp, '127.0.0.1');
  }
  assert.deepEqual(all.map((p) => p.hostPort).sort(), ZENOH_CLIENT_HOST_PORTS);
  assert.deepEqual(publishedPorts('gateway'), [{ hostIp: '127.0.0.1', hostPort: WS_PORT, containerPort: WS_PORT }]);
});

// ---- Dockerfiles -------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

function parseDockerfile(path: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const lines = readText(path)
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\S+)\s+(.*)$/.exec(line);
    assert.ok(m, `${path}: cannot read "${line}"`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    const current = stages[stages.length - 1];
    if (op === 'FROM') {
      const [image, as, name] = args.split(/\s+/);
      const from = image!.replace(/\$\{(\w+)\}/g, (_x, n: string) => globalArgs.get(n) ?? '');
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (current) {
      current.instructions.push({ op, args });
    } else if (op === 'ARG') {
      const [name, value] = args.split('=');
      globalArgs.set(name!, value ?? '');
    }
  }
  return { globalArgs, stages };
}

function finalUser(stage: Stage): string | undefined {
  return stage.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
}

function execForm(args: string): string[] {
  const value: unknown = JSON.parse(args);
  return stringList(value, args);
}

function nodeEntrypoint(): string {
  const { stages } = parseDockerfile('deploy/node.Dockerfile');
  const entry = stages.at(-1)?.instructions.find((i) => i.op === 'ENTRYPOINT');
  assert.ok(entry, 'deploy/node.Dockerfile has no ENTRYPOINT in its final stage');
  const argv = execForm(entry.args);
  assert.equal(argv.length, 1);
  return argv[0]!;
}

test('every Dockerfile is multi-stage and its final stage runs as a non-root user', () => {
  for (const path of ['deploy/node.Dockerfile', 'deploy/router.Dockerfile']) {
    const { stages } = parseDockerfile(path);
    assert.ok(stages.length >= 2, `${path} must be multi-stage`);
    const user = finalUser(stages.at(-1)!);
    assert.ok(user !== undefined && !/^(root|0)(:.*)?$/.test(user), `${path}: final stage runs as "${user ?? 'root (no USER)'}"`);
  }
});

test('the node image runs the launcher on a Node LTS slim image with production dependencies only', () => {
  const { stages } = parseDockerfile('deploy/node.Dockerfile');
  const runtime = stages.at(-1)!;
  // A maintained Node LTS on Debian's current stable (trixie).
  assert.match(runtime.from, /^node:(24|26)(\.\d+)*-trixie-slim$/);
  const healthcheck = runtime.instructions.find((i) => i.op === 'HEALTHCHECK');
  assert.ok(healthcheck, 'the node image has a HEALTHCHECK');
  assert.match(healthcheck.args, /--start-period=\d+s/, 'liveness needs a start period: probes are served once the snapshot is loaded');
  assert.match(healthcheck.args, /CMD \["node", "-e", ".*\/livez'/, 'the image probes /livez with node');
  assert.equal(nodeEntrypoint(), '/app/bin/forge-mailbox');
  const builds = stages.filter((s) => s.instructions.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)));
  assert.equal(builds.length, 1, 'one stage compiles the TypeScript');
  assert.ok(!runtime.instructions.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args)), 'the runtime stage installs no npm packages');
  const copiedFrom = runtime.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => /--from=(\S+)\s+(\S+)/.exec(i.args))
    .filter((m): m is RegExpExecArray => m !== null);
  const depsStage = copiedFrom.find((m) => m[2]!.endsWith('node_modules'))?.[1];
  assert.ok(depsStage, 'the runtime stage copies node_modules from another stage');
  const deps = stages.find((s) => s.name === depsStage);
  assert.ok(deps, `no stage named ${depsStage}`);
  assert.ok(deps.instructions.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args)), `${depsStage} must install with --omit=dev`);
  assert.ok(copiedFrom.some((m) => m[2]!.startsWith('/src/dist')), 'the runtime stage copies the compiled dist');
  assert.ok(runtime.instructions.some((i) => i.op === 'COPY' && /^bin\s/.test(i.args)), 'the runtime stage copies bin/');
  // The launcher preloads jemalloc when present (src/node/node-allocator.ts): the image has it.
  assert.ok(
    runtime.instructions.some((i) => i.op === 'RUN' && /apt-get install\b.*\blibjemalloc2\b/.test(i.args)),
    'the runtime stage installs libjemalloc2',
  );
});

test('the router image builds zenoh-bridge-remote-api at the zenoh-ts version of package.json, and compose pins the same', () => {
  const version = zenohVersionOfPackage();
  const { globalArgs, stages } = parseDockerfile('deploy/router.Dockerfile');
  assert.equal(globalArgs.get('ZENOH_VERSION'), version, 'deploy/router.Dockerfile ARG ZENOH_VERSION');
  // Built and run on the same Debian release (the binary's glibc), the current stable.
  assert.match(globalArgs.get('RUST_IMAGE') ?? '', /^rust:[\d.]+-trixie$/);
  assert.equal(globalArgs.get('RUNTIME_IMAGE'), 'debian:trixie-slim');
  assert.ok(
    stages.some(
      (s) =>
        s.instructions.some((i) => i.op === 'COPY' && /^scripts\/zenoh-router\/?\s/.test(i.args)) &&
        s.instructions.some((i) => i.op === 'RUN' && /\bbash \S*zenoh-router\/build\.sh "\$\{ZENOH_VERSION\}" /.test(i.args)),
    ),
    'the router is built by scripts/zenoh-router/build.sh at ${ZENOH_VERSION}, as scripts/install-zenoh-router.sh builds it',
  );
  for (const router of [...ROUTERS, 'gateway']) {
    const build = service(router).build as { dockerfile?: string; args?: Record<string, string> } | undefined;
    assert.equal(build?.dockerfile, 'deploy/router.Dockerfile', `${router}.build.dockerfile`);
    assert.equal(build?.args?.ZENOH_VERSION, version, `${router}.build.args.ZENOH_VERSION`);
    assert.equal(service(router).image, `forge-zenoh-router:${version}`, `${router}.image names the version it holds`);
  }
  for (const node of NODES) {
    const build = service(node).build as { dockerfile?: string } | undefined;
    assert.equal(build?.dockerfile, 'deploy/node.Dockerfile', `${node}.build.dockerfile`);
  }
});

test("--max-body-bytes: the routers' and the gateway's message limit follows the nodes' mailbox.maxBodyBytes (default 1 MiB)", async () => {
  for (const name of [...ROUTERS, 'gateway']) {
    assert.equal(at(readZenohConfig(join(secretsDir, `${name}.json5`)), 'transport/link/rx/max_message_size'), maxMessageBytes(), `${name}: default`);
  }
  const eight = 8 * 1024 * 1024;
  const dir = await makeComposeSecrets(join(mkdtempSync(join(tmpdir(), 'forge-compose-')), 'secrets'), { maxBodyBytes: eight });
  try {
    for (const name of [...ROUTERS, 'gateway']) {
      assert.equal(at(readZenohConfig(join(dir, `${name}.json5`)), 'transport/link/rx/max_message_size'), maxMessageBytes(eight), name);
    }
  } finally {
    rmSync(dirname(dir), { recursive: true, force: true });
  }
});

// ---- monitoring profile ------------------------------------------------------------------------

/** The repository file bind-mounted read-only at `target` of a service. */
function repoMount(name: string, target: string): string {
  const mount = mountsOf(name).find((m) => m.target === target);
  assert.ok(mount, `${name}: nothing mounted at ${target}`);
  assert.ok(mount.readOnly, `${name}: ${target} must be read-only`);
  assert.ok(mount.source.startsWith('./deploy/'), `${name}: ${target} comes from deploy/, has ${mount.source}`);
  return normalize(mount.source);
}

function flagValue(argv: string[], flag: string): string {
  const arg = argv.find((a) => a.startsWith(`--${flag}=`));
  assert.ok(arg, `no --${flag}= in ${argv.join(' ')}`);
  return arg.slice(flag.length + 3);
}

test('monitoring: pinned Prometheus and Grafana releases, each with a healthcheck on its own endpoint', () => {
  assert.match(String(service('prometheus').image), /^prom\/prometheus:v\d+\.\d+\.\d+$/, 'an exact Prometheus release, never latest');
  assert.match(String(service('grafana').image), /^grafana\/grafana:\d+\.\d+\.\d+$/, 'an exact Grafana release, never latest');
  const probes = { prometheus: 'http://127.0.0.1:9090/-/ready', grafana: 'http://127.0.0.1:3000/api/health' };
  for (const [name, url] of Object.entries(probes)) {
    const hc = service(name).healthcheck as Yaml | undefined;
    assert.ok(hc, `${name} has no healthcheck`);
    assert.deepEqual(stringList(hc.test, `${name}.healthcheck.test`), ['CMD', 'wget', '-q', '-O', '/dev/null', url]);
  }
  const deps = service('grafana').depends_on as Record<string, { condition?: string }> | undefined;
  assert.equal(deps?.prometheus?.condition, 'service_healthy');
});

test('monitoring: Prometheus scrapes every node\'s operator port on the compose network and evaluates deploy/prometheus/alerts.yml', () => {
  const argv = stringList(service('prometheus').command, 'prometheus.command');
  const configPath = flagValue(argv, 'config.file');
  assert.equal(repoMount('prometheus', configPath), normalize('deploy/prometheus/prometheus.yml'));
  const dataMount = mountsOf('prometheus').find((m) => m.target === flagValue(argv, 'storage.tsdb.path'));
  assert.equal(dataMount?.source, 'prometheus-data', 'the TSDB is on its own named volume');
  assert.ok(compose.volumes && 'prometheus-data' in (compose.volumes as Yaml));
  const config = parseYaml(readText('deploy/prometheus/prometheus.yml')) as {
    rule_files: string[];
    scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
  };
  assert.deepEqual(config.rule_files.map((f) => repoMount('prometheus', f)), [normalize('deploy/prometheus/alerts.yml')]);
  assert.equal(config.scrape_configs.length, 1);
  const job = config.scrape_configs[0]!;
  assert.equal(job.metrics_path ?? '/metrics', '/metrics');
  const targets = job.static_configs.flatMap((c) => c.targets).sort();
  const expected = NODES.map((n) => `${n}:${loadConfig({ file: join(root, 'deploy', 'config', `${n}.json`), env: {} }).metrics.port}`);
  assert.deepEqual(targets, expected, 'every node, at the operator port its config serves');
});

test('monitoring: Grafana is provisioned with the Prometheus data source and the dashboard from deploy/grafana, read-only and anonymous', () => {
  const datasourcesDir = repoMount('grafana', '/etc/grafana/provisioning/datasources');
  const datasources = parseYaml(readText(join(datasourcesDir, 'prometheus.yml'))) as { datasources: Array<{ type: string; url: string; isDefault?: boolean }> };
  assert.deepEqual(
    datasources.datasources.map((d) => [d.type, d.url, d.isDefault]),
    [['prometheus', `http://prometheus:${publishedPorts('prometheus')[0]!.containerPort}`, true]],
    'the profile\'s Prometheus by its service name, the default data source (the dashboard asks for the default)',
  );
  const dashboardsDir = repoMount('grafana', '/etc/grafana/provisioning/dashboards');
  const providers = parseYaml(readText(join(dashboardsDir, 'forge-mailbox.yml'))) as { providers: Array<{ type: string; allowUiUpdates?: boolean; options: { path: string } }> };
  assert.equal(providers.providers.length, 1);
  const provider = providers.providers[0]!;
  assert.equal(provider.type, 'file');
  assert.equal(provider.allowUiUpdates, false);
  const dashboard = mountsOf('grafana').filter((m) => dirname(m.target) === provider.options.path);
  assert.deepEqual(dashboard.map((m) => normalize(m.source)), [normalize('deploy/grafana/forge-mailbox.json')], 'the provider loads the repository\'s dashboard');
  assert.ok(dashboard[0]!.readOnly);
  assert.equal(JSON.parse(readText('deploy/grafana/forge-mailbox.json')).uid, 'forge-mailbox');
  const env = service('grafana').environment as Record<string, string>;
  assert.equal(env.GF_AUTH_ANONYMOUS_ENABLED, 'true');
  assert.equal(env.GF_AUTH_ANONYMOUS_ORG_ROLE, 'Viewer', 'anonymous visitors only view');
  assert.equal(env.GF_AUTH_DISABLE_LOGIN_FORM, 'true', 'no default admin/admin login');
  assert.equal(env.GF_AUTH_BASIC_ENABLED, 'false', 'no admin/admin on the HTTP API either');
  assert.equal(mountsOf('grafana').find((m) => m.target === '/var/lib/grafana')?.source, 'grafana-data');
});
