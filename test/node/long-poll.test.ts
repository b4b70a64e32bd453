// Long-poll consumes over the real mailbox state machine, with a stand-in for Raft: proposals are
// applied after a turn of the event loop (as a commit would be), and counted, so that the tests
// see what would have been logged. Covers: park without entries, wake on put (one per message,
// also for a batch), FIFO, re-park after a lost race, deadlines, request ids, leadership loss, and
// messages that become visible by time alone (delayed put, nack delay and backoff, a lease's end),
// which wake a parked consumer when they show, with no entry while it waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { ConsumeCommand, MailboxCommand, MailboxResult } from '../../src/mailbox/commands.js';
import type { MailboxOptions } from '../../src/mailbox/options.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { LongPollConsumes, ParkingFullError } from '../../src/node/long-poll.js';
import { ParkedConsumers } from '../../src/node/parked-consumers.js';
import { RaftError } from '../../src/raft/types.js';

class FakeLeader {
  readonly sm: MailboxStateMachine;
  readonly logged: MailboxCommand[] = [];
  leader = true;
  woken = 0;
  private index = 0;
  readonly parked: ParkedConsumers;
  readonly polls: LongPollConsumes;

  constructor(capacity = 1000, options: Partial<MailboxOptions> = {}) {
    this.sm = new MailboxStateMachine(options);
    this.parked = new ParkedConsumers(capacity);
    this.polls = new LongPollConsumes(
      {
        canWait: (cmd, now) => this.sm.consumeCanWait(cmd, now),
        nextVisibleAt: (user, now) => this.sm.nextVisibleAt(user, now),
        now: () => Date.now(),
        readBarrier: async () => {
          await tick();
          if (!this.leader) throw new RaftError('NOT_LEADER', 'not leader');
        },
        readTime: () => Date.now(),
        isLeader: () => this.leader,
        consume: (cmd) => this.command(cmd),
        notLeader: () => new RaftError('NOT_LEADER', 'not leader'),
      },
      this.parked,
      { woke: (n) => (this.woken += n) },
    );
    this.sm.onApplied((cmd, result) => this.polls.applied(cmd, result));
  }

  /** The node's command path: an empty consume without rid is answered without an entry. */
  async command(cmd: MailboxCommand): Promise<MailboxResult> {
    if (!this.leader) throw new RaftError('NOT_LEADER', 'not leader');
    if (cmd.op === 'consume') {
      const local = this.sm.consumeWithoutLog(cmd, Date.now());
      if (local !== null) return local;
    }
    this.logged.push(cmd);
    await tick();
    if (!this.leader) throw new RaftError('LEADERSHIP_LOST', 'lost');
    return this.sm.apply(encodeCommand(cmd), { index: ++this.index, term: 1, time: Date.now() });
  }

  /** Several puts committed in one batch: applied in one stretch. */
  putBatch(user: string, bodies: string[]): void {
    for (const b of bodies) {
      const cmd: MailboxCommand = { op: 'put', user, body: new TextEncoder().encode(b) };
      this.logged.push(cmd);
      this.sm.apply(encodeCommand(cmd), { index: ++this.index, term: 1, time: Date.now() });
    }
  }

  /** One command committed and applied now (not through the long-poll path). */
  applyNow(cmd: MailboxCommand): MailboxResult {
    this.logged.push(cmd);
    return this.sm.apply(encodeCommand(cmd), { index: ++this.index, term: 1, time: Date.now() });
  }

  consumes(): number {
    return this.logged.filter((c) => c.op === 'consume').length;
  }
}

const body = (r: MailboxResult) => (r.kind === 'message' ? new TextDecoder().decode(r.message.body) : r.kind);
const consume = (user: string, extra: Partial<ConsumeCommand> = {}): ConsumeCommand => ({ op: 'consume', user, ...extra });

test('a parked consume gets the message put after it, and only that consume is logged', async () => {
  const node = new FakeLeader();
  const started = Date.now();
  const waiting = node.polls.consume(consume('alice'), 10_000);
  await tick();
  await tick();
  assert.equal(node.parked.size, 1);
  assert.equal(node.consumes(), 0, 'parking writes nothing');
  await node.command({ op: 'put', user: 'alice', body: new TextEncoder().encode('hi') });
  assert.equal(body(await waiting), 'hi');
  assert.ok(Date.now() - started < 1000);
  assert.equal(node.consumes(), 1);
  assert.equal(node.parked.size, 0);
});

test('a message already there is taken at once', async () => {
  const node = new FakeLeader();
  node.putBatch('alice', ['there']);
  assert.equal(body(await node.polls.consume(consume('alice'), 10_000)), 'there');
  assert.equal(node.parked.size, 0);
});

test('the wait ends with empty and nothing logged', async () => {
  const node = new FakeLeader();
  const started = Date.now();
  assert.equal(body(await node.polls.consume(consume('alice'), 150)), 'empty');
  assert.ok(Date.now() - started >= 140);
  assert.equal(node.logged.length, 0);
});

