// Reads series out of a Prometheus text page (a node's /metrics), for the end-to-end tests and
// the benchmarks that count what a node did.

/** Every series of `name` on the page whose labels include `labels`, with its value. */
function* seriesOf(page: string, name: string, labels: Record<string, string>): Generator<number> {
  for (const line of page.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const have = Object.fromEntries(body.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 2, -1)]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) yield Number(line.slice(line.lastIndexOf(' ') + 1));
  }
}

/** The sum of every series of `name` whose labels include `labels` (0 when there are none). */
export function metricSum(page: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const value of seriesOf(page, name, labels)) sum += value;
  return sum;
}

/** The value of one series (counter or gauge) in a Prometheus text page, 0 when absent; `labels` need only name some of its labels. */
export function metricValue(page: string, name: string, labels: Record<string, string> = {}): number {
  for (const value of seriesOf(page, name, labels)) return value;
  return 0;
}
