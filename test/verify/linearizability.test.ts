import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { MessageRecord, OpRecord } from '../../src/verify/history.js';
import {
  LinearizabilityCheckError,
  buildPorcupineChecker,
  checkLinearizability,
} from '../../src/verify/linearizability.js';
import { HistoryBuilder } from './history-builder.js';
import { MAX_DELIVERIES, USER, actionArb, batchActionArb, mailboxRun, windowArb } from './mailbox-run.js';

const dir = mkdtempSync(join(tmpdir(), 'forge-lin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function verdictOf(h: HistoryBuilder | OpRecord[]) {
  return checkLinearizability({ records: Array.isArray(h) ? h : h.ops }, { timeoutMs: 10_000 });
}

async function assertLinearizable(h: HistoryBuilder | OpRecord[]): Promise<void> {
  const v = await verdictOf(h);
  assert.equal(v.linearizable, true, JSON.stringify(v));
}

async function assertViolation(h: HistoryBuilder, user = 'alice'): Promise<number[]> {
  const v = await verdictOf(h);
  assert.equal(v.linearizable, false, JSON.stringify(v));
  assert.equal(v.timedOut, false);
  assert.equal(v.perUser[user]?.result, 'illegal', JSON.stringify(v));
  return v.perUser[user]?.stuckOps ?? [];
}

describe('Porcupine queue-model checker', () => {
  before(async () => {
    // Builds the Go checker from a clean tree if needed (CI starts from a clean clone).
    await buildPorcupineChecker();
  });

  it('accepts concurrent puts and consumes that admit a FIFO order', async () => {
    // a1 and a2 overlap, so either order is allowed by time; their sequence numbers and the
    // consumes both say a2 was committed first.
    const h = new HistoryBuilder();
    h.seqOf('a2');
    h.put('alice', 'a1', [0, 20])
      .put('alice', 'a2', [5, 15])
      .len('alice', 2, [25, 26])
      .peek('alice', 'a2', [27, 28])
      .consume('alice', 'a2', [30, 40])
      .consume('alice', 'a1', [45, 50])
      .consume('alice', null, [60, 70])
      .put('bob', 'b1', [0, 10])
      .consume('bob', 'b1', [5, 8]);
    await assertLinearizable(h);
  });

  it('reads the error text a failed or indeterminate op may carry under output.message', async () => {
    const h = new HistoryBuilder();
    h.put('alice', 'a1', [0, 10]).consumeInfo('alice', 12).putFail('alice', 'a2', [20, 30]);
    for (const op of h.ops) {
      if (op.outcome !== 'ok') (op.output as { message?: string }).message = 'the reason, in words';
    }
    h.consume('alice', 'a1', [40, 50], { requestId: 'r2' }).consume('alice', null, [60, 70]);
    await assertLinearizable(h);
  });

  it('orders concurrent puts by their sequence numbers', async () => {
    // Same as above, but the sequence numbers say a1 was committed first.
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 20])
      .put('alice', 'a2', [5, 15])
      .consume('alice', 'a2', [30, 40])
      .consume('alice', 'a1', [45, 50]);
    assert.equal((await assertViolation(h))[0], 2);
  });

  it('finds a consume that returns empty after an acknowledged put nothing consumed', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).consume('alice', null, [20, 30]).consume('alice', 'a1', [40, 50]);
    assert.equal((await assertViolation(h))[0], 1);
  });

  it('finds a lost put (the drain finds the mailbox empty)', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('alice', 'a2', [0, 10]).consume('alice', 'a1', [20, 30]);
    h.drain('alice', 100);
    await assertViolation(h);
  });

  it('finds a double consume', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).consume('alice', 'a1', [20, 30]).consume('alice', 'a1', [40, 50]);
    assert.equal((await assertViolation(h))[0], 2);
  });

  it('finds a stale peek: the head after a completed consume took it', async () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .put('alice', 'a2', [11, 12])
      .consume('alice', 'a1', [20, 30])
      .peek('alice', 'a1', [40, 50]);
    await assertViolation(h);
  });

  it('finds FIFO order broken between two sequential puts', async () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .put('alice', 'a2', [20, 30])
      .consume('alice', 'a2', [40, 50])
      .consume('alice', 'a1', [60, 70]);
    await assertViolation(h);
  });

  it('finds a message consumed that was never put, and a wrong length', async () => {
    await assertViolation(new HistoryBuilder().consume('alice', 'ghost', [0, 10]));
    await assertViolation(new HistoryBuilder().put('alice', 'a1', [0, 10]).len('alice', 0, [20, 30]));
  });

  it('accepts an indeterminate put later consumed (it happened) or never seen (it did not)', async () => {
    const h = new HistoryBuilder()
      .putInfo('alice', 'a1', 0)
      .putInfo('alice', 'a2', 0)
      .put('alice', 'a3', [5, 10])
      .consume('alice', 'a3', [20, 30])
      .consume('alice', 'a1', [40, 50])
      .consume('alice', null, [60, 70]);
    await assertLinearizable(h);
  });

  it('does not let an indeterminate put take effect before it was invoked', async () => {
    const h = new HistoryBuilder().consume('alice', 'a1', [0, 10]).putInfo('alice', 'a1', 20);
    await assertViolation(h);
  });

  it('accepts an indeterminate consume that may have taken a message, or not', async () => {
    const took = new HistoryBuilder().put('alice', 'a1', [0, 10]).consumeInfo('alice', 20).consume('alice', null, [40, 50]);
    await assertLinearizable(took);
    const didNot = new HistoryBuilder().put('alice', 'a1', [0, 10]).consumeInfo('alice', 20).consume('alice', 'a1', [40, 50]);
    await assertLinearizable(didNot);
    // One indeterminate consume cannot account for two missing messages.
    const tooMany = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .put('alice', 'a2', [0, 10])
      .consumeInfo('alice', 20)
      .consume('alice', null, [40, 50]);
    await assertViolation(tooMany);
  });

  it('bounds an indeterminate op once a later op shows its effect can no longer matter', async () => {
    // The retry was not a duplicate, so the lost attempt had not happened by then: with its
    // return bounded at the retry's, it must be allowed to have changed nothing.
    const retried = new HistoryBuilder()
      .putInfo('alice', 'a1', 0)
      .put('alice', 'a1', [50, 60])
      .consume('alice', 'a1', [70, 80])
      .consume('alice', null, [90, 100]);
    await assertLinearizable(retried);
    // Invoked after a1 was already shown to be put: a no-op whatever happened to it.
    const late = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .putInfo('alice', 'a1', 20)
      .consume('alice', 'a1', [30, 40])
      .consume('alice', null, [50, 60]);
    await assertLinearizable(late);
    // An indeterminate ack the lease outlived (a later ack found it expired), or that took effect.
    for (const thenSeen of [true, false]) {
      const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
      const receipt = `${h.seqOf('a1')}.1`;
      h.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
        .settle('ack', 'alice', receipt, 'a1', [40, 0], 'info')
        .settle('ack', 'alice', receipt, 'a1', [100, 110], 'fail');
      if (thenSeen) h.consume('alice', h.message('a1', { deliveries: 2 }), [120, 130]);
      h.consume('alice', null, [140, 150]);
      await assertLinearizable(h);
    }
  });

  it('treats a repeated put id as a no-op answered duplicate, and a failed put as never happening', async () => {
    const retried = new HistoryBuilder()
      .putInfo('alice', 'a1', 0)
      .put('alice', 'a1', [20, 30], true)
      .consume('alice', 'a1', [40, 50])
      .put('alice', 'a1', [60, 70], true)
      .consume('alice', null, [80, 90]);
    await assertLinearizable(retried);
    // "duplicate" for an id never put before is impossible.
    await assertViolation(new HistoryBuilder().put('alice', 'a1', [0, 10], true));
    // A failed put that nevertheless shows up is a violation.
    await assertViolation(new HistoryBuilder().putFail('alice', 'a1', [0, 10]).consume('alice', 'a1', [20, 30]));
  });

  it('replays the remembered answer for a consume retried with the same request id', async () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .put('alice', 'a2', [11, 12])
      .consumeInfo('alice', 20, { requestId: 'r1' })
      .consume('alice', 'a1', [40, 50], { requestId: 'r1' })
      .consume('alice', 'a2', [60, 70])
      .consume('alice', 'a1', [80, 90], { requestId: 'r1' });
    await assertLinearizable(h);
    const mismatch = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .put('alice', 'a2', [11, 12])
      .consume('alice', 'a1', [20, 30], { requestId: 'r1' })
      .consume('alice', 'a2', [40, 50], { requestId: 'r1' });
    await assertViolation(mismatch);
  });

  it('learns the receipt of an indeterminate leased consume from its retry, so it can be settled', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('alice', 'a2', [11, 12]);
    const leased = h.message('a1', { receipt: `${h.seqOf('a1')}.1` });
    h.consumeInfo('alice', 20, { requestId: 'r1', leaseMs: 1000 })
      .peek('alice', 'a2', [30, 35]) // the lost attempt had taken a1 by then
      .consume('alice', leased, [40, 50], { requestId: 'r1', leaseMs: 1000 })
      .settle('nack', 'alice', leased.receipt!, 'a1', [60, 70])
      .consume('alice', h.message('a1', { deliveries: 2 }), [80, 90]);
    await assertLinearizable(h);
  });

  it('models the dead-letter queue of a user without leases as always empty', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).drain('alice', 20, true);
    h.ops.splice(1, 1); // keep only the dead-letter consume: it is empty even though a1 is queued
    await assertLinearizable(h);
    await assertViolation(new HistoryBuilder().put('alice', 'a1', [0, 10]).peek('alice', 'a1', [20, 30], true));
  });

  it('follows leases: in flight until acked, back at their place when nacked', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('alice', 'a2', [11, 12]).put('alice', 'a3', [13, 14]);
    const r1 = `${h.seqOf('a1')}.1`;
    h.consume('alice', 'a1', [20, 30], { leaseMs: 1000 })
      .len('alice', 2, [31, 32], 1) // a2, a3 queued, a1 in flight
      .consume('alice', 'a2', [33, 34])
      .settle('nack', 'alice', r1, 'a1', [40, 50])
      .peek('alice', h.message('a1'), [51, 52])
      .consume('alice', h.message('a1', { deliveries: 2 }), [60, 70], { leaseMs: 1000 })
      .settle('ack', 'alice', `${h.seqOf('a1')}.2`, 'a1', [80, 90])
      .consume('alice', 'a3', [100, 110])
      .consume('alice', null, [120, 130]);
    await assertLinearizable(h);

    // After the nack a1 is the head again: a3 cannot come before it.
    const wrong = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('alice', 'a2', [11, 12]).put('alice', 'a3', [13, 14]);
    wrong
      .consume('alice', 'a1', [20, 30], { leaseMs: 1000 })
      .consume('alice', 'a2', [33, 34])
      .settle('nack', 'alice', `${wrong.seqOf('a1')}.1`, 'a1', [40, 50])
      .consume('alice', 'a3', [60, 70]);
    await assertViolation(wrong);
  });

  it('lets an unsettled lease run out at any time, after which the message is delivered again', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('alice', 'a2', [11, 12]);
    h.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .consume('alice', 'a2', [40, 50])
      .consume('alice', h.message('a1', { deliveries: 2 }), [200, 210])
      .consume('alice', null, [220, 230]);
    await assertLinearizable(h);
    // While it is still in flight (the ack below succeeds) nobody else can get it.
    const twice = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    twice
      .consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .consume('alice', twice.message('a1', { deliveries: 2 }), [40, 50])
      .settle('ack', 'alice', `${twice.seqOf('a1')}.1`, 'a1', [60, 70]);
    await assertViolation(twice);
  });

  it('matches an ack that names its delivery only to the lease of that delivery', async () => {
    // Both deliveries carry one receipt (the lease-receipt-reuse bug). Without the delivery count
    // the first consumer's late ack is indistinguishable from the second's; with it, it is not.
    const make = (deliveries?: number) => {
      const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
      const receipt = `${h.seqOf('a1')}.1`;
      h.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
        .consume('alice', h.message('a1', { deliveries: 2, receipt }), [100, 110], { leaseMs: 50 })
        .settle('ack', 'alice', receipt, 'a1', [120, 130], 'ok', deliveries);
      return h;
    };
    await assertLinearizable(make());
    await assertLinearizable(make(2));
    await assertViolation(make(1));
  });

  it('finds a message delivered again after its lease was acked', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    h.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .settle('ack', 'alice', `${h.seqOf('a1')}.1`, 'a1', [35, 40])
      .consume('alice', h.message('a1', { deliveries: 2 }), [200, 210]);
    await assertViolation(h);
  });

  it('checks delivery counts and dead-letters a message returned maxDeliveries times', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    h.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .consume('alice', h.message('a1', { deliveries: 2 }), [100, 110], { leaseMs: 50 })
      .settle('nack', 'alice', `${h.seqOf('a1')}.2`, 'a1', [120, 130])
      .consume('alice', null, [140, 150])
      .len('alice', 0, [141, 142], 0, 1)
      .peek('alice', h.message('a1', { deliveries: 2 }), [151, 152], true);
    const v = await checkLinearizability({ records: h.ops }, { maxDeliveries: 2, timeoutMs: 10_000 });
    assert.equal(v.linearizable, true, JSON.stringify(v));
    // With the default limit (5) the nacked message is back in the main queue instead.
    assert.equal((await verdictOf(h)).linearizable, false);
    // A first delivery reported as a second one.
    const miscounted = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    miscounted.consume('alice', miscounted.message('a1', { deliveries: 2 }), [20, 30]);
    await assertViolation(miscounted);
  });

  it('reads a history file and writes a visualization of each violating user', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).consume('alice', null, [20, 30]).put('bob', 'b1', [0, 1]);
    const path = join(dir, 'bad.jsonl');
    writeFileSync(path, h.ops.map((o) => JSON.stringify(o) + '\n').join(''));
    const vis = join(dir, 'vis');
    const v = await checkLinearizability({ path }, { visualizeDir: vis, timeoutMs: 10_000 });
    assert.equal(v.perUser.bob?.result, 'ok');
    const file = v.perUser.alice?.visualization;
    assert.ok(file !== undefined && existsSync(file));
    assert.match(readFileSync(file, 'utf8'), /"consume\(\) -\\u003e empty","Metadata":"history op 1"/);
  });

  it('reports a partition it could not finish in time as unknown, not as linearizable', async () => {
    // 40 concurrent puts and 40 indeterminate consumes, then a length no order can produce: the
    // search has to exhaust an astronomically large space and cannot within the limit.
    const h = new HistoryBuilder();
    for (let i = 0; i < 40; i++) h.put('alice', `a${i}`, [0, 1000]);
    for (let i = 0; i < 40; i++) h.consumeInfo('alice', 0);
    h.len('alice', 41, [2000, 2001]);
    const started = Date.now();
    const v = await checkLinearizability({ records: h.ops }, { timeoutMs: 300 });
    assert.equal(v.perUser.alice?.result, 'unknown', JSON.stringify(v));
    assert.equal(v.timedOut, true);
    assert.equal(v.linearizable, false);
    assert.ok(Date.now() - started < 5000);
    // What made it hard, for the report: 81 ops, the 40 consumes unanswered and bounded by nothing.
    assert.deepEqual([v.perUser.alice?.checkedOps, v.perUser.alice?.indeterminate, v.perUser.alice?.unbounded], [81, 40, 40]);
  });

  it('checks the unanswered attempts of one request as one effect, which takes at most one message', async () => {
    // A client asking again and again for a request nobody answers (as workers did in one CI run,
    // for reasons its excerpt did not show): 40 attempts of request r1, between another client's puts.
    const retried = (after: number, attempts: (h: HistoryBuilder, i: number) => void): HistoryBuilder => {
      const h = new HistoryBuilder();
      for (let i = 0; i < 40; i++) {
        h.put('alice', `a${i}`, [i * 10, i * 10 + 5]);
        attempts(h, i * 10 + 6);
      }
      h.len('alice', after, [2000, 2001]);
      return h;
    };
    const consumes = (h: HistoryBuilder, at: number) => void h.consumeInfo('alice', at, { requestId: 'r1' });
    const started = Date.now();
    // Two messages gone: one request cannot have taken them. Checked one by one, the 40 attempts
    // left a space the search could not exhaust within the limit.
    assert.deepEqual(await assertViolation(retried(38, consumes)), [80]);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    const v = await verdictOf(retried(39, consumes));
    assert.equal(v.linearizable, true, JSON.stringify(v));
    assert.deepEqual([v.perUser.alice?.checkedOps, v.perUser.alice?.indeterminate, v.perUser.alice?.unbounded], [42, 1, 1]);
    // Two requests may take two messages; so may two consumes without a request id.
    await assertLinearizable(retried(38, (h, at) => void h.consumeInfo('alice', at, { requestId: at < 200 ? 'r0' : 'r1' })));
    await assertLinearizable(retried(38, (h, at) => void h.consumeInfo('alice', at, at < 20 ? {} : { requestId: 'r1' })));
    // So are a batch consume's: at most its two messages.
    const batches = (h: HistoryBuilder, at: number) =>
      void h.consumeInfo('alice', at, { requestId: 'b1#0' }).consumeInfo('alice', at, { requestId: 'b1#1' }).batch(2);
    assert.deepEqual(await assertViolation(retried(37, batches)), [120]);
    await assertLinearizable(retried(38, batches));
    // The joined attempts may land from the first one's call on, and not before it.
    const joined = (len: [number, number]): HistoryBuilder => {
      const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
      for (let i = 0; i < 5; i++) h.consumeInfo('alice', 40 + i, { requestId: 'r1' });
      return h.len('alice', 0, len);
    };
    await assertLinearizable(joined([41, 42]));
    const early = joined([20, 30]);
    await assertViolation(early);
  });

  // A search that cannot end caches states by the gigabyte (1.4 GB in 30 s here): the whole-check
  // limits end it with the users already decided, rather than with the machine out of memory.
  function hardAliceEasyBob(): HistoryBuilder {
    const h = new HistoryBuilder();
    h.put('bob', 'b1', [0, 10]);
    h.consume('bob', 'b1', [20, 30]);
    for (let i = 0; i < 40; i++) h.put('alice', `a${i}`, [0, 1000]);
    for (let i = 0; i < 40; i++) h.consumeInfo('alice', 0);
    h.len('alice', 41, [2000, 2001]);
    return h;
  }

  it('gives up the undecided users as unknown once the checker heap passes its limit, and keeps the decided ones', async () => {
    const started = Date.now();
    const v = await checkLinearizability({ records: hardAliceEasyBob().ops }, { timeoutMs: 120_000, maxMemoryBytes: 64 * 1024 * 1024 });
    assert.equal(v.perUser.alice?.result, 'unknown', JSON.stringify(v));
    assert.match(v.perUser.alice?.reason ?? '', /heap reached \d+ MiB \(limit 64 MiB\)/);
    assert.equal(v.perUser.alice?.ops, 81);
    assert.deepEqual([v.perUser.alice?.indeterminate, v.perUser.alice?.unbounded], [40, 40], 'a user cut off still says what made it hard');
    assert.equal(v.perUser.bob?.result, 'ok', JSON.stringify(v));
    assert.equal(v.timedOut, true);
    assert.equal(v.linearizable, false);
    assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
  });

  it('gives up the undecided users as unknown at the whole check deadline', async () => {
    const started = Date.now();
    const v = await checkLinearizability({ records: hardAliceEasyBob().ops }, { timeoutMs: 120_000, deadlineMs: 1000 });
    assert.equal(v.perUser.alice?.result, 'unknown', JSON.stringify(v));
    assert.match(v.perUser.alice?.reason ?? '', /whole check's deadline of 1s/);
    assert.equal(v.perUser.bob?.result, 'ok', JSON.stringify(v));
    assert.equal(v.linearizable, false);
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
  });

  it('takes a batch as one operation: a length that sees half of a batch put is a violation', async () => {
    const h = new HistoryBuilder();
    h.put('alice', 'a', [0, 100]).put('alice', 'b', [0, 100]);
    h.len('alice', 1, [10, 20]);
    // As two separate puts, put(a), len = 1, put(b) is an order that explains it.
    const separate = await checkLinearizability({ records: h.ops }, { timeoutMs: 10_000 });
    assert.equal(separate.linearizable, true, JSON.stringify(separate));
    const ops = h.ops.slice(0, 2);
    const batched = new HistoryBuilder();
    batched.ops.push(...ops);
    batched.batch(2).len('alice', 1, [10, 20]);
    const v = await checkLinearizability({ records: batched.ops }, { timeoutMs: 10_000 });
    assert.equal(v.perUser.alice?.result, 'illegal', JSON.stringify(v));
  });

  it('accepts indeterminate leased batch consumes that a retry of their request id answered', async () => {
    // Four batches of four, all indeterminate, all answered by a retry (the replay of what the
    // first attempt took, or the retry's own take). Each batch is one operation to place, and each
    // attempt is checked against the answer its request id got (replies in history.go): the
    // mailbox replays one remembered result per request id, so whichever attempt took effect
    // answered that. Measured with the checker: both verdicts below in 0.6 s (six batches: the
    // good history in 0.1 s, the wrong one not within 20 s). Checked against "anything", as
    // before, two batches took 43 ms and three did not finish in 20 s: every indeterminate take
    // may find any lease run out, at every point up to its answer.
    const h = new HistoryBuilder();
    const BATCHES = 4;
    const ids = Array.from({ length: 4 * BATCHES }, (_, i) => `m${i}`);
    for (const id of ids) h.put('alice', id, [0, 5]);
    for (let b = 0; b < BATCHES; b++) {
      for (let k = 0; k < 4; k++) h.consumeInfo('alice', 10 + b, { requestId: `r${b}#${k}`, leaseMs: 60_000 });
      h.batch(4);
    }
    for (let b = 0; b < BATCHES; b++) {
      for (let k = 0; k < 4; k++) h.consume('alice', ids[4 * b + k]!, [500 + 20 * b, 510 + 20 * b], { requestId: `r${b}#${k}`, leaseMs: 60_000 });
      h.batch(4);
    }
    h.len('alice', 0, [1000, 1001], 4 * BATCHES);
    for (const id of ids) h.settle('ack', 'alice', `${h.seqOf(id)}.1`, id, [1100, 1110]);
    h.drain('alice', 1200, true);
    const v = await checkLinearizability({ records: h.ops }, { timeoutMs: 20_000 });
    assert.equal(v.perUser.alice?.result, 'ok', JSON.stringify(v));
    // The same with the second retry answered what the first batch took: no order explains it.
    const wrong = h.ops.map((op) =>
      op.op === 'consume' && op.outcome === 'ok' && op.input.requestId?.startsWith('r1#') === true && op.output.message !== null
        ? { ...op, output: { message: { ...op.output.message, msgId: op.output.message.msgId === 'm4' ? 'm0' : op.output.message.msgId } } }
        : op,
    );
    const bad = await checkLinearizability({ records: wrong }, { timeoutMs: 20_000 });
    assert.equal(bad.perUser.alice?.result, 'illegal', JSON.stringify(bad));
  });

  it('checks an unanswered attempt against the answer its request id got, deliveries included', async () => {
    // a1 was nacked once, so any take of it now is its second delivery. The retry of r2 reports a
    // first delivery: the attempt that took effect cannot have answered that, whichever it was.
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    h.consume('alice', 'a1', [20, 30], { leaseMs: 1000 }).settle('nack', 'alice', `${h.seqOf('a1')}.1`, 'a1', [40, 50]);
    h.consumeInfo('alice', 60, { requestId: 'r2', leaseMs: 1000 });
    const good = h.message('a1', { deliveries: 2, receipt: `${h.seqOf('a1')}.2` });
    const ok = new HistoryBuilder();
    ok.ops.push(...h.ops);
    ok.consume('alice', good, [100, 110], { requestId: 'r2', leaseMs: 1000 }).settle('ack', 'alice', good.receipt!, 'a1', [120, 130]);
    await assertLinearizable(ok);
    const bad = new HistoryBuilder();
    bad.ops.push(...h.ops);
    bad.consume('alice', h.message('a1', { deliveries: 1, receipt: 'x.1' }), [100, 110], { requestId: 'r2', leaseMs: 1000 });
    await assertViolation(bad);
  });

  it('throws a typed error on a batch op without the rest of its batch', async () => {
    const h = new HistoryBuilder();
    h.put('alice', 'a', [0, 10]).put('alice', 'b', [0, 10]).batch(2);
    h.ops.shift();
    await assert.rejects(checkLinearizability({ records: h.ops }), (e: unknown) => {
      return e instanceof LinearizabilityCheckError && /batch index 1 without the batch's first op 0/.test(e.message);
    });
  });

  it('throws a typed error when the checker rejects the input', async () => {
    const path = join(dir, 'garbage.jsonl');
    writeFileSync(path, '{"type":"op","id":1,"user":"alice","op":"put","input":{"msgId":"x"},"call":0,"outcome":"ok"}\n');
    await assert.rejects(checkLinearizability({ path }), (e: unknown) => {
      return e instanceof LinearizabilityCheckError && /return time/.test(e.message);
    });
  });
});

