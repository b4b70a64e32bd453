// The routers' and the gateway's compose healthchecks, taken verbatim from docker-compose.yml and
// run against the real zenoh-bridge-remote-api: each completes a WebSocket handshake (101) and the
// router logs nothing for it, where a bare TCP connect (the probe they replace) makes it log an
// ERROR. Only the port (and the gateway's CA path) is changed from the compose value. The
// gateway's probe needs curl (in the router image; skipped where this machine has none).

import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { makeComposeSecrets } from '../../scripts/compose-secrets.js';
import { repoRoot } from '../../src/repo-root.js';
import { gatewayConfig, GATEWAY_USER, renderConfig } from '../../src/router/router-config.js';
import { parseUsersFile } from '../../src/router/router-secrets.js';
import { freePort, spawnZenoh, waitForPort, writeRouterFiles } from '../../src/router/zenoh-router.js';
import { writeSecretFile } from '../../src/secret-files.js';

/** The remote-api WebSocket port of the compose routers and gateway (inside their containers). */
const COMPOSE_WS_PORT = '10000';
const CONTAINER_CA = '/etc/zenoh/ca.crt';

const compose = parseYaml(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { healthcheck: { test: string[] } }>;
};

/** A service's healthcheck: `CMD bash -c <script>`; returns the script. */
function probeScript(service: string): string {
  const argv = compose.services[service]!.healthcheck.test;
  assert.deepEqual(argv.slice(0, 3), ['CMD', 'bash', '-c'], `${service}: a bash probe`);
  assert.equal(argv.length, 4);
  return argv[3]!;
}

const routerProbe = probeScript('router-1');
const gatewayProbe = probeScript('gateway');

/** The script with the compose port replaced (it must name it), run by bash as the container would. */
function runProbe(script: string, port: number, replace: Record<string, string> = {}): Promise<number | null> {
  assert.ok(script.includes(COMPOSE_WS_PORT), script);
  let local = script.replaceAll(COMPOSE_WS_PORT, String(port));
  for (const [from, to] of Object.entries(replace)) {
    assert.ok(local.includes(from), `${from} in ${script}`);
    local = local.replaceAll(from, to);
  }
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', local], { stdio: 'ignore', timeout: 15_000 });
    child.on('exit', (code) => resolve(code));
  });
}

/** A router or gateway process whose log lines (stdout and stderr) are collected. */
interface Logged {
  child: ChildProcess;
  log: string[];
}

function start(config: string, mode: 'peer' | 'client'): Logged {
  const child = spawnZenoh(config, { mode, stdio: 'pipe' });
  const log: string[] = [];
  // Without the terminal colours (the level is written as \x1b[31mERROR\x1b[0m).
  const keep = (chunk: Buffer) => log.push(...chunk.toString().replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim() !== ''));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  after(() => {
    child.kill('SIGKILL');
  });
  return { child, log };
}

/** Log lines at WARN or ERROR written from line `from` on, once the router has had time to write them. */
async function complaintsSince(p: Logged, from: number): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 1000));
  return p.log.slice(from).filter((l) => / (WARN|ERROR) /.test(l));
}