test('a batch of puts wakes as many parked consumers as messages, oldest first, each message to one', async () => {
  const node = new FakeLeader();
  const order: string[] = [];
  const waits = ['c1', 'c2', 'c3', 'c4'].map((name) =>
    node.polls.consume(consume('alice'), 2000).then((r) => {
      order.push(`${name}:${body(r)}`);
      return r;
    }),
  );
  await tick();
  await tick();
  assert.equal(node.parked.size, 4);
  node.putBatch('alice', ['m1', 'm2', 'm3']);
  const results = await Promise.all(waits);
  assert.deepEqual(results.map(body).slice(0, 3).sort(), ['m1', 'm2', 'm3']);
  assert.equal(body(results[3]!), 'empty', 'the fourth waited its time out');
  assert.deepEqual(order.slice(0, 3).map((o) => o.split(':')[0]), ['c1', 'c2', 'c3'], 'FIFO');
  assert.equal(node.woken, 3, `woken; logged ${JSON.stringify(node.logged.map((c) => c.op))}`);
  assert.equal(node.consumes(), 3, 'only the consumes that took a message were logged');
});

test('a woken consumer that loses the race waits again at its place and gets the next message', async () => {
  const node = new FakeLeader();
  const first = node.polls.consume(consume('alice'), 5000);
  const second = node.polls.consume(consume('alice'), 5000);
  await tick();
  await tick();
  node.putBatch('alice', ['m1']);
  // An ordinary consume takes m1 before the woken one's proposal applies.
  assert.equal(body(await node.command(consume('alice'))), 'm1');
  await tick();
  await tick();
  assert.equal(node.parked.size, 2, 'both still wait');
  node.putBatch('alice', ['m2']);
  assert.equal(body(await first), 'm2', 'the oldest kept its place');
  node.putBatch('alice', ['m3']);
  assert.equal(body(await second), 'm3');
});

test('request ids: a parked rid consume writes nothing while waiting; its answer at the end of the wait is remembered', async () => {
  const node = new FakeLeader();
  assert.equal(body(await node.polls.consume(consume('alice', { requestId: 'r1' }), 100)), 'empty');
  assert.equal(node.consumes(), 1, 'the end of a wait with a rid is one logged consume, which binds the rid');
  node.putBatch('alice', ['m1']);
  assert.equal(body(await node.polls.consume(consume('alice', { requestId: 'r1' }), 1000)), 'empty', 'a retry gets the same answer');
  const woken = node.polls.consume(consume('alice', { requestId: 'r2' }), 5000);
  assert.equal(body(await woken), 'm1');
  node.putBatch('alice', ['m2']);
  assert.equal(body(await node.polls.consume(consume('alice', { requestId: 'r2' }), 5000)), 'm1', 'a retry of a woken rid gets its message again');
});

test('two parked attempts with one rid: the message goes to one rid once, both get it', async () => {
  const node = new FakeLeader();
  const a = node.polls.consume(consume('alice', { requestId: 'r' }), 300);
  const b = node.polls.consume(consume('alice', { requestId: 'r' }), 300);
  await tick();
  await tick();
  node.putBatch('alice', ['m1', 'm2']);
  assert.deepEqual([body(await a), body(await b)], ['m1', 'm1']);
  assert.equal(body(await node.command(consume('alice'))), 'm2', 'm2 was not taken by the retry');
});

test('losing leadership answers every parked consumer at once with NOT_LEADER', async () => {
  const node = new FakeLeader();
  const waits = [1, 2, 3].map((i) => node.polls.consume(consume(`u${i}`), 60_000).then(() => 'answered', (e: unknown) => (e as RaftError).code));
  await tick();
  await tick();
  node.leader = false;
  const started = Date.now();
  assert.equal(node.polls.releaseAll(new RaftError('NOT_LEADER', 'stepped down')), 3);
  assert.deepEqual(await Promise.all(waits), ['NOT_LEADER', 'NOT_LEADER', 'NOT_LEADER']);
  assert.ok(Date.now() - started < 100);
});

test('a full node refuses to park one more', async () => {
  const node = new FakeLeader(1);
  const first = node.polls.consume(consume('a'), 200);
  await assert.rejects(
    (async () => {
      await tick();
      return node.polls.consume(consume('b'), 200);
    })(),
    ParkingFullError,
  );
  assert.equal(body(await first), 'empty');
});

test('a long poll that arrives with a message in sight but loses it to another consume waits instead of answering empty', async () => {
  const node = new FakeLeader();
  node.putBatch('alice', ['m1']);
  const plain = node.command(consume('alice'));
  const waiting = node.polls.consume(consume('alice'), 5000);
  assert.equal(body(await plain), 'm1');
  await tick();
  await tick();
  await tick();
  assert.equal(node.parked.size, 1, 'it parked after losing m1');
  node.putBatch('alice', ['m2']);
  assert.equal(body(await waiting), 'm2');
});

