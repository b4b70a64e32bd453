// The client CLI commands, run as a child process against the real router and a leader bridge.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ZenohBridge } from '../../src/bridge/zenoh-bridge.js';
import { InMemoryMailboxService } from '../support/in-memory-mailbox-service.js';
import { freePort, ZenohRouter } from '../support/zenoh-router.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const entry = fileURLToPath(new URL(`../support/client-cli${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

let router: ZenohRouter;
let bridge: ZenohBridge;

before(async () => {
  router = await ZenohRouter.start();
  bridge = new ZenohBridge({ routerUrl: router.url, nodeId: 'n1', service: new InMemoryMailboxService('n1', { leader: true }), logger: quiet });
  bridge.start();
  await bridge.connected();
  await bridge.settled();
});

after(async () => {
  await bridge.stop();
  await router.stop();
});

function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('put, len, consume print JSON on stdout with exit code 0; empty mailbox exits 2', async () => {
  const r = router.url;
  const put = await cli('put', 'carol', 'hi there', '--id', 'c-1', '--router', r);
  assert.equal(put.code, 0, put.stderr);
  assert.deepEqual(JSON.parse(put.stdout), { id: 'c-1', seq: 1, duplicate: false });

  const len = await cli('len', 'carol', '--router', r);
  assert.equal(len.code, 0, len.stderr);
  assert.equal(JSON.parse(len.stdout).count, 1);

  const consume = await cli('consume', 'carol', '--lease', '60000', '--router', r);
  assert.equal(consume.code, 0, consume.stderr);
  const message = JSON.parse(consume.stdout);
  assert.equal(message.body, 'hi there');
  assert.equal(message.id, 'c-1');

  const ack = await cli('ack', 'carol', message.receipt, '--router', r);
  assert.equal(ack.code, 0, ack.stderr);

  const empty = await cli('consume', 'carol', '--router', r);
  assert.equal(empty.code, 2);
  assert.deepEqual(JSON.parse(empty.stdout), { status: 'empty' });

  const status = await cli('status', '--router', r);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).nodeId, 'n1');

  const nodes = await cli('status', '--nodes', '--router', r);
  assert.equal(nodes.code, 0, nodes.stderr);
  assert.deepEqual(JSON.parse(nodes.stdout).map((n: { nodeId: string }) => n.nodeId), ['n1']);
});

test('bad input exits 3 with the code on stderr; an unreachable router exits 4', async () => {
  const bad = await cli('len', 'not a user', '--router', router.url);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /BAD_USER/);
  assert.equal(bad.stdout, '');

  const receipt = await cli('ack', 'carol', '42.1', '--router', router.url);
  assert.equal(receipt.code, 3);
  assert.match(receipt.stderr, /UNKNOWN_RECEIPT/);

  const ttl = await cli('put', 'carol', 'x', '--ttl', 'soon', '--router', router.url);
  assert.equal(ttl.code, 3);
  const missing = await cli('ack', 'carol', '--router', router.url);
  assert.equal(missing.code, 3, 'a usage error is bad input');

  const down = await cli('len', 'carol', '--router', `ws://127.0.0.1:${await freePort()}`);
  assert.equal(down.code, 4);
  assert.match(down.stderr, /UNAVAILABLE/);
});
