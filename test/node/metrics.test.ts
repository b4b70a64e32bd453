import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { NodeMetrics, type MetricsSource } from '../../src/node/metrics.js';
import { Mailbox } from '../../src/mailbox/mailbox.js';

test('the /metrics endpoint exposes Raft, link and mailbox state read at scrape time', async (t) => {
  const mailbox = new Mailbox();
  const meta = (i: number) => ({ index: i, term: 1, time: 1_000 });
  for (let i = 0; i < 3; i++) mailbox.apply({ op: 'put', user: 'deep', body: new Uint8Array(10) }, meta(i + 1));
  mailbox.apply({ op: 'put', user: 'shallow', body: new Uint8Array(5), ttlMs: 1 }, meta(4));
  mailbox.apply({ op: 'expire' }, { index: 5, term: 1, time: 5_000 });

  let term = 3;
  let halted: string | null = null;
  const source: MetricsSource = {
    raft: () => ({ isLeader: true, term, commitIndex: 42, appliedIndex: 41, followerLag: { n2: 0, n3: 7 }, halted, logEntries: 12 }),
    transport: () => ({ n2: { connected: true, queuedBytes: 0, dropped: 1, sent: 10, silentTeardowns: 0 } }),
    mailbox: (n) => mailbox.totals(n),
    parkedConsumers: () => 7,
  };
  const metrics = new NodeMetrics(source, { node: 'n1' });
  const port = await metrics.listen('127.0.0.1', 0);
  t.after(() => metrics.close());
  metrics.commitLatency.observe(0.003);
  metrics.proposals.inc({ op: 'put', outcome: 'ok' });

  const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let text = await scrape();
  assert.match(text, /forge_raft_state\{field="term",node="n1"\} 3/);
  assert.match(text, /forge_raft_state\{field="is_leader",node="n1"\} 1/);
  assert.match(text, /forge_raft_state\{field="log_entries",node="n1"\} 12/);
  const memory = (field: string) => Number(new RegExp(`forge_process_memory_bytes\\{field="${field}",node="n1"\\} (\\d+)`).exec(text)?.[1]);
  const m = process.memoryUsage();
  assert.ok(memory('rss') > memory('heap_used') && Math.abs(memory('rss') - m.rss) < m.rss / 2, `rss ${memory('rss')}`);
  assert.ok(memory('heap_used') <= memory('heap_total') && memory('heap_total') < memory('heap_limit'));
  assert.ok(memory('array_buffers') <= memory('external'));
  assert.match(text, /forge_replication_lag_entries\{peer="n3",node="n1"\} 7/);
  assert.match(text, /forge_peer_link\{peer="n2",field="dropped",node="n1"\} 1/);
  assert.match(text, /forge_mailbox\{field="messages",node="n1"\} 3/);
  assert.match(text, /forge_parked_consumers\{node="n1"\} 7/);
  assert.match(text, /forge_mailbox\{field="bytes",node="n1"\} 30/);
  assert.match(text, /forge_mailbox\{field="expired_total",node="n1"\} 1/);
  assert.match(text, /forge_mailbox_quota\{quota="messages",field="used",node="n1"\} 3/);
  assert.match(text, /forge_body_store_bytes\{field="live",node="n1"\} 30/, 'the expired body was released');
  assert.match(text, /forge_body_store_bytes\{field="stored",node="n1"\} 30/);
  assert.match(text, /forge_mailbox_quota\{quota="messages",field="limit",node="n1"\} 2000000/);
  assert.match(text, /forge_mailbox_quota\{quota="bytes",field="used",node="n1"\} 30/);
  assert.match(text, /forge_mailbox_depth\{user="deep",node="n1"\} 3/);
  assert.match(text, /forge_commit_latency_seconds_count\{node="n1"\} 1/);
  assert.match(text, /forge_proposals_total\{op="put",outcome="ok",node="n1"\} 1/);
  // Block the event loop for 120 ms: the longest pause since start must show at least that.
  const until = performance.now() + 120;
  while (performance.now() < until);
  await new Promise((r) => setTimeout(r, 20));
  const pause = Number(/forge_event_loop_delay_max_seconds\{node="n1"\} ([0-9.e-]+)/.exec(await scrape())?.[1]);
  assert.ok(pause >= 0.1 && pause < 5, `event-loop pause ${pause} s`);
  // Short-lived garbage: young-generation collections, observed and reported.
  let keep: number[][] = [];
  for (let i = 0; i < 200_000; i++) keep = i % 1000 === 0 ? [] : [...keep.slice(-10), [i]];
  await new Promise((r) => setTimeout(r, 50));
  const gc = Number(/forge_gc_pause_max_seconds\{node="n1"\} ([0-9.e-]+)/.exec(await scrape())?.[1]);
  assert.ok(gc > 0 && gc < 5, `longest GC ${gc} s (${keep.length})`);

  term = 4;
  text = await scrape();
  assert.match(text, /forge_raft_state\{field="term",node="n1"\} 4/, 'gauges are read at scrape time');
  assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);

  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(health.status, 200);
  assert.match(text, /forge_raft_state\{field="halted",node="n1"\} 0/);
  halted = 'ENOSPC: no space left on device';
  const sick = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(sick.status, 503, 'a halted node fails its health check');
  assert.match(await sick.text(), /halted: ENOSPC/);
  assert.match(await scrape(), /forge_raft_state\{field="halted",node="n1"\} 1/);
});
