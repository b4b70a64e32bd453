import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare } from '../../../bench/e2e/comparison.js';
import { comparisonTable, renderMarkdown, renderText } from '../../../bench/e2e/comparison-table.js';
import type { Row, System } from '../../../bench/e2e/rows.js';

const row = (system: System, phase: string, inFlight: number, opsPerSec: number, p50: number, p99: number): Row => ({
  system,
  phase,
  inFlight,
  figures: { count: 1, opsPerSec, p50, p99 },
  note: '',
});

const rows = [
  row('forge', 'put', 16, 3163.4, 4.2, 14.04),
  row('rabbitmq', 'put', 16, 6327, 2.4, 4.7),
  row('etcd', 'put', 16, 1054.5, 12.25, 40),
  row('forge', 'consume', 16, 3850, 3.1, 8.9),
  row('rabbitmq', 'consume', 16, 7700, 1.9, 5),
];

test('the table has a column set per system that ran and a ratio column per peer, Forge over the peer', () => {
  const t = comparisonTable(compare(rows));
  assert.deepEqual(t.header, [
    'phase', 'in flight',
    'forge msg/s', 'p50 ms', 'p99 ms',
    'rabbitmq msg/s', 'p50 ms', 'p99 ms',
    'etcd msg/s', 'p50 ms', 'p99 ms',
    'forge/rabbitmq', 'forge/etcd',
  ]);
  assert.deepEqual(t.body[0], ['put', '16', '3,163', '4.20', '14.0', '6,327', '2.40', '4.70', '1,055', '12.3', '40.0', '0.50', '3.00']);
  // etcd has no consume: its cells and its ratio stay empty.
  assert.deepEqual(t.body[1], ['consume', '16', '3,850', '3.10', '8.90', '7,700', '1.90', '5.00', '', '', '', '0.50', '']);
});

test('a run of Forge alone gives a table without peer columns', () => {
  const t = comparisonTable(compare([row('forge', 'put', 256, 12101, 19.9, 52)]));
  assert.deepEqual(t.header, ['phase', 'in flight', 'forge msg/s', 'p50 ms', 'p99 ms']);
  assert.equal(t.body.length, 1);
});

test('a Forge-only phase without a rate shows its latencies, a dash for the rate, and no ratio', () => {
  const longPoll = row('forge', 'long poll', 1, NaN, 29.04, 165.2);
  const t = comparisonTable(compare([...rows, longPoll]));
  assert.deepEqual(t.body.at(-1), ['long poll', '1', '-', '29.0', '165.2', '', '', '', '', '', '', '', '']);
});

test('renderText right-aligns every column to its widest cell', () => {
  const text = renderText({ header: ['phase', 'n'], body: [['put', '16'], ['consume max=256', '7']] });
  assert.equal(text, ['          phase   n', '            put  16', 'consume max=256   7'].join('\n'));
});

test('renderMarkdown writes a header rule with the figures right-aligned', () => {
  const md = renderMarkdown({ header: ['phase', 'msg/s'], body: [['put', '3,163']] });
  assert.equal(md, ['| phase | msg/s |', '| --- | ---: |', '| put | 3,163 |'].join('\n'));
});

test("another client's Forge row gets its own line, its ratios against the peers of its phase", () => {
  const python: Row = { ...row('forge', 'put', 16, 1581.7, 9.5, 30), client: 'Python client' };
  const t = comparisonTable(compare([...rows, python]));
  assert.deepEqual(t.body.at(-1), ['put, Python client', '16', '1,582', '9.50', '30.0', '', '', '', '', '', '', '0.25', '1.50']);
});
