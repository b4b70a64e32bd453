// Authorization in the bridge, against the real router with zenoh-ts clients: every request is
// checked against its capability token before anything reaches the service (what a Raft leader
// would propose), and refusals are typed (UNAUTHORIZED / FORBIDDEN).

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import '../../src/bridge/websocket-polyfill.js';
import { Config, Session, type Reply } from '@eclipse-zenoh/zenoh-ts';
import { generateSigningKey } from '../../src/auth/key-files.js';
import { TokenVerifier, issueToken } from '../../src/auth/tokens.js';
import type { Operation } from '../../src/auth/capability.js';
import type { AdminOp } from '../../src/bridge/cluster-admin.js';
import { ForgeMailboxClient, MailboxClientError } from '../../src/bridge/client.js';
import type { LoggerPort } from '../../src/logger-port.js';
import { InMemoryMailboxService } from '../support/in-memory-mailbox-service.js';
import { startBridge, useRouter } from '../support/e2e.js';

const zenoh = useRouter();
const CLUSTER = 'auth-test';
const key = await generateSigningKey();
const other = await generateSigningKey();
const verifier = () => new TokenVerifier({ jwks: { keys: [key.publicKey] }, audience: CLUSTER });

const token = (principal: string, users: string[], ops: Operation[], over: { ttlSeconds?: number; now?: () => number; signingKey?: typeof key.signingKey } = {}) =>
  issueToken({ signingKey: over.signingKey ?? key.signingKey, audience: CLUSTER, principal, users, ops, ttlSeconds: over.ttlSeconds ?? 600, ...(over.now ? { now: over.now } : {}) });

class LineLogger implements LoggerPort {
  readonly lines: string[] = [];
  debug(o: object, m: string) { this.lines.push(`${JSON.stringify(o)} ${m}`); }
  info(o: object, m: string) { this.lines.push(`${JSON.stringify(o)} ${m}`); }
  warn(o: object, m: string) { this.lines.push(`${JSON.stringify(o)} ${m}`); }
  error(o: object, m: string) { this.lines.push(`${JSON.stringify(o)} ${m}`); }
}

async function serve(t: TestContext, onAnswered?: () => void) {
  const service = new InMemoryMailboxService('n1', { leader: true });
  const logger = new LineLogger();
  // Admin calls are recorded: a refused one must never get here.
  const adminCalls: AdminOp[] = [];
  const admin = { admin: async (op: AdminOp) => (adminCalls.push(op), { voters: ['n1'], learners: [] }) };
  await startBridge(zenoh.router.url, service, { verifier: verifier(), logger, admin, ...(onAnswered === undefined ? {} : { onAnswered }) }, t);
  return { service, logger, adminCalls };
}

async function client(t: TestContext, tok?: string): Promise<ForgeMailboxClient> {
  const c = await ForgeMailboxClient.open(zenoh.router.url, { requestTimeoutMs: 5000, ...(tok === undefined ? {} : { token: tok }) });
  t.after(() => c.close());
  return c;
}

async function refused(p: Promise<unknown>, code: 'UNAUTHORIZED' | 'FORBIDDEN', reason: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof MailboxClientError && e.code === code && reason.test(e.message));
}

test('without a token nothing is served and nothing reaches the service', async (t) => {
  const { service, logger, adminCalls } = await serve(t);
  const anon = await client(t);
  await refused(anon.put('alice', 'x'), 'UNAUTHORIZED', /no token/);
  await refused(anon.consume('alice'), 'UNAUTHORIZED', /no token/);
  await refused(anon.peek('alice'), 'UNAUTHORIZED', /no token/);
  await refused(anon.purge('alice'), 'UNAUTHORIZED', /no token/);
  await refused(anon.status(), 'UNAUTHORIZED', /no token/);
  await refused(anon.removeNode('n2'), 'UNAUTHORIZED', /no token/);
  await anon.publish('alice', 'fire and forget');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(service.commands, [], 'nothing was proposed');
  assert.deepEqual(adminCalls, [], 'no membership change was attempted');
  assert.ok(logger.lines.some((l) => /dropped Zenoh PUT: UNAUTHORIZED/.test(l)), 'the dropped PUT is logged');
});

