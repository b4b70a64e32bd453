// The one table a run prints: per phase and load, each system's throughput and latencies and
// Forge's throughput as a multiple of each peer's; as aligned text and as Markdown for the docs.

import type { Comparison } from './comparison.js';
import { groupRatio } from './comparison.js';

export interface Table {
  header: string[];
  body: string[][];
}

const rate = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '-');

export function comparisonTable(comparison: Comparison): Table {
  const peers = comparison.systems.filter((s) => s !== 'forge');
  const header = ['phase', 'in flight'];
  for (const s of comparison.systems) header.push(`${s} msg/s`, 'p50 ms', 'p99 ms');
  for (const p of peers) header.push(`forge/${p}`);
  const body = comparison.groups.map((g) => {
    const line = [g.phase, String(g.inFlight)];
    for (const s of comparison.systems) {
      const f = g.bySystem[s]?.figures;
      line.push(f ? rate(f.opsPerSec) : '', f ? ms(f.p50) : '', f ? ms(f.p99) : '');
    }
    for (const p of peers) {
      const r = groupRatio(g, p);
      line.push(r === null ? '' : r.toFixed(2));
    }
    return line;
  });
  return { header, body };
}

/** Columns right-aligned to their widest cell, two spaces apart. */
export function renderText(table: Table): string {
  const all = [table.header, ...table.body];
  const widths = table.header.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  return all.map((l) => l.map((c, i) => c.padStart(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function renderMarkdown(table: Table): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const rule = line(table.header.map((_, i) => (i < 1 ? '---' : '---:')));
  return [line(table.header), rule, ...table.body.map(line)].join('\n');
}
