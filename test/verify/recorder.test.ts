import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MailboxClientError } from '../../src/bridge/client.js';
import { type ConsumeOp, HistoryWriter, readHistory } from '../../src/verify/history.js';
import { HistoryRecorder } from '../../src/verify/recorder.js';

const dir = mkdtempSync(join(tmpdir(), 'forge-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('outcomes: only answers proving nothing happened are definite failures', async () => {
  const path = join(dir, 'h.jsonl');
  const writer = new HistoryWriter(path);
  const rec = new HistoryRecorder(writer, 200);
  const head = (process: number) => ({ op: 'len' as const, client: 'c1', process, user: 'u', input: {} });
  const ok = await rec.run(head(rec.newProcess()), async () => ({ count: 1, inFlight: 0, deadLetterCount: 0 }));
  assert.deepEqual([ok.outcome, ok.value], ['ok', { count: 1, inFlight: 0, deadLetterCount: 0 }]);
  const cases: Array<[unknown, string]> = [
    [new MailboxClientError('NOT_LEADER', 'x'), 'fail'],
    [new MailboxClientError('LEASE_EXPIRED', 'x'), 'fail'],
    [new MailboxClientError('TIMEOUT', 'x'), 'info'],
    // The leader stepped down with the proposal pending: it may still commit under the next one.
    [new MailboxClientError('LEADERSHIP_LOST', 'x'), 'info'],
    [new MailboxClientError('UNAVAILABLE', 'x'), 'info'],
    [new MailboxClientError('INTERNAL', 'x'), 'info'],
    [new Error('socket closed'), 'info'],
  ];
  for (const [error, outcome] of cases) {
    const r = await rec.run(head(rec.newProcess()), () => Promise.reject(error));
    assert.equal(r.outcome, outcome, String(error));
  }
  // A call that never settles is indeterminate once the runner's deadline passes.
  const hung = await rec.run(head(rec.newProcess()), () => new Promise<never>(() => {}));
  assert.deepEqual([hung.outcome, hung.error], ['info', 'TIMEOUT']);
  // An answer no server may give (a consume with no delivery) is kept as info and reported.
  const bad = await rec.run(
    { op: 'consume', client: 'c1', process: rec.newProcess(), user: 'u', input: {} },
    async () => ({ message: { msgId: 'm1', seq: 1, bodyHash: 'aabbccdd', deliveries: 0 } }),
  );
  assert.equal(bad.outcome, 'info');
  assert.equal(rec.malformed.length, 1);
  rec.nemesis('kill', 'n1');
  writer.close();

  const h = await readHistory(path);
  assert.equal(h.ops.length, 10);
  assert.deepEqual(
    h.ops.map((o) => o.outcome),
    ['ok', 'fail', 'fail', 'info', 'info', 'info', 'info', 'info', 'info', 'info'],
  );
  assert.ok(h.ops.every((o) => o.return !== null && o.return >= o.call));
  assert.deepEqual(rec.counts(), { len: { ok: 1, fail: 2, info: 6 }, consume: { ok: 0, fail: 0, info: 1 } });
  assert.deepEqual(rec.unansweredCounts(), {
    len: { TIMEOUT: 2, LEADERSHIP_LOST: 1, UNAVAILABLE: 1, INTERNAL: 1, CLIENT_ERROR: 1 },
    consume: { MALFORMED_REPLY: 1 },
  });
  assert.deepEqual(h.nemesis.map((n) => [n.action, n.target]), [['kill', 'n1']]);
});

