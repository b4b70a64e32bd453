// MailboxClient's retry and hedge policy over a fake transport: which errors are retried for which
// operation, that every attempt carries the same id, that a hedge fires only after its delay and the
// first ok answer wins, that the deadline holds, and the UNKNOWN_RECEIPT note.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { MailboxClientError, type ClientErrorCode } from '../../src/bridge/client.js';
import type { BatchPutMessage, ConsumeOptions, PutOptions } from '../../src/bridge/client.js';
import { MailboxClient, type MailboxTransport } from '../../src/bridge/mailbox-client.js';
import type { DeliveredMessage } from '../../src/mailbox/commands.js';

/** One scripted answer per attempt: an error code, 'hang' (never answers), or ok after `delayMs`. */
type Step = ClientErrorCode | 'hang' | { okAfterMs: number };

class FakeTransport implements MailboxTransport {
  readonly calls: Array<{ op: string; options: unknown; at: number }> = [];
  private readonly started = Date.now();
  constructor(private readonly steps: Step[]) {}

  private answer<T>(op: string, options: unknown, value: T): Promise<T> {
    this.calls.push({ op, options, at: Date.now() - this.started });
    const step = this.steps.shift() ?? { okAfterMs: 0 };
    if (step === 'hang') return new Promise(() => {});
    if (typeof step === 'string') return Promise.reject(new MailboxClientError(step, `fake ${step}`));
    return new Promise((resolve) => setTimeout(() => resolve(value), step.okAfterMs));
  }
  put(_user: string, _body: unknown, options: PutOptions) {
    return this.answer('put', options, { id: options.id ?? '?', seq: this.calls.length, duplicate: false });
  }
  consume(_user: string, options: ConsumeOptions) {
    const m: DeliveredMessage = { id: 'm', seq: 1, body: new Uint8Array(), enqueuedAt: 0, expiresAt: 0, deliveries: 1 };
    return this.answer('consume', options, options.leaseMs === undefined ? m : { ...m, receipt: 'r1', leaseExpiresAt: 1 });
  }
  consumeBatch(_user: string, max: number, options: ConsumeOptions) {
    const m: DeliveredMessage = { id: 'm', seq: 1, body: new Uint8Array(), enqueuedAt: 0, expiresAt: 0, deliveries: 1 };
    const lease = options.leaseMs === undefined ? {} : { receipt: 'r1', leaseExpiresAt: 1 };
    return this.answer('consumeBatch', { ...options, max }, [{ ...m, ...lease }]);
  }
  putBatch(_user: string, messages: readonly BatchPutMessage[]) {
    return this.answer('putBatch', messages.map((m) => m.id), messages.map((m, i) => ({ id: m.id ?? '?', seq: i + 1, duplicate: false })));
  }
  peek() {
    return this.answer('peek', {}, null);
  }
  len() {
    return this.answer('len', {}, { count: 0, bytes: 0, oldestAgeMs: 0, inFlight: 0, deadLetterCount: 0 });
  }
  ack(_user: string, receipt: string) {
    return this.answer('ack', { receipt }, undefined);
  }
  nack(_user: string, receipt: string, options: { delayMs?: number } = {}) {
    return this.answer('nack', { receipt, ...options }, undefined);
  }
  touch(_user: string, receipt: string, leaseMs: number) {
    return this.answer('touch', { receipt, leaseMs }, undefined);
  }
  purge() {
    return this.answer('purge', {}, 0);
  }
  redrive(_user: string, options: { max?: number }) {
    return this.answer('redrive', options, 2);
  }
  async close() {}
}

const FAST = { backoffMs: 5, backoffMaxMs: 20, hedgeDelayMs: 200, hedgeGrowth: 2, maxInFlight: 3 };
const code = (c: ClientErrorCode) => (e: unknown) => e instanceof MailboxClientError && e.code === c;

test('put retries every retryable error with the same generated id', async () => {
  const fake = new FakeTransport(['NOT_LEADER', 'TIMEOUT', 'LEADERSHIP_LOST', 'ROUTER_LOST', 'UNAVAILABLE', 'BUSY', 'BACKLOG_FULL', { okAfterMs: 0 }]);
  const client = MailboxClient.over(fake, { retry: FAST });
  const result = await client.put('u', 'x');
  assert.equal(fake.calls.length, 8);
  const ids = new Set(fake.calls.map((c) => (c.options as PutOptions).id));
  assert.equal(ids.size, 1, 'one id on every attempt');
  assert.match([...ids][0]!, /^[0-9a-f-]{36}$/);
  assert.equal(result.id, [...ids][0]);
});

