// `local-cluster --max-body-bytes`: the nodes' mailbox.maxBodyBytes and the routers' message limit
// are set together (a node accepting bodies its router drops would be worse than either limit);
// a value outside what the config allows is refused before anything is written. A port another
// process already answers on stops the start with a clear message and leaves nothing running.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { prepareLocalCluster, registerLocalClusterCommand } from '../../src/cli/local-cluster.js';
import { loadConfig } from '../../src/config/load.js';
import { repoRoot } from '../../src/repo-root.js';
import { maxMessageBytes } from '../../src/router/router-config.js';
import { freePort } from '../../src/router/zenoh-router.js';
import { WebSocketServer } from 'ws';

const PORTS = { raft: 7701, gatewayWs: 10000, nodesWs: 10001, routerWs: 10002, zenoh: 7447 };

function zenohLimit(file: string): unknown {
  const config = JSON.parse(readFileSync(file, 'utf8').replace(/^\/\/.*\n/gm, '')) as { transport: { link: { rx: { max_message_size: number } } } };
  return config.transport.link.rx.max_message_size;
}

test('the nodes, the router and the gateway get the same body limit; the default stays 1 MiB', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-local-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const eight = 8 * 1024 * 1024;
  const big = await prepareLocalCluster(join(dir, 'big'), 1, PORTS, { maxBodyBytes: eight });
  assert.equal(loadConfig({ file: big.configs[0]!, env: {} }).mailbox.maxBodyBytes, eight);
  assert.equal(zenohLimit(big.router.routerConfig), maxMessageBytes(eight));
  assert.equal(zenohLimit(big.router.gatewayConfig!), maxMessageBytes(eight));

  const plain = await prepareLocalCluster(join(dir, 'plain'), 1, PORTS);
  assert.equal(loadConfig({ file: plain.configs[0]!, env: {} }).mailbox.maxBodyBytes, 1024 * 1024);
  assert.equal(zenohLimit(plain.router.routerConfig), maxMessageBytes());
});

test('--max-body-bytes outside 1..8 MiB is refused', () => {
  for (const bad of ['0', '8388609', '8MiB', '-1', '1e6']) {
    const program = new Command();
    program.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
    registerLocalClusterCommand(program);
    for (const sub of program.commands) sub.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
    assert.throws(
      () => program.parse(['local-cluster', '--max-body-bytes', bad], { from: 'user' }),
      (e: unknown) => e instanceof CommanderError && e.code === 'commander.invalidArgument' && /from 1 to 8388608/.test(e.message),
      bad,
    );
  }
});

test('a router port another server already answers on stops the start, says so, and leaves nothing running', { timeout: 60_000 }, async () => {
  const holder = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(holder, 'listening');
  const taken = (holder.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'forge-local-taken-'));
  const ports = { raft: await freePort(), ws: await freePort(), nodesWs: await freePort(), zenoh: await freePort() };
  try {
    const cli = spawn(
      join(repoRoot, 'bin', 'forge-mailbox'),
      ['local-cluster', '--dir', dir, '--nodes', '1', '--raft-port', String(ports.raft), '--ws-port', String(ports.ws), '--nodes-ws-port', String(ports.nodesWs), '--router-ws-port', String(taken), '--zenoh-port', String(ports.zenoh)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    cli.stdout.on('data', (c: Buffer) => (output += c.toString()));
    cli.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const [code] = (await once(cli, 'exit')) as [number | null];
    assert.equal(code, 1, output);
    assert.match(output, new RegExp(`Zenoh router: Address already in use: another process listens on port ${taken}: is another cluster running\\?`));
    assert.doesNotMatch(output, /nodes starting/);
    // The router it spawned (configured under dir) was stopped.
    const left = spawnSync('pgrep', ['-f', dir], { encoding: 'utf8' }).stdout.trim();
    assert.equal(left, '', `processes left running: ${left}`);
  } finally {
    holder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
