import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { NodeMetrics, type MetricsSource } from '../../src/node/metrics.js';
import { Mailbox } from '../../src/mailbox/mailbox.js';
import { busy } from '../support/busy.js';

function fixture(perUserDepth = false) {
  const mailbox = new Mailbox();
  const meta = (i: number) => ({ index: i, term: 1, time: 1_000 });
  for (let i = 0; i < 3; i++) mailbox.apply({ op: 'put', user: 'deep', body: new Uint8Array(10) }, meta(i + 1));
  mailbox.apply({ op: 'put', user: 'shallow', body: new Uint8Array(5), ttlMs: 1 }, meta(4));
  mailbox.apply({ op: 'expire' }, { index: 5, term: 1, time: 5_000 });
  // A put with an id, taken by a consume with a request id: one entry in each id table, nothing held.
  mailbox.apply({ op: 'put', user: 'once', body: new Uint8Array(7), id: 'p1' }, { index: 6, term: 1, time: 5_000 });
  mailbox.apply({ op: 'consume', user: 'once', requestId: 'r1' }, { index: 7, term: 1, time: 5_000 });
  const state = { term: 3, halted: null as string | null, leader: 'n1' as string | null, sent: 10 };
  const source: MetricsSource = {
    raft: () => ({ isLeader: state.leader === 'n1', leader: state.leader, term: state.term, commitIndex: 42, appliedIndex: 41, followerLag: { n2: 0, n3: 7 }, halted: state.halted, logEntries: 12 }),
    transport: () => ({ n2: { connected: true, queuedBytes: 0, dropped: 1, sent: state.sent, silentTeardowns: 0 } }),
    mailbox: (n) => mailbox.totals(n),
    oldestMessageAgeMs: () => 2_500,
    disk: () => ({ freeBytes: 5e9, minFreeBytes: 1e9, low: false }),
    parkedConsumers: () => 7,
  };
  const metrics = new NodeMetrics(source, { node: 'n1' }, { perUserDepth });
  // A new macrotask per scrape, as over HTTP: the mailbox totals are read once per scrape.
  const scrape = async () => {
    await new Promise((r) => setImmediate(r));
    return metrics.registry.metrics();
  };
  return { metrics, state, scrape };
}

