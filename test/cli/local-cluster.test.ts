// `local-cluster --max-body-bytes`: the nodes' mailbox.maxBodyBytes and the routers' message limit
// are set together (a node accepting bodies its router drops would be worse than either limit);
// a value outside what the config allows is refused before anything is written.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { prepareLocalCluster, registerLocalClusterCommand } from '../../src/cli/local-cluster.js';
import { loadConfig } from '../../src/config/load.js';
import { maxMessageBytes } from '../../src/router/router-config.js';

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