// Randomized, against the real state machine (mailbox-run.ts): every stretched run of it must be
// accepted; the same run with one op isolated in time and its answer corrupted must be rejected.

/** Moves op `i` to a time of its own, after every earlier op returned and before every later one is called. */
function isolate(ops: OpRecord[], i: number): void {
  const shift = 1_000_000;
  for (const op of ops) {
    if (op.id < i) continue;
    const bump = op.id === i ? shift : 2 * shift;
    op.call += bump;
    if (op.return !== null) op.return += bump;
  }
  const target = ops[i]!;
  if (target.return !== null) target.return = target.call + 1;
}

const GHOST: MessageRecord = { msgId: 'never-put', seq: 999, bodyHash: 'deadbeefdeadbeef', deliveries: 1 };

/** Corrupts op `i`'s answer into one that no linearization can give once the op is isolated. */
function corrupt(op: OpRecord, emptyImpossible: boolean): void {
  if (op.outcome !== 'ok') throw new Error('only completed ops are corrupted');
  switch (op.op) {
    case 'put':
      op.output = { ...op.output, duplicate: !op.output.duplicate };
      break;
    case 'consume': {
      const leased = op.input.leaseMs !== undefined;
      const ghost = leased ? { ...GHOST, receipt: '999.1' } : GHOST;
      op.output = { message: op.output.message !== null && emptyImpossible ? null : ghost };
      break;
    }
    case 'peek':
      op.output = { message: op.output.message !== null && emptyImpossible ? null : { ...GHOST, deliveries: 0 } };
      break;
    case 'len':
      op.output = { ...op.output, count: op.output.count + 1 };
      break;
    case 'ack':
    case 'nack':
      op.input = { ...op.input, receipt: '999.9' };
      break;
  }
}

