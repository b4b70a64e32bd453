import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { OpRecord } from '../../src/verify/history.js';
import { checkTotalQueue } from '../../src/verify/total-queue.js';
import { HistoryBuilder } from './history-builder.js';
import { type Action, USER, actionArb, batchActionArb, mailboxRun } from './mailbox-run.js';

const ref = (msgId: string, user = 'alice') => ({ user, msgId });

describe('checkTotalQueue', () => {
  it('accepts a history where every acknowledged put is taken exactly once and the mailbox is drained', () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .put('alice', 'a2', [5, 15])
      .put('bob', 'b1', [5, 15])
      .consume('alice', 'a1', [20, 30])
      .peek('alice', 'a2', [31, 32])
      .consume('bob', 'b1', [20, 30])
      .consume('alice', 'a2', [40, 50])
      .drain('alice', 100)
      .drain('bob', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(r.counts, {
      messages: 3,
      acknowledged: 3,
      taken: 3,
      lost: 0,
      maybeConsumed: 0,
      duplicated: 0,
      unexpected: 0,
      recovered: 0,
      redeliveries: 0,
    });
  });

  it('reports an acknowledged put that nothing consumed as lost', () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('alice', 'a2', [0, 10]).consume('alice', 'a1', [20, 30]);
    h.drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.lost, [ref('a2')]);
    assert.equal(r.counts.lost, 1);
  });

  it('reports a message consumed twice as duplicated', () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .consume('alice', 'a1', [20, 30])
      .consume('alice', 'a1', [40, 50])
      .drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.duplicated, [{ ...ref('a1'), takes: 2, deliveries: 2 }]);
  });

  it('counts consumes that share a request id as one consume', () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .consumeInfo('alice', 20, { requestId: 'r1' })
      .consume('alice', 'a1', [40, 50], { requestId: 'r1' })
      .consume('alice', 'a1', [60, 70], { requestId: 'r1' })
      .drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.counts.taken, 1);
  });

  it('reports two different answers to one request id', () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .put('alice', 'a2', [0, 10])
      .consume('alice', 'a1', [20, 30], { requestId: 'r1' })
      .consume('alice', 'a2', [40, 50], { requestId: 'r1' })
      .drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.retryMismatch, [{ user: 'alice', requestId: 'r1' }]);
  });

  it('reports a consumed message that was never put, or whose only put definitely failed, as unexpected', () => {
    const h = new HistoryBuilder()
      .putFail('alice', 'f1', [0, 10])
      .consume('alice', 'ghost', [20, 30])
      .consume('alice', 'f1', [40, 50])
      .drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.unexpected, [ref('f1'), ref('ghost')]);
  });

  it('reports a peeked message that was never put as unexpected, once', () => {
    const h = new HistoryBuilder()
      .peek('alice', 'ghost', [20, 30])
      .peek('alice', 'ghost', [31, 32])
      .drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.deepEqual(r.unexpected, [ref('ghost')]);
    assert.equal(r.ok, false);
  });

  it('counts an indeterminate put that was later consumed as recovered, and one never seen as harmless', () => {
    const h = new HistoryBuilder()
      .putInfo('alice', 'a1', 0)
      .putInfo('alice', 'a2', 0)
      .consume('alice', 'a1', [20, 30])
      .drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(r.recovered, [ref('a1')]);
    assert.equal(r.counts.acknowledged, 0);
  });

  it('lets each indeterminate consume explain at most one missing message', () => {
    const one = new HistoryBuilder().put('alice', 'a1', [0, 10]).consumeInfo('alice', 20).drain('alice', 100);
    const r1 = checkTotalQueue(one.ops);
    assert.equal(r1.ok, true, JSON.stringify(r1));
    assert.deepEqual(r1.maybeConsumed, [ref('a1')]);

    const two = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .put('alice', 'a2', [0, 10])
      .consumeInfo('alice', 20)
      .drain('alice', 100);
    const r2 = checkTotalQueue(two.ops);
    assert.equal(r2.ok, false);
    assert.equal(r2.counts.lost, 1);
    assert.deepEqual(r2.lost, [ref('a1'), ref('a2')]);
  });

  it('does not let an indeterminate consume of another user, or a leased one, explain a missing message', () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .consumeInfo('bob', 20)
      .consumeInfo('alice', 20, { leaseMs: 1000 })
      .drain('alice', 100, true)
      .drain('bob', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.lost, [ref('a1')]);
  });

  it('accepts a leased message redelivered after its lease ran out, then acked', () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    h.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .settle('ack', 'alice', `${h.seqOf('a1')}.1`, 'a1', [200, 210], 'fail')
      .consume('alice', h.message('a1', { deliveries: 2 }), [150, 160], { leaseMs: 50 })
      .settle('ack', 'alice', `${h.seqOf('a1')}.2`, 'a1', [170, 180])
      .drain('alice', 300, true);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.counts.redeliveries, 1);
    assert.equal(r.counts.taken, 1);
  });

  it('reports a leased message that was acked and then delivered again as duplicated', () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    h.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .settle('ack', 'alice', `${h.seqOf('a1')}.1`, 'a1', [35, 40])
      .consume('alice', h.message('a1', { deliveries: 2 }), [150, 160], { leaseMs: 50 })
      .drain('alice', 300, true);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.duplicated, [{ ...ref('a1'), takes: 1, deliveries: 2 }]);
  });

  it('reports a leased message never acked and never seen again as lost, unless its ack is indeterminate', () => {
    const lost = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    lost.consume('alice', 'a1', [20, 30], { leaseMs: 50 }).drain('alice', 300, true);
    assert.deepEqual(checkTotalQueue(lost.ops).lost, [ref('a1')]);

    const maybe = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    maybe
      .consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .settle('ack', 'alice', `${maybe.seqOf('a1')}.1`, 'a1', [35, 40], 'info')
      .drain('alice', 300, true);
    const r = checkTotalQueue(maybe.ops);
    assert.equal(r.ok, true, JSON.stringify(r));
  });

  it('reports an ack that settled a delivery after a later delivery of the message completed', () => {
    // The lease-receipt-reuse bug: the redelivery carries the first delivery's receipt, so the
    // first consumer's late ack takes the message from under the second.
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    const receipt = `${h.seqOf('a1')}.1`;
    h.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .consume('alice', h.message('a1', { deliveries: 2, receipt }), [100, 110], { leaseMs: 50 })
      .settle('ack', 'alice', receipt, 'a1', [120, 130], 'ok', 1)
      .settle('ack', 'alice', receipt, 'a1', [140, 150], 'fail', 2)
      .drain('alice', 300, true);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.staleSettles, [{ ...ref('a1'), opId: 3, deliveries: 1 }]);
    assert.equal(r.counts.duplicated, 0, 'the stale ack is the one take');

    // The same late ack refused, as a correct mailbox does: clean.
    const ok = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    ok.consume('alice', 'a1', [20, 30], { leaseMs: 50 })
      .consume('alice', ok.message('a1', { deliveries: 2 }), [100, 110], { leaseMs: 50 })
      .settle('ack', 'alice', `${ok.seqOf('a1')}.1`, 'a1', [120, 130], 'fail', 1)
      .settle('ack', 'alice', `${ok.seqOf('a1')}.2`, 'a1', [140, 150], 'ok', 2)
      .drain('alice', 300, true);
    const clean = checkTotalQueue(ok.ops);
    assert.equal(clean.ok, true, JSON.stringify(clean));
  });

  it('reports a peek of a message after it was consumed as a stale read', () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .consume('alice', 'a1', [20, 30])
      .peek('alice', 'a1', [40, 50])
      .drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(r.staleReads, [{ ...ref('a1'), opId: 2 }]);
  });

  it('reports a delivered body or sequence number that differs from the put', () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('alice', 'a2', [0, 10]);
    h.consume('alice', h.message('a1', { bodyHash: 'deadbeefdeadbeef' }), [20, 30])
      .consume('alice', h.message('a2', { seq: 99 }), [40, 50])
      .drain('alice', 100);
    const r = checkTotalQueue(h.ops);
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.mismatched.map((m) => m.msgId),
      ['a1', 'a2'],
    );
  });

  it('requires proof that every user was drained after its last change', () => {
    const none = new HistoryBuilder().put('alice', 'a1', [0, 10]).consume('alice', 'a1', [20, 30]);
    assert.deepEqual(checkTotalQueue(none.ops).undrained, ['alice']);
    assert.equal(checkTotalQueue(none.ops).ok, false);

    // What an undrained user never handed out may still be queued: unverified, not lost.
    const queued = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('bob', 'b1', [0, 10]).drain('bob', 100);
    const q = checkTotalQueue(queued.ops);
    assert.deepEqual(q.unverified, [ref('a1')]);
    assert.deepEqual(q.lost, [ref('b1', 'bob')]);
    assert.equal(q.counts.lost, 1);

    // An empty answer that began before the last put completed proves nothing.
    const early = new HistoryBuilder().consume('alice', null, [0, 100]).put('alice', 'a1', [10, 20]);
    early.consume('alice', 'a1', [30, 40]);
    assert.deepEqual(checkTotalQueue(early.ops).undrained, ['alice']);

    // A replayed request id answer proves nothing either.
    const replay = new HistoryBuilder()
      .consume('alice', null, [0, 5], { requestId: 'r' })
      .put('alice', 'a1', [10, 20])
      .consume('alice', 'a1', [30, 40])
      .consume('alice', null, [50, 60], { requestId: 'r' });
    assert.deepEqual(checkTotalQueue(replay.ops).undrained, ['alice']);

    // A user that took leases must have its dead-letter queue drained too.
    const leased = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    leased.consume('alice', 'a1', [20, 30], { leaseMs: 5 }).consume('alice', 'a1', [40, 50]).drain('alice', 100);
    assert.deepEqual(checkTotalQueue(leased.ops).undrained, ['alice']);
    leased.consume('alice', null, [200, 210], { deadLetter: true });
    const r = checkTotalQueue(leased.ops);
    assert.deepEqual(r.undrained, []);
    assert.equal(r.ok, true, JSON.stringify(r));
  });
});

