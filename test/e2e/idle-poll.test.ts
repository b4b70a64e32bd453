// An idle poll writes nothing (issue #12): a consume without request id that finds the mailbox
// empty is answered by a linearizable read on the leader, not a log entry, so a user-facing client
// polling an empty mailbox costs no fsync. Counted on a real cluster through the leader's own
// metrics: consume proposals do not move while 40 empty polls are answered; a poll that finds a
// message still takes it through the log, and a consume with a request id always goes through it.

import { strict as assert } from 'node:assert';
import { describe } from 'node:test';
import { metricValue as counter, useCluster } from '../support/e2e.js';

const POLLS = 40;

describe('idle polls write nothing', { timeout: 120_000 }, () => {
  const e2e = useCluster({ nodes: 3, metrics: true });
  const { step } = e2e;

  async function leaderCounts(): Promise<{ proposed: number; read: number; syncs: number; commit: number }> {
    const leader = ((await e2e.client.status()) as { node: string }).node;
    const page = await (await fetch(e2e.cluster.metricsUrl(leader))).text();
    return {
      proposed: counter(page, 'forge_proposals_total', { op: 'consume', outcome: 'ok' }),
      read: counter(page, 'forge_reads_total', { op: 'consume', outcome: 'ok' }),
      syncs: counter(page, 'forge_raft_log_syncs_total'),
      commit: counter(page, 'forge_raft_commit_index'),
    };
  }

  step(`${POLLS} polls of an empty mailbox are answered by reads, with no consume in the log`, async () => {
    // First a read, which waits for the new leader's first commit: the election's own writes
    // (its no-op entry, synced and not yet committed) are then behind us.
    assert.equal(await e2e.client.consume('idle'), null);
    const before = await leaderCounts();
    for (let i = 0; i < POLLS; i++) assert.equal(await e2e.client.consume('idle'), null);
    // Dead letters too.
    assert.equal(await e2e.client.consume('idle', { deadLetter: true }), null);
    const after = await leaderCounts();
    assert.equal(after.proposed, before.proposed, 'no consume was proposed');
    assert.equal(after.read - before.read, POLLS + 1, 'every poll was answered by a read');
    // No fsync either: the leader's syncs are those of the entries it appended meanwhile (its
    // periodic expiry sweep), at most one each, never one per poll. One more is allowed: a sweep
    // entry synced just before the last reading may not have committed by then (CI saw 3 syncs
    // for 2 entries); one sync per poll would be 41.
    assert.ok(after.syncs > 0 && after.commit > 0, 'the leader exports its syncs and commit index');
    const syncs = after.syncs - before.syncs;
    const entries = after.commit - before.commit;
    console.error(`idle-poll e2e: ${POLLS + 1} idle polls, ${syncs} log syncs and ${entries} log entries on the leader meanwhile`);
    assert.ok(syncs <= entries + 1, `${syncs} syncs for ${entries} entries during ${POLLS + 1} idle polls`);
  });

  step('a poll that finds a message takes it through the log; a consume with a request id always goes through it', async () => {
    await e2e.client.put('idle', 'hello', { id: 'm1' });
    const before = await leaderCounts();
    assert.equal((await e2e.client.consume('idle'))?.id, 'm1');
    assert.equal(await e2e.client.consume('idle', { requestId: 'r1' }), null);
    const after = await leaderCounts();
    assert.equal(after.proposed - before.proposed, 2);
    assert.equal(after.read, before.read);
    // The remembered empty answer stays the answer to that request id.
    await e2e.client.put('idle', 'later', { id: 'm2' });
    assert.equal(await e2e.client.consume('idle', { requestId: 'r1' }), null);
    assert.equal((await e2e.client.consume('idle'))?.id, 'm2');
  });
});