test('the caller id is kept; a non-retryable error surfaces at once', async () => {
  for (const c of ['UNAUTHORIZED', 'FORBIDDEN', 'BAD_REQUEST', 'TOO_LARGE', 'MAILBOX_FULL', 'QUOTA_EXCEEDED', 'NOSPACE', 'INTERNAL'] as const) {
    const fake = new FakeTransport([c]);
    await assert.rejects(MailboxClient.over(fake, { retry: FAST }).put('u', 'x', { id: 'mine' }), code(c));
    assert.deepEqual(fake.calls.map((x) => (x.options as PutOptions).id), ['mine'], c);
  }
});

test('consume carries a rid and is retried after an outcome-unknown error with that rid', async () => {
  const fake = new FakeTransport(['TIMEOUT', 'ROUTER_LOST', { okAfterMs: 0 }]);
  assert.equal((await MailboxClient.over(fake, { retry: FAST }).consume('u'))?.id, 'm');
  const rids = fake.calls.map((c) => (c.options as ConsumeOptions).requestId);
  assert.equal(rids.length, 3);
  assert.equal(new Set(rids).size, 1);
  assert.ok(rids[0] !== undefined);
});

test('consume without request ids is at most once: refusals retried, outcome-unknown errors thrown', async () => {
  const fake = new FakeTransport(['NOT_LEADER', 'BUSY', 'TIMEOUT']);
  await assert.rejects(MailboxClient.over(fake, { retry: FAST, requestIds: false }).consume('u'), code('TIMEOUT'));
  assert.equal(fake.calls.length, 3);
  assert.equal((fake.calls[0]!.options as ConsumeOptions).requestId, undefined);
});

test('receive is retried without a rid after outcome-unknown errors, and is never hedged', async () => {
  const fake = new FakeTransport(['LEADERSHIP_LOST', { okAfterMs: 500 }]);
  const m = await MailboxClient.over(fake, { retry: FAST }).receive('u', { leaseMs: 1000 });
  assert.equal(m?.receipt, 'r1');
  assert.equal(fake.calls.length, 2, 'no hedge during the 500 ms wait');
  assert.equal((fake.calls[1]!.options as ConsumeOptions).requestId, undefined);
});

test('a silent attempt is hedged after the delay, with the same id, and the first ok wins', async () => {
  const fake = new FakeTransport(['hang', { okAfterMs: 0 }]);
  const started = Date.now();
  const result = await MailboxClient.over(fake, { retry: FAST }).put('u', 'x', { id: 'h1' });
  const took = Date.now() - started;
  assert.equal(result.id, 'h1');
  assert.equal(fake.calls.length, 2);
  assert.ok(fake.calls[1]!.at >= 190, `hedge sent at ${fake.calls[1]!.at} ms, before its 200 ms delay`);
  assert.ok(took < 1000, `took ${took} ms`);
  assert.deepEqual(fake.calls.map((c) => (c.options as PutOptions).id), ['h1', 'h1']);
});

test('hedges grow their delay and stay within maxInFlight', async () => {
  const fake = new FakeTransport(['hang', 'hang', 'hang', 'hang']);
  await assert.rejects(MailboxClient.over(fake, { retry: FAST, requestTimeoutMs: 1500 }).len('u'), code('TIMEOUT'));
  // 200 ms, then 400 ms later (600), then the in-flight bound (3) stops the 800 ms one.
  assert.equal(fake.calls.length, 3);
  assert.ok(fake.calls[2]!.at >= 580, `third attempt at ${fake.calls[2]!.at} ms`);
});

test('a long poll is not hedged, and gets its wait on top of the deadline', async () => {
  const fake = new FakeTransport([{ okAfterMs: 700 }]);
  const m = await MailboxClient.over(fake, { retry: FAST, requestTimeoutMs: 300 }).consume('u', { waitMs: 600 });
  assert.equal(m?.id, 'm');
  assert.equal(fake.calls.length, 1);
});

test('the deadline ends retries with TIMEOUT naming the last error', async () => {
  const fake = new FakeTransport(Array<Step>(10_000).fill('NOT_LEADER'));
  const started = Date.now();
  await assert.rejects(
    MailboxClient.over(fake, { retry: FAST, requestTimeoutMs: 400 }).put('u', 'x'),
    (e: unknown) => e instanceof MailboxClientError && e.code === 'TIMEOUT' && /NOT_LEADER/.test(e.message),
  );
  const took = Date.now() - started;
  assert.ok(took >= 390 && took < 700, `took ${took} ms`);
  assert.ok(fake.calls.length > 5);
});

