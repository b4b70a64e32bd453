// End-to-end: a frozen leader (SIGSTOP: what a long GC pause, a stalled VM or a hung disk look
// like from outside) must not take the service down for as long as it is frozen. The others elect
// a leader; the link guard beside the router (src/router/link-guard.ts) cuts the frozen node's
// router link once it stops answering pings, so the router forgets its queryables and routes the
// clients' default queries to the new leader. Real node processes, LevelDB, TCP and the real
// router; the clients use the default calls (default target and consolidation).

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { MailboxClientError, type ForgeMailboxClient } from '../../src/bridge/client.js';
import { isTransient } from '../../src/bridge/retry-policy.js';
import { sleep, withCluster } from '../support/e2e.js';

/** Client timeout of the requests sent during the freeze; the freeze lasts longer. */
const CLIENT_TIMEOUT_MS = 3000;
const FREEZE_MS = 7000;
/**
 * From the freeze to the first answer: an election (200-400 ms here) and the guard's cut (400 ms
 * of silence, checked every 100 ms) run side by side; the rest is slack for a busy 2-core machine.
 */
const FIRST_ANSWER_BOUND_MS = 2500;
/** After that, every request is answered by the new leader promptly. */
const LATER_ANSWER_BOUND_MS = 1000;

/** After waking, the guard-cut node must notice its lost router session within this (pings every 100 ms, one-tenth of it typically). */
const NOTICE_CUT_BOUND_MS = 2000;

/** True once node logs show it became a follower after `since` (epoch ms). */
function rejoinedAsFollower(logs: string, since: number): boolean {
  return logs.split('\n').some((line) => {
    if (!line.includes('raft role changed')) return false;
    const entry = JSON.parse(line) as { time: number; role: string };
    return entry.time >= since && entry.role === 'follower';
  });
}

/** When (epoch ms) the node first logged `msg` at or after `since`, or null. */
function loggedAt(logs: string, msg: string, since: number): number | null {
  for (const line of logs.split('\n')) {
    if (!line.includes(msg)) continue;
    const entry = JSON.parse(line) as { time: number; msg: string };
    if (entry.msg === msg && entry.time >= since) return entry.time;
  }
  return null;
}

/**
 * A consume with a request id, retried with the same id until it gets a definite answer: after any
 * error a client may retry (a refusal, or an unknown outcome such as LEADERSHIP_LOST, which CI met
 * when the busy machine stalled the new leader into another election during the drain).
 */
