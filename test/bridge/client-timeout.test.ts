// A request no node answers in time ends with TIMEOUT (outcome unknown, retry with the same id),
// against the real Zenoh router: zenoh ends the query itself with an error reply of its own, which
// the client once reported as INTERNAL, a bug. A definite refusal from one node (a stale
// ex-leader's NOT_LEADER) beside a node that never answered is also TIMEOUT: the silent one may
// still commit the request.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/bridge/websocket-polyfill.js';
import { Config, Session, type Query } from '@eclipse-zenoh/zenoh-ts';
import { ForgeMailboxClient, MailboxClientError } from '../../src/bridge/client.js';
import { encodeError } from '../../src/bridge/reply-format.js';
import { useRouter } from '../support/e2e.js';

const zenoh = useRouter();
const REQUEST_TIMEOUT_MS = 600;

async function session(t: TestContext): Promise<Session> {
  const s = await Session.open(new Config(zenoh.router.url, 2000));
  t.after(() => s.close().catch(() => {}));
  return s;
}

async function client(t: TestContext, keyPrefix: string): Promise<ForgeMailboxClient> {
  const c = await ForgeMailboxClient.open(zenoh.router.url, { keyPrefix, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  t.after(() => c.close());
  return c;
}

/** Answers NOT_LEADER, as a stale ex-leader does, and ends its part of the query. */
async function refuse(q: Query): Promise<void> {
  await q.replyErr(encodeError({ code: 'NOT_LEADER', message: 'stepped down', leader: 'n2' }));
  await q.finalize();
}

async function failure(promise: Promise<unknown>): Promise<{ error: MailboxClientError; ms: number }> {
  const started = Date.now();
  try {
    await promise;
  } catch (e) {
    if (!(e instanceof MailboxClientError)) throw e;
    return { error: e, ms: Date.now() - started };
  }
  throw new Error('the request succeeded');
}

test('a request nobody answers in time fails TIMEOUT once its timeout ends', async (t) => {
  await (await session(t)).declareQueryable('silent/**', { complete: true, handler: (_q: Query) => {} });
  const c = await client(t, 'silent');
  const { error, ms } = await failure(c.put('alice', 'x'));
  t.diagnostic(`${error.code} after ${ms} ms: ${error.message}`);
  assert.equal(error.code, 'TIMEOUT');
  assert.match(error.message, /outcome is unknown/);
  assert.ok(ms >= REQUEST_TIMEOUT_MS - 50, `failed after ${ms} ms, before its timeout`);
});

test('a NOT_LEADER beside a node that never answered is TIMEOUT, not a refusal', async (t) => {
  // Not complete: a query then goes to every matching queryable, as to two nodes that both
  // declared the key space for a moment around a leader change.
  await (await session(t)).declareQueryable('split/**', { complete: false, handler: (_q: Query) => {} });
  await (await session(t)).declareQueryable('split/**', {
    complete: false,
    handler: (q: Query) => void refuse(q),
  });
  const c = await client(t, 'split');
  const { error } = await failure(c.put('alice', 'x'));
  assert.equal(error.code, 'TIMEOUT', `${error.code}: ${error.message}`);
});

test('a NOT_LEADER alone is still NOT_LEADER, answered without waiting out the timeout', async (t) => {
  await (await session(t)).declareQueryable('refuse/**', {
    complete: true,
    handler: (q: Query) => void refuse(q),
  });
  const c = await client(t, 'refuse');
  const { error, ms } = await failure(c.put('alice', 'x'));
  assert.equal(error.code, 'NOT_LEADER');
  assert.equal(error.leader, 'n2');
  assert.ok(ms < REQUEST_TIMEOUT_MS, `NOT_LEADER took ${ms} ms`);
});