describe('Porcupine queue-model checker against runs of the real mailbox', () => {
  before(async () => {
    await buildPorcupineChecker();
  });

  const options = { maxDeliveries: MAX_DELIVERIES, timeoutMs: 10_000 };

  it('accepts every stretched run, with indeterminate ops and the final drain', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(actionArb, windowArb, fc.integer({ min: 0, max: 9 })), { minLength: 5, maxLength: 60, size: 'max' }),
        async (rows) => {
          const run = mailboxRun(
            rows.map((r) => r[0]),
            rows.map((r) => r[1]),
            rows.map((r) => r[2] === 0),
            true,
          );
          const v = await checkLinearizability({ records: run.ops }, options);
          assert.equal(v.linearizable, true, JSON.stringify({ v, ops: run.ops }));
        },
      ),
      { numRuns: 25 },
    );
  });

  // Indeterminate ops, batches among them: the checker takes a batch's ops as one operation.
  it('accepts every stretched run with batch puts and batch consumes recorded one op per message', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(batchActionArb, windowArb, fc.integer({ min: 0, max: 9 })), { minLength: 5, maxLength: 60, size: 'max' }),
        async (rows) => {
          const run = mailboxRun(
            rows.map((r) => r[0]),
            rows.map((r) => r[1]),
            rows.map((r) => r[2] === 0),
            true,
          );
          const v = await checkLinearizability({ records: run.ops }, options);
          assert.equal(v.linearizable, true, JSON.stringify({ v, ops: run.ops }));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('rejects the same runs with one isolated answer corrupted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(actionArb, windowArb), { minLength: 5, maxLength: 60, size: 'max' }),
        fc.nat(),
        async (rows, pick) => {
          const run = mailboxRun(
            rows.map((r) => r[0]),
            rows.map((r) => r[1]),
            rows.map(() => false),
            false,
          );
          const candidates = run.ops.filter((op) => op.outcome === 'ok').map((op) => op.id);
          fc.pre(candidates.length > 0);
          const i = candidates[pick % candidates.length]!;
          isolate(run.ops, i);
          const clean = await checkLinearizability({ records: run.ops }, options);
          assert.equal(clean.linearizable, true, JSON.stringify({ i, clean, ops: run.ops }));
          corrupt(run.ops[i]!, run.emptyImpossible[i]!);
          const v = await checkLinearizability({ records: run.ops }, options);
          assert.equal(v.perUser[USER]?.result, 'illegal', JSON.stringify({ i, v, ops: run.ops }));
        },
      ),
      { numRuns: 25 },
    );
  });
});