test('a batch call is one op per message: its interval, batch size and index, the ops after the first on processes of their own', async () => {
  const path = join(dir, 'batch.jsonl');
  const writer = new HistoryWriter(path);
  const rec = new HistoryRecorder(writer, 200);
  // A worker's process for each call (after an indeterminate one it would take a new one anyway).
  const workers: number[] = [];
  const worker = (i: number) => (i === 0 ? workers[workers.push(rec.newProcess()) - 1]! : workers[workers.length - 1]!);
  const put = (msgId: string, i: number) => ({ op: 'put' as const, client: 'c1', process: worker(i), user: 'u', input: { msgId, bodyHash: 'aabbccdd' } });
  const consume = (i: number) => ({ op: 'consume' as const, client: 'c1', process: worker(i), user: 'u', input: { requestId: `r1#${i}` } });
  const msg = (msgId: string, seq: number) => ({ msgId, seq, bodyHash: 'aabbccdd', deliveries: 1 });

  const puts = await rec.runBatch(['a', 'b', 'c'].map(put), async () => [
    { msgId: 'a', seq: 1, duplicate: false },
    { msgId: 'b', seq: 2, duplicate: false },
    { msgId: 'c', seq: 3, duplicate: false },
  ]);
  assert.equal(puts.outcome, 'ok');
  // Two messages brought by a batch of four: two ops; an empty batch: one op; a lost one: four.
  const two = await rec.runBatch<ConsumeOp>([0, 1, 2, 3].map(consume), async () => [{ message: msg('a', 1) }, { message: msg('b', 2) }]);
  assert.deepEqual(two.value?.map((v) => v.message?.msgId), ['a', 'b']);
  await rec.runBatch([0, 1].map(consume), async () => [{ message: null }]);
  const lost = await rec.runBatch([0, 1, 2, 3].map(consume), () => Promise.reject(new MailboxClientError('TIMEOUT', 'x')));
  assert.equal(lost.outcome, 'info');
  const refused = await rec.runBatch(['d', 'e'].map(put), () => Promise.reject(new MailboxClientError('TOO_LARGE', 'x')));
  assert.equal(refused.outcome, 'fail');
  // A put batch answered for fewer messages than it held cannot be: malformed, every op indeterminate.
  const short = await rec.runBatch(['f', 'g'].map(put), async () => [{ msgId: 'f', seq: 4, duplicate: false }]);
  assert.equal(short.outcome, 'info');
  assert.equal(rec.malformed.length, 1);
  writer.close();

  const h = await readHistory(path);
  const sizes = [3, 2, 1, 4, 2, 2];
  assert.equal(h.ops.length, sizes.reduce((a, b) => a + b));
  let at = 0;
  for (const [k, size] of sizes.entries()) {
    const ops = h.ops.slice(at, at + size);
    at += size;
    assert.ok(ops.every((o) => o.call === ops[0]!.call && o.return === ops[0]!.return), 'one interval');
    assert.equal(ops[0]!.process, workers[k], 'the first keeps the worker process');
    assert.equal(new Set(ops.map((o) => o.process)).size, size, 'the others have their own');
    ops.forEach((o, i) => assert.deepEqual((o.input as { batch?: unknown }).batch, { size: (o.input as { batch: { size: number } }).batch.size, index: i }));
  }
  assert.deepEqual(h.ops.slice(3, 5).map((o) => (o.input as { requestId?: string }).requestId), ['r1#0', 'r1#1']);
  assert.deepEqual(h.ops.slice(6, 10).map((o) => o.outcome), ['info', 'info', 'info', 'info']);
  assert.deepEqual(rec.batchCounts(), { put: { ok: 1, fail: 1, info: 1 }, consume: { ok: 2, fail: 0, info: 1 } });
  assert.deepEqual(rec.counts(), { put: { ok: 3, fail: 2, info: 2 }, consume: { ok: 3, fail: 0, info: 4 } });
  assert.deepEqual(rec.unansweredCounts(), { 'consume batch': { TIMEOUT: 4 }, 'put batch': { MALFORMED_REPLY: 2 } });
});

test('an indeterminate batch consume with a request id is held back until an attempt with it is answered, then recorded as long as that answer', async () => {
  const path = join(dir, 'held.jsonl');
  const writer = new HistoryWriter(path);
  const rec = new HistoryRecorder(writer, 200);
  const heads = (rid: string) => {
    const p = rec.newProcess();
    return [0, 1, 2, 3].map((i) => ({ op: 'consume' as const, client: 'c1', process: p, user: 'u', input: { requestId: `${rid}#${i}` } }));
  };
  const msg = (msgId: string, seq: number) => ({ message: { msgId, seq, bodyHash: 'aabbccdd', deliveries: 1 } });
  const lost = () => Promise.reject(new MailboxClientError('TIMEOUT', 'x'));
  // r1: two lost attempts, then one answered with two messages: every attempt is two ops.
  assert.equal((await rec.runBatch<ConsumeOp>(heads('r1'), lost, 'r1')).outcome, 'info');
  assert.equal((await rec.runBatch<ConsumeOp>(heads('r1'), lost, 'r1')).outcome, 'info');
  const answered = await rec.runBatch<ConsumeOp>(heads('r1'), async () => [msg('a', 1), msg('b', 2)], 'r1');
  assert.equal(answered.outcome, 'ok');
  // r2: lost, never answered: all four, once flushed.
  await rec.runBatch<ConsumeOp>(heads('r2'), lost, 'r2');
  rec.flush();
  writer.close();

  const h = await readHistory(path);
  const of = (rid: string) => h.ops.filter((o) => (o.input as { requestId?: string }).requestId?.startsWith(`${rid}#`));
  assert.deepEqual(of('r1').map((o) => [o.outcome, (o.input as { requestId: string }).requestId]), [
    ['info', 'r1#0'], ['info', 'r1#1'], ['info', 'r1#0'], ['info', 'r1#1'], ['ok', 'r1#0'], ['ok', 'r1#1'],
  ]);
  assert.equal(of('r2').length, 4);
  assert.ok(of('r2').every((o) => o.outcome === 'info'));
});