test("alice's token reaches alice's mailbox only, and only for what it grants", async (t) => {
  const { service, adminCalls } = await serve(t);
  const producer = await client(t, await token('svc', ['*'], ['put']));
  await producer.put('alice', 'for alice');
  await producer.put('bob', 'for bob');
  const alice = await client(t, await token('alice-app', ['alice'], ['consume', 'peek', 'ack']));
  assert.equal(new TextDecoder().decode((await alice.peek('alice'))!.body), 'for alice');
  await refused(alice.consume('bob'), 'FORBIDDEN', /mailbox bob/);
  await refused(alice.peek('bob'), 'FORBIDDEN', /mailbox bob/);
  await refused(alice.len('bob'), 'FORBIDDEN', /mailbox bob/);
  await refused(alice.ack('bob', '1.1'), 'FORBIDDEN', /mailbox bob/);
  await refused(alice.purge('alice'), 'FORBIDDEN', /may not purge/);
  await refused(alice.put('alice', 'self'), 'FORBIDDEN', /may not put/);
  await refused(alice.removeNode('n2'), 'FORBIDDEN', /may not admin/);
  await refused(alice.status(), 'FORBIDDEN', /may not status/);
  const leased = await alice.consume('alice', { leaseMs: 30_000 });
  await alice.ack('alice', leased!.receipt!);
  await refused(producer.consume('bob'), 'FORBIDDEN', /may not consume/);
  assert.deepEqual(
    service.commands.map((c) => `${c.op}:${'user' in c ? c.user : ''}`),
    ['put:alice', 'put:bob', 'consume:alice', 'ack:alice'],
    'only the allowed requests reached the service',
  );
  assert.deepEqual(adminCalls, []);
  const ops = await client(t, await token('operator', ['*'], ['admin', 'peek']));
  assert.equal((await ops.len('bob')).count, 1, "bob's message is untouched");
  await ops.status();
  await ops.removeNode('n2');
  assert.deepEqual(adminCalls, [{ op: 'removeNode', node: 'n2' }], 'the operator token administers');
});

test('expired, forged, foreign-cluster and tampered tokens are UNAUTHORIZED', async (t) => {
  const { service } = await serve(t);
  const expired = await client(t, await token('alice-app', ['alice'], ['consume'], { now: () => Date.now() - 3600_000 }));
  await refused(expired.consume('alice'), 'UNAUTHORIZED', /expired/);
  const forged = await client(t, await token('alice-app', ['alice'], ['consume'], { signingKey: { ...other.signingKey, kid: key.signingKey.kid! } }));
  await refused(forged.consume('alice'), 'UNAUTHORIZED', /signature/);
  const unknownKey = await client(t, await token('alice-app', ['alice'], ['consume'], { signingKey: other.signingKey }));
  await refused(unknownKey.consume('alice'), 'UNAUTHORIZED', /unknown key/);
  const foreign = await client(t, await issueToken({ signingKey: key.signingKey, audience: 'another-cluster', principal: 'a', users: ['*'], ops: ['consume'], ttlSeconds: 60 }));
  await refused(foreign.consume('alice'), 'UNAUTHORIZED', /aud/);
  const [h, p, s] = (await token('alice-app', ['alice'], ['consume'])).split('.');
  const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), mbx: { users: ['*'], ops: ['consume', 'purge'] } })).toString('base64url');
  const tampered = await client(t, `${h}.${widened}.${s}`);
  await refused(tampered.purge('bob'), 'UNAUTHORIZED', /signature/);
  assert.deepEqual(service.commands, []);
});

test('a malformed attachment is BAD_REQUEST; the refusal log never holds the token', async (t) => {
  const { service, logger } = await serve(t);
  const session = await Session.open(new Config(zenoh.router.url, 2000));
  t.after(() => session.close());
  const replies: string[] = [];
  await new Promise<void>((resolve) => {
    void session.get('forge/mailbox/alice', {
      attachment: 'not json',
      handler: [(r: Reply) => { const res = r.result(); if ('payload' in res) replies.push(new TextDecoder().decode(res.payload().toBytes())); }, () => resolve()],
    });
  });
  assert.equal(replies.length, 1);
  assert.equal(JSON.parse(replies[0]!).code, 'BAD_REQUEST');
  const secret = await token('alice-app', ['alice'], ['consume']);
  const alice = await client(t, secret);
  await refused(alice.consume('bob', { requestId: 'r-77' }), 'FORBIDDEN', /mailbox bob/);
  const refusal = logger.lines.find((l) => /FORBIDDEN/.test(l));
  assert.ok(refusal, 'the refusal is logged');
  assert.match(refusal, /r-77/, "the refusal names the request by the client's request id");
  assert.ok(!logger.lines.some((l) => l.includes(secret.split('.')[2]!)), 'no log line holds the token');
  assert.deepEqual(service.commands, []);
});