const work = mkdtempSync(join(tmpdir(), 'forge-router-probe-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('the router image\'s HEALTHCHECK is the compose routers\' probe', () => {
  const dockerfile = readFileSync(join(repoRoot, 'deploy', 'router.Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const m = /^HEALTHCHECK .*?CMD (\[.*\])$/m.exec(dockerfile);
  assert.ok(m, 'deploy/router.Dockerfile has a HEALTHCHECK in exec form');
  assert.deepEqual(JSON.parse(m[1]!), ['bash', '-c', routerProbe]);
  for (const name of ['router-1', 'router-2', 'router-3']) assert.equal(probeScript(name), routerProbe, name);
});

test('router probe: a WebSocket handshake the real router answers with 101 and logs nothing for; a bare TCP connect is logged as an ERROR', { timeout: 60_000 }, async () => {
  const wsPort = await freePort();
  const files = writeRouterFiles(join(work, 'router'), { wsPort, zenohPort: await freePort() });
  const router = start(files.routerConfig, 'peer');
  await waitForPort(wsPort);
  const before = router.log.length;
  const t0 = performance.now();
  assert.equal(await runProbe(routerProbe, wsPort), 0, 'the probe passes on a serving router');
  console.log(`router probe: exit 0 in ${Math.round(performance.now() - t0)} ms`);
  assert.equal(await runProbe(routerProbe, wsPort), 0, 'and again (the router keeps accepting)');
  assert.deepEqual(await complaintsSince(router, before), [], 'the router logs no warning or error for the probes');

  const bare = router.log.length;
  assert.equal(await runProbe(':</dev/tcp/127.0.0.1/10000', wsPort), 0, 'a bare connect succeeds too');
  const logged = await complaintsSince(router, bare);
  assert.ok(logged.some((l) => /ERROR.*websocket handshake/.test(l)), `the router logs the bare connect: ${logged.join('\n')}`);
  console.log(`bare TCP connect: the router logs ${JSON.stringify(logged.at(-1))}`);

  router.child.kill('SIGTERM');
  await new Promise((r) => router.child.once('exit', r));
  assert.notEqual(await runProbe(routerProbe, wsPort), 0, 'nothing listening: the probe fails');
});

test('router probe: an HTTP server that does not switch to WebSocket fails it', async () => {
  const server = createServer((_req, res) => res.writeHead(200).end('ok'));
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
  try {
    assert.notEqual(await runProbe(routerProbe, port), 0);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

const noCurl = spawnSync('curl', ['--version']).error ? 'curl is not installed' : false;

test('gateway probe: curl\'s WebSocket upgrade over TLS, trusting the compose CA, gets 101 from the real gateway and is not logged; a bare TCP connect is', { skip: noCurl, timeout: 60_000 }, async () => {
  const secrets = await makeComposeSecrets(join(work, 'secrets'));
  const wsPort = await freePort();
  const zenohPort = await freePort();
  const files = writeRouterFiles(join(work, 'mesh'), { wsPort, zenohPort });
  const router = start(files.routerConfig, 'peer');
  await waitForPort(wsPort);
  const gatewayPort = await freePort();
  const password = parseUsersFile(readFileSync(files.usersFile!, 'utf8'), files.usersFile!).get(GATEWAY_USER)!;
  const config = join(work, 'gateway.json5');
  writeSecretFile(
    config,
    renderConfig(
      gatewayConfig({
        webSocket: `127.0.0.1:${gatewayPort}`,
        connect: [`tcp/127.0.0.1:${zenohPort}`],
        credentials: { user: GATEWAY_USER, password },
        secureWebSocket: { certFile: join(secrets, 'gateway.crt'), keyFile: join(secrets, 'gateway.key') },
      }),
      'test',
    ),
  );
  const gateway = start(config, 'client');
  const ca = { [CONTAINER_CA]: join(secrets, 'ca.crt') };
  // Until it serves (its TLS listener opens once it has logged into the router).
  const deadline = Date.now() + 20_000;
  while ((await runProbe(gatewayProbe, gatewayPort, ca)) !== 0) {
    assert.ok(Date.now() < deadline, `the gateway never passed its probe:\n${gateway.log.join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const before = gateway.log.length;
  const t0 = performance.now();
  assert.equal(await runProbe(gatewayProbe, gatewayPort, ca), 0);
  console.log(`gateway probe: exit 0 in ${Math.round(performance.now() - t0)} ms (curl's --max-time ends the upgraded connection)`);
  assert.deepEqual(await complaintsSince(gateway, before), [], 'the gateway logs no warning or error for the probe');
  assert.notEqual(await runProbe(gatewayProbe, gatewayPort, { [CONTAINER_CA]: join(secrets, 'peer-tls', 'ca.crt') }), 0, 'a certificate of another CA fails it');

  const bare = gateway.log.length;
  await runProbe(':</dev/tcp/127.0.0.1/10000', gatewayPort);
  const logged = await complaintsSince(gateway, bare);
  assert.ok(logged.some((l) => /ERROR.*TlsStream/.test(l)), `the gateway logs the bare connect: ${logged.join('\n')}`);
  assert.ok(router.child.exitCode === null);
});