const put = (user: string, text: string, extra: object = {}): MailboxCommand => ({ op: 'put', user, body: new TextEncoder().encode(text), ...extra });

/** A parked consume's answer and how long after `started` it came. */
async function timed(p: Promise<MailboxResult>, started: number): Promise<{ body: string; ms: number }> {
  const r = await p;
  return { body: body(r), ms: Date.now() - started };
}

test('a delayed put wakes a parked consumer when its delay has passed, not at the end of the wait', async () => {
  const node = new FakeLeader();
  const waiting = node.polls.consume(consume('alice'), 10_000);
  await tick();
  await tick();
  const started = Date.now();
  node.applyNow(put('alice', 'later', { delayMs: 300 }));
  await tick();
  assert.equal(node.parked.size, 1, 'still waiting: the message is not visible yet');
  const got = await timed(waiting, started);
  console.log(`delayed put (300 ms) reached the parked consumer after ${got.ms} ms`);
  assert.equal(got.body, 'later');
  assert.ok(got.ms >= 300, `not before its time (${got.ms} ms)`);
  assert.ok(got.ms < 3000, `well before the wait's end (${got.ms} ms)`);
  assert.equal(node.consumes(), 1, 'only the consume that took it was logged');
});

test('a consumer parking after the delayed put applied (as on a new leader) is woken at its time too', async () => {
  const node = new FakeLeader();
  const started = Date.now();
  node.applyNow(put('alice', 'later', { delayMs: 300 }));
  const got = await timed(node.polls.consume(consume('alice'), 10_000), started);
  console.log(`parked after the delayed put: answered after ${got.ms} ms`);
  assert.equal(got.body, 'later');
  assert.ok(got.ms >= 300 && got.ms < 3000, `${got.ms} ms`);
  assert.equal(node.consumes(), 1);
});

test('nack with a delay, nack with the default backoff and an ended lease each wake a parked consumer when the message shows', async () => {
  const node = new FakeLeader(1000, { nackBackoffMs: 250, nackBackoffMaxMs: 250 });
  const leased = () => {
    const r = node.applyNow(consume('alice', { leaseMs: 60_000 }));
    assert.equal(r.kind, 'message');
    return r.kind === 'message' ? r.message.receipt! : '';
  };
  const cases: Array<[string, number, (receipt: string) => void]> = [
    ['nack?delay=300', 300, (receipt) => node.applyNow({ op: 'nack', user: 'alice', receipt, delayMs: 300 })],
    ['nack with the 250 ms backoff', 250, (receipt) => node.applyNow({ op: 'nack', user: 'alice', receipt })],
    ['a 300 ms lease ending', 300, (receipt) => node.applyNow({ op: 'touch', user: 'alice', receipt, leaseMs: 300 })],
  ];
  for (const [what, ms, act] of cases) {
    node.applyNow(put('alice', what));
    const receipt = leased();
    const before = node.consumes();
    const waiting = node.polls.consume(consume('alice'), 10_000);
    await tick();
    await tick();
    assert.equal(node.parked.size, 1, `${what}: parked`);
    const started = Date.now();
    act(receipt);
    const got = await timed(waiting, started);
    console.log(`${what}: the parked consumer got the message after ${got.ms} ms`);
    assert.equal(got.body, what);
    assert.ok(got.ms >= ms - 5 && got.ms < ms + 2700, `${what}: ${got.ms} ms`);
    assert.equal(node.consumes() - before, 1, `${what}: one consume logged, none while waiting`);
  }
});

test('a lease ending into the dead letters wakes nobody: dead-letter consumes do not wait', async () => {
  const node = new FakeLeader(1000, { maxDeliveries: 1 });
  const refused = await node.polls.consume(consume('alice', { deadLetter: true }), 1000);
  assert.equal(refused.kind === 'error' && refused.code, 'BAD_REQUEST');
  node.applyNow(put('alice', 'm1'));
  assert.equal(body(node.applyNow(consume('alice', { leaseMs: 200 }))), 'm1');
  const got = await timed(node.polls.consume(consume('alice'), 600), Date.now());
  assert.equal(got.body, 'empty', 'm1 went to the dead letters at its lease end');
  assert.ok(node.woken <= 1, `one look at the lease end at most: ${node.woken} wake-ups`);
  assert.equal(node.consumes(), 1, 'only the leasing consume was logged');
});

test('a parked consumer on a mailbox with messages only far ahead is not woken in between', async () => {
  const node = new FakeLeader();
  node.applyNow(put('alice', 'far', { delayMs: 60_000 }));
  const got = await timed(node.polls.consume(consume('alice'), 300), Date.now());
  assert.equal(got.body, 'empty');
  assert.equal(node.woken, 0);
  assert.equal(node.consumes(), 0, 'nothing logged');
});