test('puts made together go as one @puts query, each authorized on its own: a mailbox the token does not grant is refused alone', async (t) => {
  let queries = 0;
  const { service } = await serve(t, () => queries++);
  const producer = await client(t, await token('svc', ['alice', 'bob'], ['put']));
  const outcomes = await Promise.allSettled([
    producer.put('alice', 'a1'),
    producer.put('carol', 'not granted'),
    producer.put('bob', 'b1', { id: 'dup' }),
    producer.put('alice', 'a2', { ttlMs: 60_000 }),
    producer.put('bob', 'b1 again', { id: 'dup' }),
  ]);
  assert.equal(queries, 1, 'five puts, one query');
  const [a1, carol, b1, a2, again] = outcomes;
  assert.ok(a1.status === 'fulfilled' && a2.status === 'fulfilled' && b1.status === 'fulfilled' && again.status === 'fulfilled');
  assert.ok(a1.value.seq < b1.value.seq && b1.value.seq < a2.value.seq, 'proposed in the order they were made');
  assert.deepEqual(again.value, { ...b1.value, duplicate: true }, 'the same id twice: one message');
  assert.ok(carol.status === 'rejected' && carol.reason instanceof MailboxClientError && carol.reason.code === 'FORBIDDEN' && /mailbox carol/.test(carol.reason.message));
  assert.deepEqual(
    service.commands.map((c) => (c.op === 'put' ? `${c.user} ${c.principal}` : c.op)),
    ['alice svc', 'bob svc', 'alice svc', 'bob svc'],
    'carol\'s put never reached the service',
  );
  // A put the service refuses is refused alone too.
  service.failNext('BACKLOG_FULL');
  const next = await Promise.allSettled([producer.put('alice', 'a3'), producer.put('bob', 'b2')]);
  assert.deepEqual(next.map((r) => (r.status === 'rejected' && r.reason instanceof MailboxClientError ? r.reason.code : r.status)), ['BACKLOG_FULL', 'fulfilled']);
  assert.equal(queries, 2);

  // Without a token the whole query is refused, and each put with it.
  const anon = await client(t);
  const refusedAll = await Promise.allSettled([anon.put('alice', 'x'), anon.put('bob', 'y')]);
  assert.deepEqual(refusedAll.map((r) => (r.status === 'rejected' && r.reason instanceof MailboxClientError ? r.reason.code : r.status)), ['UNAUTHORIZED', 'UNAUTHORIZED']);
  assert.equal(service.commands.length, 5, 'nothing more was proposed');
});

test('consumes made together go as one @consumes query, each authorized on its own: a mailbox the token does not grant is refused alone', async (t) => {
  let queries = 0;
  const { service } = await serve(t, () => queries++);
  const producer = await client(t, await token('svc', ['*'], ['put']));
  await producer.put('alice', 'a1');
  await producer.put('alice', 'a2');
  await producer.put('bob', 'b1');
  await producer.put('carol', 'c1');
  const before = queries;
  const reader = await client(t, await token('reader', ['alice', 'bob', 'dave'], ['consume', 'ack']));
  const outcomes = await Promise.allSettled([
    reader.consume('alice'),
    reader.consume('carol'),
    reader.consume('bob', { leaseMs: 30_000 }),
    reader.consume('alice', { requestId: 'r-1' }),
    reader.consume('dave'),
  ]);
  assert.equal(queries - before, 1, 'five consumes, one query');
  const text = (m: unknown) => (m === null ? null : new TextDecoder().decode((m as { body: Uint8Array }).body));
  assert.deepEqual(
    outcomes.map((o) => (o.status === 'fulfilled' ? text(o.value) : o.reason instanceof MailboxClientError ? o.reason.code : String(o.reason))),
    ['a1', 'FORBIDDEN', 'b1', 'a2', null],
    'in the order they were made; an empty mailbox is null',
  );
  const leased = (outcomes[2] as PromiseFulfilledResult<{ receipt?: string } | null>).value;
  assert.ok(leased?.receipt !== undefined, 'a leased consume has its receipt');
  await reader.ack('bob', leased.receipt);
  // The request id is remembered: the same rid again gets the very same message.
  assert.equal(text(await reader.consume('alice', { requestId: 'r-1' })), 'a2');
  assert.ok(!service.commands.some((c) => c.op === 'consume' && c.user === 'carol'), "carol's consume never reached the service");
  const carol = await service.query({ op: 'len', user: 'carol' });
  assert.ok(carol.kind === 'stats' && carol.stats.count === 1, "carol's message is still there");
});