test('UNKNOWN_RECEIPT after an attempt of unknown outcome says it may have been settled', async () => {
  const fake = new FakeTransport(['TIMEOUT', 'UNKNOWN_RECEIPT']);
  await assert.rejects(
    MailboxClient.over(fake, { retry: FAST }).ack('u', 'r1'),
    (e: unknown) => e instanceof MailboxClientError && e.code === 'UNKNOWN_RECEIPT' && /may have settled it/.test(e.message),
  );
  const plain = new FakeTransport(['UNKNOWN_RECEIPT']);
  await assert.rejects(
    MailboxClient.over(plain, { retry: FAST }).nack('u', 'r1'),
    (e: unknown) => e instanceof MailboxClientError && e.code === 'UNKNOWN_RECEIPT' && !/may have/.test(e.message),
  );
});

test('a hedged ack that the first attempt settles: the first ok wins over the hedge UNKNOWN_RECEIPT', async () => {
  const fake = new FakeTransport([{ okAfterMs: 300 }, 'UNKNOWN_RECEIPT']);
  await MailboxClient.over(fake, { retry: FAST }).ack('u', 'r1');
  assert.equal(fake.calls.length, 2);
});

test('messages() retries transient errors, throws a lasting refusal, and ends on abort', async () => {
  const fake = new FakeTransport(['NOT_LEADER', 'ROUTER_LOST', { okAfterMs: 0 }, { okAfterMs: 0 }, 'FORBIDDEN']);
  const client = MailboxClient.over(fake, { retry: FAST });
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const m of client.messages('u', { waitMs: 100, leaseMs: 1000 })) {
      seen.push(m.receipt);
      await m.ack();
    }
  }, code('FORBIDDEN'));
  assert.deepEqual(seen, ['r1']);
  assert.deepEqual(fake.calls.map((c) => c.op), ['consume', 'consume', 'consume', 'ack', 'consume']);

  const idle = new FakeTransport(Array<Step>(100).fill('hang'));
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 100);
  const started = Date.now();
  for await (const _ of MailboxClient.over(idle, { retry: FAST }).messages('u', { waitMs: 5000, signal: abort.signal })) assert.fail('no message');
  assert.ok(Date.now() - started < 1000);
});

test('close() ends a messages() loop', async () => {
  const client = MailboxClient.over(new FakeTransport(Array<Step>(100).fill('hang')), { retry: FAST });
  setTimeout(() => void client.close(), 100);
  for await (const _ of client.messages('u', { waitMs: 5000 })) assert.fail('no message');
});

test('touch and nack with a delay are retried with the same receipt; redrive with max is not retried after an unknown outcome', async () => {
  const fake = new FakeTransport(['TIMEOUT', { okAfterMs: 0 }, 'NOT_LEADER', { okAfterMs: 0 }, 'TIMEOUT']);
  const client = MailboxClient.over(fake, { retry: FAST });
  await client.touch('u', 'r1', 5000);
  await client.nack('u', 'r1', { delayMs: 300 });
  await assert.rejects(client.redrive('u', { max: 3 }), code('TIMEOUT'));
  assert.deepEqual(
    fake.calls.map((c) => [c.op, c.options]),
    [
      ['touch', { receipt: 'r1', leaseMs: 5000 }],
      ['touch', { receipt: 'r1', leaseMs: 5000 }],
      ['nack', { receipt: 'r1', delayMs: 300 }],
      ['nack', { receipt: 'r1', delayMs: 300 }],
      ['redrive', { max: 3 }],
    ],
  );
  await client.close();
});

test('putBatch gives every message an id and retries with the same ids; consumeBatch with one rid', async () => {
  const fake = new FakeTransport(['TIMEOUT', { okAfterMs: 0 }, 'ROUTER_LOST', { okAfterMs: 0 }]);
  const client = MailboxClient.over(fake, { retry: FAST });
  const puts = await client.putBatch('u', [{ body: 'a' }, { body: 'b', id: 'mine' }]);
  const [first, second] = fake.calls.map((c) => c.options as string[]);
  assert.deepEqual(first, second, 'the retry carries the same ids');
  assert.equal(first![1], 'mine');
  assert.match(first![0]!, /^[0-9a-f-]{36}$/);
  assert.deepEqual(puts.map((p) => p.id), first);
  const got = await client.consumeBatch('u', 16);
  assert.equal(got.length, 1);
  const [a, b] = fake.calls.slice(2).map((c) => c.options as ConsumeOptions & { max: number });
  assert.equal(a!.max, 16);
  assert.ok(a!.requestId !== undefined && a!.requestId === b!.requestId, 'one rid on every attempt');
});
