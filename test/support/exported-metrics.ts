// The metrics a node exports, read from the real registry (NodeMetrics) over a source with some of
// everything (a leader with a follower, a peer link, a mailbox with messages), so that labelled
// metrics have series. Used by the naming test and by the checks of the alert rules and dashboard.

import { Mailbox } from '../../src/mailbox/mailbox.js';
import { NodeMetrics, type MetricsSource } from '../../src/node/metrics.js';

/** A metric as Registry.getMetricsAsJSON gives it at run time (its typings say `type` is a numeric enum; it is the name). */
export interface ExportedMetric {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  values: Array<{ value: number; labels: Record<string, string | number> }>;
}

export async function exportedMetrics(options: { perUserDepth?: boolean } = {}): Promise<ExportedMetric[]> {
  const mailbox = new Mailbox();
  mailbox.apply({ op: 'put', user: 'alice', body: new Uint8Array(4) }, { index: 1, term: 1, time: 1_000 });
  const source: MetricsSource = {
    raft: () => ({ isLeader: true, leader: 'n1', term: 2, commitIndex: 1, appliedIndex: 1, followerLag: { n2: 0 }, halted: null, logEntries: 1 }),
    transport: () => ({ n2: { connected: true, queuedBytes: 0, dropped: 0, sent: 1, silentTeardowns: 0 } }),
    mailbox: (n) => mailbox.totals(n),
    oldestMessageAgeMs: () => 1,
    disk: () => ({ freeBytes: 1e9, minFreeBytes: 1e8, low: false }),
    parkedConsumers: () => 0,
  };
  const metrics = new NodeMetrics(source, { node: 'n1' }, options);
  metrics.proposals.inc({ op: 'put', outcome: 'ok' });
  metrics.reads.inc({ op: 'peek', outcome: 'ok' });
  metrics.parkedReleased.inc({ reason: 'leadership-lost' });
  metrics.commitLatency.observe(0.001);
  try {
    return (await metrics.registry.getMetricsAsJSON()) as unknown as ExportedMetric[];
  } finally {
    metrics.close();
  }
}

/** Every series name a scrape shows: histograms add _bucket, _sum and _count, summaries _sum and _count. */
export function seriesNames(metrics: ExportedMetric[]): Set<string> {
  const names = new Set<string>();
  for (const m of metrics) {
    names.add(m.name);
    if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (m.type === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
}