test('the registry exposes Raft, link, mailbox and disk state read at scrape time, one quantity per metric', async (t) => {
  const { metrics, state, scrape } = fixture();
  t.after(() => metrics.close());
  metrics.commitLatency.observe(0.003);
  metrics.proposals.inc({ op: 'put', outcome: 'ok' });

  let text = await scrape();
  assert.match(text, /^forge_raft_term\{node="n1"\} 3$/m);
  assert.match(text, /^forge_raft_commit_index\{node="n1"\} 42$/m);
  assert.match(text, /^forge_raft_applied_index\{node="n1"\} 41$/m);
  assert.match(text, /^forge_raft_is_leader\{node="n1"\} 1$/m);
  assert.match(text, /^forge_raft_has_leader\{node="n1"\} 1$/m);
  assert.match(text, /^forge_raft_halted\{node="n1"\} 0$/m);
  assert.match(text, /^forge_raft_log_entries\{node="n1"\} 12$/m);
  assert.match(text, /^forge_parked_consumers\{node="n1"\} 7$/m);
  assert.match(text, /^forge_body_store_live_bytes\{node="n1"\} 30$/m, 'the expired body was released');
  assert.match(text, /^forge_body_store_stored_bytes\{node="n1"\} 30$/m);
  const heapLimit = Number(/^forge_v8_heap_limit_bytes\{node="n1"\} (\d+)$/m.exec(text)?.[1]);
  const heapTotal = Number(/^nodejs_heap_size_total_bytes\{node="n1"\} (\d+)$/m.exec(text)?.[1]);
  assert.ok(heapTotal > 0 && heapTotal < heapLimit, `heap total ${heapTotal} under the limit ${heapLimit}`);
  assert.match(text, /^forge_replication_lag_entries\{peer="n3",node="n1"\} 7$/m);
  assert.match(text, /^forge_peer_connected\{peer="n2",node="n1"\} 1$/m);
  assert.match(text, /^# TYPE forge_peer_dropped_frames_total counter$/m);
  assert.match(text, /^forge_peer_dropped_frames_total\{peer="n2",node="n1"\} 1$/m);
  assert.match(text, /^forge_peer_sent_frames_total\{peer="n2",node="n1"\} 10$/m);
  assert.match(text, /^forge_mailbox_messages\{node="n1"\} 3$/m);
  assert.match(text, /^forge_mailbox_bytes\{node="n1"\} 30$/m);
  assert.match(text, /^forge_mailboxes\{node="n1"\} 1$/m);
  assert.match(text, /^# TYPE forge_mailbox_expired_total counter$/m);
  assert.match(text, /^forge_mailbox_expired_total\{node="n1"\} 1$/m);
  assert.match(text, /^forge_mailbox_oldest_message_age_seconds\{node="n1"\} 2.5$/m);
  assert.match(text, /^forge_mailbox_held_messages\{node="n1"\} 3$/m);
  assert.match(text, /^forge_mailbox_quota_messages\{node="n1"\} 2000000$/m);
  assert.match(text, /^forge_mailbox_put_ids\{node="n1"\} 1$/m);
  assert.match(text, /^forge_mailbox_consume_results\{node="n1"\} 1$/m);
  assert.match(text, /^forge_mailbox_quota_put_ids\{node="n1"\} 1000000$/m);
  assert.match(text, /^forge_mailbox_quota_consume_results\{node="n1"\} 100000$/m);
  assert.match(text, /^forge_mailbox_held_bytes\{node="n1"\} 30$/m);
  assert.match(text, /^forge_disk_free_bytes\{node="n1"\} 5000000000$/m);
  assert.match(text, /^forge_disk_low\{node="n1"\} 0$/m);
  assert.match(text, /^forge_commit_latency_seconds_count\{node="n1"\} 1$/m);
  assert.match(text, /^forge_proposals_total\{op="put",outcome="ok",node="n1"\} 1$/m);
  assert.match(text, new RegExp(`^forge_build_info\\{version="\\d+\\.\\d+\\.\\d+[^"]*",node_version="${process.version}",node="n1"\\} 1$`, 'm'));
  assert.match(text, /^process_cpu_seconds_total\{node="n1"\} /m, 'default process metrics');
  assert.match(text, /^nodejs_eventloop_lag_seconds\{node="n1"\} /m, 'default event-loop lag');
  assert.doesNotMatch(text, /forge_mailbox_depth|user=/, 'no user id without metrics.perUserDepth');

  state.term = 4;
  state.leader = null;
  state.halted = 'ENOSPC: no space left on device';
  state.sent = 15;
  text = await scrape();
  assert.match(text, /^forge_raft_term\{node="n1"\} 4$/m, 'gauges are read at scrape time');
  assert.match(text, /^forge_raft_has_leader\{node="n1"\} 0$/m);
  assert.match(text, /^forge_raft_halted\{node="n1"\} 1$/m);
  assert.match(text, /^forge_peer_sent_frames_total\{peer="n2",node="n1"\} 15$/m, 'a mirrored running total follows its source');
});

test('per-user depth is exported only when opted into', async (t) => {
  const { metrics, scrape } = fixture(true);
  t.after(() => metrics.close());
  assert.match(await scrape(), /^forge_mailbox_depth\{user="deep",node="n1"\} 3$/m);
});

test('the longest event-loop pause and garbage collection since start are reported', async (t) => {
  const { metrics, scrape } = fixture();
  t.after(() => metrics.close());
  // Once the monitor runs, block the event loop for 120 ms: the longest pause since start must show at least that.
  await new Promise((r) => setTimeout(r, 20));
  busy(120);
  await new Promise((r) => setTimeout(r, 20));
  const pause = Number(/forge_event_loop_delay_max_seconds\{node="n1"\} ([0-9.e-]+)/.exec(await scrape())?.[1]);
  assert.ok(pause >= 0.1 && pause < 5, `event-loop pause ${pause} s`);
  // Short-lived garbage: young-generation collections, observed and reported.
  let keep: number[][] = [];
  for (let i = 0; i < 200_000; i++) keep = i % 1000 === 0 ? [] : [...keep.slice(-10), [i]];
  await new Promise((r) => setTimeout(r, 50));
  const gc = Number(/forge_gc_pause_max_seconds\{node="n1"\} ([0-9.e-]+)/.exec(await scrape())?.[1]);
  assert.ok(gc > 0 && gc < 5, `longest GC ${gc} s (${keep.length})`);
});
