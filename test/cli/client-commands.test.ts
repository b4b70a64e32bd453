// The client CLI commands, run as a child process against the real router and a leader bridge.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { InMemoryMailboxService } from '../support/in-memory-mailbox-service.js';
import { EXIT_UNAVAILABLE, exitCodeFor, nodeHealth } from '../../src/cli/client-commands.js';
import { freePort, runProgram, useRouter } from '../support/e2e.js';

const entry = fileURLToPath(new URL(`../support/client-cli${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

const zenoh = useRouter(new InMemoryMailboxService('n1', { leader: true }));
const cli = (...args: string[]) => runProgram(process.execPath, [...process.execArgv, entry, ...args]);

test('put, len, consume print JSON on stdout with exit code 0; empty mailbox exits 2', async () => {
  const r = zenoh.router.url;
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
  const bad = await cli('len', 'not a user', '--router', zenoh.router.url);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /BAD_USER/);
  assert.equal(bad.stdout, '');

  const receipt = await cli('ack', 'carol', '42.1', '--router', zenoh.router.url);
  assert.equal(receipt.code, 3);
  assert.match(receipt.stderr, /UNKNOWN_RECEIPT/);

  const ttl = await cli('put', 'carol', 'x', '--ttl', 'soon', '--router', zenoh.router.url);
  assert.equal(ttl.code, 3);
  const missing = await cli('ack', 'carol', '--router', zenoh.router.url);
  assert.equal(missing.code, 3, 'a usage error is bad input');

  // Retryable with the same id/rid: the leader stepped down with the request pending.
  assert.equal(exitCodeFor('LEADERSHIP_LOST'), EXIT_UNAVAILABLE);
  assert.equal(exitCodeFor('ROUTER_LOST'), EXIT_UNAVAILABLE);

  const down = await cli('len', 'carol', '--router', `ws://127.0.0.1:${await freePort()}`);
  assert.equal(down.code, 4);
  assert.match(down.stderr, /UNAVAILABLE/);
});

test('status --node is a health probe: 0 for a node that answers and runs, 4 for a halted or silent one', () => {
  const running = { node: 'n1', role: 'leader', halted: null };
  assert.deepEqual(nodeHealth([running], 'n1'), { output: running });
  const halted = { node: 'n2', role: 'follower', halted: 'IO error: No space left on device' };
  assert.deepEqual(nodeHealth([running, halted], 'n2'), { output: halted, exitCode: EXIT_UNAVAILABLE });
  assert.deepEqual(nodeHealth([running], 'n3'), { output: { node: 'n3', status: 'no answer' }, exitCode: EXIT_UNAVAILABLE });
  assert.equal(exitCodeFor('NOSPACE'), EXIT_UNAVAILABLE, 'NOSPACE: retry later');
});

test('consume --wait: a long poll answered by a put made while it waits; empty (exit 2) once the wait ends', async () => {
  const r = zenoh.router.url;
  const started = Date.now();
  const waiting = cli('consume', 'dave', '--wait', '15000', '--router', r);
  // Put once the long poll is (very likely) parked; the assertion holds either way.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const put = await cli('put', 'dave', 'woken', '--router', r);
  assert.equal(put.code, 0, put.stderr);
  const got = await waiting;
  assert.equal(got.code, 0, got.stderr);
  assert.equal(JSON.parse(got.stdout).body, 'woken');
  assert.ok(Date.now() - started < 14_000, 'answered by the put, not at the end of the wait');

  const emptyStarted = Date.now();
  const empty = await cli('consume', 'dave', '--wait', '1500', '--router', r);
  assert.equal(empty.code, 2, empty.stderr);
  assert.ok(Date.now() - emptyStarted >= 1500);
});