test('a @puts query with a bad framing is refused whole, before anything is proposed', async (t) => {
  const { service } = await serve(t);
  const session = await Session.open(new Config(zenoh.router.url, 2000));
  t.after(() => session.close());
  const errors: string[] = [];
  await new Promise<void>((resolve) => {
    void session.get('forge/mailbox/@puts', {
      payload: Uint8Array.from([1, 2, 0, 0, 1, 0, 97, 0, 0, 0, 0]),
      attachment: JSON.stringify({ token: 'x' }),
      handler: [(r: Reply) => { const res = r.result(); if ('payload' in res) errors.push(new TextDecoder().decode(res.payload().toBytes())); }, () => resolve()],
    });
  });
  assert.deepEqual(errors.map((e) => JSON.parse(e).code), ['UNAUTHORIZED'], 'the token is checked first');
  const secret = await token('svc', ['*'], ['put']);
  errors.length = 0;
  await new Promise<void>((resolve) => {
    void session.get('forge/mailbox/@puts', {
      // Two messages announced, one sent.
      payload: Uint8Array.from([1, 2, 0, 0, 1, 0, 97, 0, 0, 0, 0]),
      attachment: JSON.stringify({ token: secret }),
      handler: [(r: Reply) => { const res = r.result(); if ('payload' in res) errors.push(new TextDecoder().decode(res.payload().toBytes())); }, () => resolve()],
    });
  });
  assert.equal(errors.length, 1);
  assert.equal(JSON.parse(errors[0]!).code, 'BAD_REQUEST');
  assert.match(JSON.parse(errors[0]!).message, /@puts payload/);
  assert.deepEqual(service.commands, [], 'nothing was proposed');
});

test("bob's principal reusing alice's put id enqueues its own message; each retry gets its own first result", async (t) => {
  const { service } = await serve(t);
  const alice = await client(t, await token('alice-app', ['shared'], ['put', 'consume']));
  const bob = await client(t, await token('bob-app', ['shared'], ['put']));
  const first = await alice.put('shared', 'from alice', { id: 'n-1' });
  const squat = await bob.put('shared', 'from bob', { id: 'n-1' });
  assert.equal(squat.duplicate, false, "bob's put is not taken for a repeat of alice's");
  assert.notEqual(squat.seq, first.seq);
  assert.deepEqual(await alice.put('shared', 'again', { id: 'n-1' }), { ...first, duplicate: true });
  assert.deepEqual(await bob.put('shared', 'again', { id: 'n-1' }), { ...squat, duplicate: true });
  // A fire-and-forget PUT is remembered under its sender too: bob's repeat adds nothing, carol's id is hers.
  const carol = await client(t, await token('carol-app', ['shared'], ['put']));
  await bob.publish('shared', 'bob, fire and forget', { id: 'n-1' });
  await carol.publish('shared', 'from carol', { id: 'n-1' });
  for (let i = 0; i < 250 && service.commands.length < 6; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    service.commands.map((c) => (c.op === 'put' ? c.principal : c.op)),
    ['alice-app', 'bob-app', 'alice-app', 'bob-app', 'bob-app', 'carol-app'],
    'every put carries the principal its token names',
  );
  const got: string[] = [];
  for (let m = await alice.consume('shared'); m !== null; m = await alice.consume('shared')) got.push(`${m.id} ${new TextDecoder().decode(m.body)}`);
  assert.deepEqual(got, ['n-1 from alice', 'n-1 from bob', 'n-1 from carol'], 'consumers see the plain client id');
});

test("a guessed receipt is UNKNOWN_RECEIPT, and a request id replays only its own principal's result", async (t) => {
  await serve(t);
  const producer = await client(t, await token('svc', ['*'], ['put']));
  await producer.put('alice', 'one');
  await producer.put('alice', 'two');
  const alice = await client(t, await token('alice-app', ['alice'], ['consume', 'ack']));
  const mallory = await client(t, await token('mallory', ['alice'], ['consume', 'ack']));
  const leased = (await alice.consume('alice', { leaseMs: 30_000, requestId: 'rq-1' }))!;
  assert.match(leased.receipt!, /^1\.1\.[A-Za-z0-9_-]{16}$/);
  const refusedAck = (p: Promise<unknown>) => assert.rejects(p, (e: unknown) => e instanceof MailboxClientError && e.code === 'UNKNOWN_RECEIPT');
  await refusedAck(mallory.ack('alice', '1.1'));
  await refusedAck(mallory.ack('alice', `1.1.${'A'.repeat(16)}`));
  // Mallory's retry with alice's request id takes her own message, not a replay of alice's lease.
  const own = (await mallory.consume('alice', { leaseMs: 30_000, requestId: 'rq-1' }))!;
  assert.equal(new TextDecoder().decode(own.body), 'two');
  const replay = (await alice.consume('alice', { leaseMs: 30_000, requestId: 'rq-1' }))!;
  assert.equal(replay.receipt, leased.receipt, "alice's retry replays her first result");
  await alice.ack('alice', leased.receipt!);
  await mallory.ack('alice', own.receipt!);
});