async function consumeOnce(client: ForgeMailboxClient, requestId: string): Promise<{ id: string } | null> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await client.consume('frozen', { requestId });
    } catch (e) {
      if (!(e instanceof MailboxClientError) || !isTransient(e.code) || Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
}

test('a leader frozen longer than the client timeout: the new leader answers the default calls, nothing is lost or duplicated', { timeout: 120_000 }, async () => {
  await withCluster({ nodes: 3 }, async (cluster, client) => {
    const frozen = await cluster.waitForLeader(client);
    for (let i = 0; i < 5; i++) await client.put('frozen', `before-${i}`, { id: `before-${i}` });

    const sender = await cluster.client(CLIENT_TIMEOUT_MS);
    try {
      await cluster.signal(frozen, 'SIGSTOP');
      const frozenAt = Date.now();
      const answers: Array<{ id: string; sentMs: number; tookMs: number; ok: boolean; error?: string }> = [];
      let n = 0;
      while (Date.now() - frozenAt < FREEZE_MS - 500) {
        const id = `during-${n++}`;
        const sent = Date.now();
        try {
          await sender.put('frozen', id, { id });
          answers.push({ id, sentMs: sent - frozenAt, tookMs: Date.now() - sent, ok: true });
        } catch (e) {
          const error = e instanceof MailboxClientError ? `${e.code}: ${e.message}` : String(e);
          answers.push({ id, sentMs: sent - frozenAt, tookMs: Date.now() - sent, ok: false, error });
          await sleep(50);
        }
      }
      const served = await cluster.waitForLeader(sender, 5000, frozen);
      const firstOk = answers.find((a) => a.ok);
      const report = JSON.stringify(answers);
      assert.ok(firstOk !== undefined, `nothing answered while ${frozen} was frozen: ${report}`);
      assert.ok(firstOk.sentMs + firstOk.tookMs <= FIRST_ANSWER_BOUND_MS, `first answer ${firstOk.sentMs + firstOk.tookMs} ms after the freeze: ${report}`);
      const later = answers.filter((a) => a.sentMs > firstOk.sentMs);
      assert.ok(later.length >= 10, `only ${later.length} requests after the first answer: ${report}`);
      for (const a of later) {
        assert.ok(a.ok && a.tookMs <= LATER_ANSWER_BOUND_MS, `${a.id} (sent ${a.sentMs} ms after the freeze) took ${a.tookMs} ms: ${report}`);
      }
      process.stderr.write(`frozen leader ${frozen}: first answer ${firstOk.sentMs + firstOk.tookMs} ms after the freeze, from ${served}; ${answers.length} requests\n`);
      assert.match(cluster.guard.log, /node stopped answering: its router links cut/);

      await sleep(Math.max(0, frozenAt + FREEZE_MS - Date.now()));
      const wokeAt = Date.now();
      await cluster.signal(frozen, 'SIGCONT');
      // The old leader comes back as a follower of the new term (it learns it from its peers).
      const deadline = Date.now() + 10_000;
      while (!rejoinedAsFollower(cluster.logs(frozen), wokeAt) || loggedAt(cluster.logs(frozen), 'lost Zenoh router; reconnecting', wokeAt) === null) {
        assert.ok(Date.now() < deadline, `${frozen} did not log becoming a follower and losing its router link after it woke`);
        await sleep(100);
      }
      // The guard cut its router link while it was frozen: on waking its bridge must see that at once.
      const noticedMs = loggedAt(cluster.logs(frozen), 'lost Zenoh router; reconnecting', wokeAt)! - wokeAt;
      process.stderr.write(`frozen leader ${frozen}: noticed its cut router link ${noticedMs} ms after waking\n`);
      assert.ok(noticedMs <= NOTICE_CUT_BOUND_MS, `the woken node noticed its cut router link only ${noticedMs} ms after SIGCONT`);
      // And it says why it went silent: one logged stall as long as the freeze, not the collector's.
      const stall = cluster
        .logs(frozen)
        .split('\n')
        .filter((line) => line.includes('event loop stalled'))
        .map((line) => JSON.parse(line) as { time: number; stallMs: number; gcMs: number; role: string });
      assert.ok(stall.length >= 1, `${frozen} logged no stall after SIGCONT`);
      const longest = stall.reduce((a, b) => (b.stallMs > a.stallMs ? b : a));
      assert.ok(longest.stallMs >= FREEZE_MS - 500 && longest.stallMs <= wokeAt - frozenAt + 2000, `stall logged: ${JSON.stringify(longest)}; frozen ${wokeAt - frozenAt} ms`);
      assert.ok(longest.gcMs < longest.stallMs / 2, JSON.stringify(longest));
      await cluster.waitForLeader(sender, 10_000);

      // Everything acknowledged is there exactly once, in order; maybe-committed puts at most once.
      const acknowledged = ['before-0', 'before-1', 'before-2', 'before-3', 'before-4', ...answers.filter((a) => a.ok).map((a) => a.id)];
      const maybe = new Set(answers.filter((a) => !a.ok).map((a) => a.id));
      // Consumes with request ids, retried alike: a leadership change on a busy machine must
      // neither lose nor double a message here.
      const taken: string[] = [];
      for (let k = 0; ; k++) {
        const m = await consumeOnce(sender, `drain-${k}`);
        if (m === null) break;
        taken.push(m.id);
      }
      assert.equal(new Set(taken).size, taken.length, `duplicates: ${taken}`);
      assert.deepEqual(taken.filter((id) => !maybe.has(id)), acknowledged);
      for (const id of taken) assert.ok(!id.startsWith('during-') || maybe.has(id) || acknowledged.includes(id));
    } finally {
      await cluster.signal(frozen, 'SIGCONT');
      await sender.close();
    }
  });
});
