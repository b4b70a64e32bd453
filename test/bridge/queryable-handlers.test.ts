// A query the router sends for a queryable id the session holds no handler for (around a
// declaration or an undeclaration, see queryable-handlers.ts) is answered at once with NOT_LEADER
// by a session opened through openSession, where zenoh-ts alone drops it and the client waits out
// its timeout. Against the real Zenoh router: the window is opened by removing a declared
// queryable's handler from the session's map, as zenoh-ts's own declare and undeclare leave it.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/bridge/websocket-polyfill.js';
import { Config, Session, type Query, type Queryable } from '@eclipse-zenoh/zenoh-ts';
import { ForgeMailboxClient, MailboxClientError } from '../../src/bridge/client.js';
import { closeSession, openSession } from '../../src/bridge/open-session.js';
import { answerStrayQueries, LATE_QUERY_GRACE_MS, STRAY_QUERY_MESSAGE, undeclareAnswering } from '../../src/bridge/queryable-handlers.js';
import { useRouter } from '../support/e2e.js';

const zenoh = useRouter();
const REQUEST_TIMEOUT_MS = 1500;

async function client(t: TestContext, keyPrefix: string): Promise<ForgeMailboxClient> {
  const c = await ForgeMailboxClient.open(zenoh.router.url, { keyPrefix, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  t.after(() => c.close());
  return c;
}

/** Declares a queryable answering nothing, then takes its handler out of the session's map. */
async function handlerless(session: Session, key: string): Promise<Queryable> {
  const q = await session.declareQueryable(key, { complete: true, handler: (_q: Query) => {} });
  const { id, session: inner } = q as unknown as { id: unknown; session: { queryables: Map<unknown, unknown> } };
  assert.ok(inner.queryables.delete(id), 'zenoh-ts keeps its handlers where this test looks');
  return q;
}

async function outcome(promise: Promise<unknown>): Promise<{ code: string; message: string; ms: number }> {
  const started = Date.now();
  try {
    await promise;
    return { code: 'ok', message: '', ms: Date.now() - started };
  } catch (e) {
    if (!(e instanceof MailboxClientError)) throw e;
    return { code: e.code, message: e.message, ms: Date.now() - started };
  }
}

test('a query for a queryable with no handler: NOT_LEADER at once through openSession, a timeout with zenoh-ts alone', async (t) => {
  const ours = await openSession(zenoh.router.url, { timeoutMs: 5000, requestTimeoutMs: 2000 });
  t.after(() => closeSession(ours, 2000));
  await handlerless(ours, 'stray-ours/**');
  const answered = await outcome((await client(t, 'stray-ours')).put('alice', 'x'));
  t.diagnostic(`through openSession: ${answered.code} after ${answered.ms} ms`);
  assert.equal(answered.code, 'NOT_LEADER');
  assert.ok(answered.message.includes(STRAY_QUERY_MESSAGE), answered.message);
  assert.ok(answered.ms < REQUEST_TIMEOUT_MS, `answered after ${answered.ms} ms`);

  const plain = await Session.open(new Config(zenoh.router.url, 2000));
  t.after(() => closeSession(plain, 2000));
  await handlerless(plain, 'stray-plain/**');
  const dropped = await outcome((await client(t, 'stray-plain')).put('alice', 'x'));
  t.diagnostic(`zenoh-ts alone: ${dropped.code} after ${dropped.ms} ms`);
  assert.equal(dropped.code, 'TIMEOUT');
});

test('queries still reach the handlers a session holds', async (t) => {
  const ours = await openSession(zenoh.router.url, { timeoutMs: 5000, requestTimeoutMs: 2000 });
  t.after(() => closeSession(ours, 2000));
  let asked = 0;
  await ours.declareQueryable('held/**', {
    complete: true,
    handler: (q: Query) => {
      asked++;
      void q.replyErr(JSON.stringify({ code: 'BUSY', message: 'held' })).then(() => q.finalize());
    },
  });
  const r = await outcome((await client(t, 'held')).put('alice', 'x'));
  assert.equal(r.code, 'BUSY');
  assert.ok(asked >= 1);
});

test('an undeclared queryable keeps its handler for the grace period, then drops it', async (t) => {
  const ours = await openSession(zenoh.router.url, { timeoutMs: 5000, requestTimeoutMs: 2000 });
  t.after(() => closeSession(ours, 2000));
  let asked = 0;
  const q = await ours.declareQueryable('late/**', {
    complete: true,
    handler: (query: Query) => {
      asked++;
      void query.finalize();
    },
  });
  const { id, session: inner } = q as unknown as { id: unknown; session: { queryables: Map<unknown, unknown> } };
  await undeclareAnswering(q);
  assert.ok(inner.queryables.has(id), 'the handler stays after the undeclare');
  await new Promise((r) => setTimeout(r, LATE_QUERY_GRACE_MS + 200));
  assert.ok(!inner.queryables.has(id), 'and goes after the grace period');
  assert.equal(asked, 0);
});

test('a session laid out otherwise is left alone', () => {
  assert.equal(answerStrayQueries({} as Session), false);
  assert.equal(answerStrayQueries({ inner: { queryables: {} } } as unknown as Session), false);
});
