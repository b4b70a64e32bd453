// Long-poll consume (issue #12) on real processes, a real router and LevelDB on disk: a parked
// consumer is answered as soon as a message commits, or `empty` when its wait ends with nothing
// logged; 100 parked consumers and 100 puts deliver each message exactly once; a request id binds
// the answer a wait ends with; and parked consumers get a retryable answer at once when their
// leader stops leading (removed from the cluster) or dies (kill -9). Bounds are generous: the CI
// machine is a busy 2-core box.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import { MailboxClientError } from '../../src/bridge/client.js';
import { eventually, metricValue, sleep, useCluster } from '../support/e2e.js';

const CROWD = 100;
/** Retryable answers a parked consumer may get when its leader goes: nothing was taken, or the router saw the node go. */
const RETRYABLE = new Set(['NOT_LEADER', 'LEADERSHIP_LOST', 'UNAVAILABLE', 'ROUTER_LOST']);

describe('long-poll consume', { timeout: 300_000 }, () => {
  const e2e = useCluster({ nodes: 3, metrics: true, mailbox: { maxConsumeWaitMs: 60_000 } });
  const { step } = e2e;

  async function leaderPage(): Promise<{ leader: string; page: string }> {
    const leader = ((await e2e.client.status()) as { node: string }).node;
    return { leader, page: await (await fetch(e2e.cluster.metricsUrl(leader))).text() };
  }

  async function parkedOnLeader(n: number): Promise<void> {
    await eventually(`${n} consumers parked on the leader`, async () => {
      const { page } = await leaderPage();
      return metricValue(page, 'forge_parked_consumers') === n ? true : undefined;
    }, 30_000);
  }

  /** Settles to the message id, 'empty', or the error code. */
  const outcome = (p: Promise<{ id: string } | null>): Promise<string> =>
    p.then(
      (m) => (m === null ? 'empty' : m.id),
      (e: unknown) => (e instanceof MailboxClientError ? e.code : `thrown: ${String(e)}`),
    );

  step('a parked consumer gets a message put 1 s later, well before its wait ends', async () => {
    // Just after the election the leader's 16 wait lanes may still be declaring (their sessions
    // open one after another): a long poll of this raw client on a lane not declared yet gets
    // UNAVAILABLE at once (MailboxClient retries it). Lanes are picked at random: 64 polls in a row
    // without that miss a lane still declaring with a chance of (15/16)^64, about 1.6%.
    await eventually('the leader to serve on every wait lane', async () => {
      for (let i = 0; i < 64; i++) await e2e.client.consume('warm-up', { waitMs: 1 });
      return true;
    });
    const started = Date.now();
    const waiting = e2e.client.consume('late', { waitMs: 30_000 });
    await parkedOnLeader(1);
    await sleep(1000);
    await e2e.client.put('late', 'hello', { id: 'late-1' });
    const msg = await waiting;
    const elapsed = Date.now() - started;
    assert.equal(msg?.id, 'late-1');
    assert.ok(elapsed >= 1000 && elapsed < 10_000, `answered after ${elapsed} ms of a 30 s wait`);
  });

  step('a parked consumer gets a delayed put, a nack?delay and a message whose lease ran out (1.5 s each) when it shows, not when its wait ends', async () => {
    const DELAY = 1500;
    // Delayed put: its entry commits at once, the message shows 1.5 s later with no entry.
    const waiting = e2e.client.consume('shows-later', { waitMs: 10_000 });
    await parkedOnLeader(1);
    const put = Date.now();
    await e2e.client.put('shows-later', 'delayed', { id: 'delayed-1', delayMs: DELAY });
    const msg = await waiting;
    const delayedMs = Date.now() - put;
    console.log(`delayed put (delay ${DELAY} ms): the parked consumer got it ${delayedMs} ms after the put`);
    assert.equal(msg?.id, 'delayed-1');
    assert.ok(delayedMs >= DELAY - 100 && delayedMs < DELAY + 6000, `answered ${delayedMs} ms after a ${DELAY} ms delayed put, in a 10 s wait`);

    // nack?delay: a leased message handed back with a delay wakes the consumer parked meanwhile.
    await e2e.client.put('shows-later', 'nacked', { id: 'nacked-1' });
    const leased = await e2e.client.consume('shows-later', { leaseMs: 60_000 });
    assert.equal(leased?.id, 'nacked-1');
    const waiting2 = e2e.client.consume('shows-later', { waitMs: 10_000 });
    await parkedOnLeader(1);
    const nacked = Date.now();
    await e2e.client.nack('shows-later', leased.receipt!, { delayMs: DELAY });
    const again = await waiting2;
    const nackedMs = Date.now() - nacked;
    console.log(`nack?delay=${DELAY}: the parked consumer got it ${nackedMs} ms after the nack`);
    assert.equal(again?.id, 'nacked-1');
    assert.equal(again?.deliveries, 2);
    assert.ok(nackedMs >= DELAY - 100 && nackedMs < DELAY + 6000, `answered ${nackedMs} ms after a nack?delay=${DELAY}, in a 10 s wait`);

    // A lease that runs out: the message is back with no entry at that moment.
    await e2e.client.put('shows-later', 'leased', { id: 'leased-1' });
    const held = await e2e.client.consume('shows-later', { leaseMs: DELAY });
    const leasedAt = Date.now();
    assert.equal(held?.id, 'leased-1');
    const waiting3 = e2e.client.consume('shows-later', { waitMs: 10_000 });
    const back = await waiting3;
    const leaseMs = Date.now() - leasedAt;
    console.log(`lease of ${DELAY} ms left to run out: the parked consumer got the message ${leaseMs} ms after it was leased`);
    assert.equal(back?.id, 'leased-1');
    assert.equal(back?.deliveries, 2);
    assert.ok(leaseMs >= DELAY - 100 && leaseMs < DELAY + 6000, `answered ${leaseMs} ms after a ${DELAY} ms lease was taken, in a 10 s wait`);
  });

  step('a parked consume with no put answers empty after its wait, and nothing was logged', async () => {
    const before = await leaderPage();
    const started = Date.now();
    assert.equal(await e2e.client.consume('nobody', { waitMs: 2000 }), null);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1900, `answered after ${elapsed} ms`);
    const after = await leaderPage();
    assert.equal(after.leader, before.leader);
    const consumes = (page: string) => metricValue(page, 'forge_proposals_total', { op: 'consume', outcome: 'ok' });
    const reads = (page: string) => metricValue(page, 'forge_reads_total', { op: 'consume', outcome: 'ok' });
    assert.equal(consumes(after.page), consumes(before.page), 'no consume was proposed');
    // The wait ended with an ordinary consume, answered by a read (the read before parking is
    // the bare ReadIndex barrier, not counted as a consume read).
    assert.equal(reads(after.page) - reads(before.page), 1);
    assert.equal(metricValue(after.page, 'forge_parked_consumers'), 0);
  });

  step('a wait over mailbox.maxConsumeWaitMs is refused with BAD_REQUEST', async () => {
    await assert.rejects(e2e.client.consume('nobody', { waitMs: 60_001 }), (e: unknown) => e instanceof MailboxClientError && e.code === 'BAD_REQUEST' && /maxConsumeWaitMs/.test(e.message));
  });

  step(`${CROWD} parked consumers and ${CROWD} puts: each message delivered exactly once, only taking consumes logged`, async () => {
    const before = await leaderPage();
    const waits = Array.from({ length: CROWD }, () => outcome(e2e.client.consume('crowd', { waitMs: 60_000 })));
    await parkedOnLeader(CROWD);
    for (let i = 0; i < CROWD; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => e2e.client.put('crowd', `m${i + j}`, { id: `crowd-${i + j}` })));
    }
    const got = await Promise.all(waits);
    const ids = got.filter((g) => g.startsWith('crowd-'));
    assert.equal(ids.length, CROWD, `answers: ${JSON.stringify(got.filter((g) => !g.startsWith('crowd-')))}`);
    assert.equal(new Set(ids).size, CROWD, 'no message was delivered twice');
    assert.equal(await e2e.client.consume('crowd'), null, 'nothing left behind');
    const after = await leaderPage();
    assert.equal(after.leader, before.leader);
    const consumes = (page: string) => metricValue(page, 'forge_proposals_total', { op: 'consume', outcome: 'ok' });
    // Woken consumers that lost a race to another woken one find nothing locally and wait again
    // without proposing, so the log holds one consume per message (the last, empty, poll is a read).
    assert.equal(consumes(after.page) - consumes(before.page), CROWD);
    assert.ok(metricValue(after.page, 'forge_parked_consumer_wakeups_total') - metricValue(before.page, 'forge_parked_consumer_wakeups_total') >= CROWD);
  });

  step('request ids: the answer a wait ends with is remembered for its rid; a retry gets it, a new rid waits anew', async () => {
    assert.equal(await e2e.client.consume('rids', { waitMs: 1000, requestId: 'poll-1' }), null);
    await e2e.client.put('rids', 'x', { id: 'rid-msg' });
    assert.equal(await e2e.client.consume('rids', { waitMs: 1000, requestId: 'poll-1' }), null, 'a retry of poll-1 gets its empty answer again');
    assert.equal((await e2e.client.consume('rids', { waitMs: 1000, requestId: 'poll-2' }))?.id, 'rid-msg');
    // A woken rid consume: its retry gets the same message, not the next one.
    const waiting = e2e.client.consume('rids', { waitMs: 30_000, requestId: 'poll-3' });
    await parkedOnLeader(1);
    await e2e.client.put('rids', 'y', { id: 'rid-msg-2' });
    assert.equal((await waiting)?.id, 'rid-msg-2');
    await e2e.client.put('rids', 'z', { id: 'rid-msg-3' });
    assert.equal((await e2e.client.consume('rids', { waitMs: 1000, requestId: 'poll-3' }))?.id, 'rid-msg-2');
    assert.equal((await e2e.client.consume('rids'))?.id, 'rid-msg-3');
  });

  step('graceful stop (SIGTERM) of the leader: every parked consumer gets a retryable answer at once; the node comes back', async () => {
    const { leader } = await leaderPage();
    const waits = Array.from({ length: 20 }, (_, i) => outcome(e2e.client.consume(`stop-${i % 5}`, { waitMs: 60_000 })));
    await parkedOnLeader(20);
    const started = Date.now();
    await e2e.cluster.signal(leader, 'SIGTERM');
    const got = await Promise.all(waits);
    const elapsed = Date.now() - started;
    for (const g of got) assert.ok(RETRYABLE.has(g), `answer ${g}`);
    assert.ok(elapsed < 15_000, `answered ${elapsed} ms after SIGTERM`);
    e2e.cluster.startNode(leader);
    await e2e.cluster.waitForLeader(e2e.client, 30_000);
    // Every node must be back in the cluster before the next step removes one.
    await eventually('the restarted node caught up', async () => {
      const st = (await e2e.client.status()) as { node: string; followers?: Record<string, { lag: number }> };
      return st.node === leader || st.followers?.[leader]?.lag === 0 ? true : undefined;
    }, 30_000);
  });

  step('the leader stops leading (removed from the cluster): every parked consumer gets NOT_LEADER at once', async () => {
    const { leader } = await leaderPage();
    const waits = Array.from({ length: 20 }, (_, i) => outcome(e2e.client.consume(`gone-${i % 5}`, { waitMs: 60_000 })));
    await parkedOnLeader(20);
    const started = Date.now();
    // The leader steps down as its own removal commits: the reply to remove-node itself may race
    // that and come back LEADERSHIP_LOST (outcome unknown). What is checked here is the parked
    // consumers' answers, which leadership loss gives either way.
    await e2e.client.removeNode(leader).catch((e: unknown) => {
      if (!(e instanceof MailboxClientError && e.code === 'LEADERSHIP_LOST')) throw e;
    });
    const got = await Promise.all(waits);
    const elapsed = Date.now() - started;
    assert.deepEqual([...new Set(got)], ['NOT_LEADER'], JSON.stringify(got));
    assert.ok(elapsed < 15_000, `answered ${elapsed} ms after the removal`);
    await e2e.cluster.signal(leader, 'SIGTERM');
    await e2e.cluster.waitForLeader(e2e.client, 30_000, leader);
  });

  step('kill -9 of the leader while consumers are parked: each gets a retryable answer within the bound', async () => {
    await e2e.cluster.waitForLeader(e2e.client, 30_000);
    const { leader } = await leaderPage();
    const waits = Array.from({ length: 20 }, (_, i) => {
      const sent = Date.now();
      return outcome(e2e.client.consume(`dead-${i % 5}`, { waitMs: 60_000 })).then((o) => ({ o, at: Date.now(), sent }));
    });
    await parkedOnLeader(20);
    const killed = Date.now();
    await e2e.cluster.signal(leader, 'SIGKILL');
    const got = await Promise.all(waits);
    for (const g of got) {
      assert.ok(RETRYABLE.has(g.o), `answer ${g.o}`);
      // Election timeout (<= 0.6 s) plus ample slack for a loaded machine; far below the 60 s wait.
      assert.ok(g.at - killed < 15_000, `answered ${g.at - killed} ms after the kill`);
    }
  });
});