describe('checkTotalQueue against runs of the real mailbox', () => {
  const runArb = fc.array(fc.tuple(actionArb, fc.integer({ min: 0, max: 9 })), { minLength: 5, maxLength: 80, size: 'max' });
  const make = (rows: Array<[Action, number]>, infos: boolean) =>
    mailboxRun(
      rows.map((r) => r[0]),
      rows.map(() => [0, 0]),
      rows.map((r) => infos && r[1] === 0),
      true,
    );

  it('passes every drained run, indeterminate ops included', () => {
    fc.assert(
      fc.property(runArb, (rows) => {
        const r = checkTotalQueue(make(rows, true).ops);
        assert.equal(r.ok, true, JSON.stringify(r));
      }),
      { numRuns: 200 },
    );
  });

  it('passes every drained run with batch puts and batch consumes, one op per message', () => {
    const batchRunArb = fc.array(fc.tuple(batchActionArb, fc.integer({ min: 0, max: 9 })), { minLength: 5, maxLength: 80, size: 'max' });
    let batchOps = 0;
    fc.assert(
      fc.property(batchRunArb, (rows) => {
        const ops = make(rows, true).ops;
        batchOps += ops.filter((op) => (op.op === 'put' || op.op === 'consume') && op.input.batch !== undefined).length;
        const r = checkTotalQueue(ops);
        assert.equal(r.ok, true, JSON.stringify(r));
      }),
      { numRuns: 200 },
    );
    assert.ok(batchOps > 200, `batch ops in the runs: ${batchOps}`);
  });

  it('reports a message as lost when its only taking consume is removed', () => {
    fc.assert(
      fc.property(runArb, fc.nat(), (rows, pick) => {
        const ops = make(rows, false).ops;
        const takers = ops.filter(
          (op) =>
            op.op === 'consume' &&
            op.outcome === 'ok' &&
            op.output.message !== null &&
            op.input.leaseMs === undefined &&
            op.input.requestId === undefined,
        );
        fc.pre(takers.length > 0);
        const victim = takers[pick % takers.length]!;
        const msgId = victim.outcome === 'ok' && victim.op === 'consume' ? victim.output.message!.msgId : '';
        const r = checkTotalQueue(ops.filter((op) => op !== victim));
        assert.deepEqual(r.lost, [{ user: USER, msgId }]);
        assert.equal(r.ok, false);
      }),
      { numRuns: 100 },
    );
  });

  it('reports a message as duplicated when a consume of it is repeated later', () => {
    fc.assert(
      fc.property(runArb, fc.nat(), (rows, pick) => {
        const ops = make(rows, false).ops;
        const deliveries = ops.filter((op) => op.op === 'consume' && op.outcome === 'ok' && op.output.message !== null);
        fc.pre(deliveries.length > 0);
        const original = deliveries[pick % deliveries.length]!;
        const end = Math.max(...ops.map((op) => op.return ?? op.call));
        const copy = { ...original, id: ops.length, process: ops.length, call: end + 10, return: end + 20 } as OpRecord;
        if (copy.op === 'consume' && copy.input.requestId !== undefined) copy.input = { ...copy.input, requestId: 'fresh' };
        const r = checkTotalQueue([...ops, copy]);
        const msgId = copy.op === 'consume' && copy.outcome === 'ok' ? copy.output.message!.msgId : '';
        assert.deepEqual(
          r.duplicated.map((d) => d.msgId),
          [msgId],
        );
        assert.equal(r.ok, false);
      }),
      { numRuns: 100 },
    );
  });
});
