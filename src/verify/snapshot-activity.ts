// What the nodes' logs say about snapshots during a run: each take ("snapshot taken"), install of
// a leader's image ("installed snapshot from leader") and load at start ("restored snapshot from
// disk"), with the phase of the run it fell in, so that a report can say
// whether snapshots really happened while the faults did.

export type SnapshotEventKind = 'taken' | 'installed' | 'restored';
export type RunPhase = 'before' | 'faults' | 'after';

export interface SnapshotEvent {
  node: string;
  kind: SnapshotEventKind;
  phase: RunPhase;
  /** Wall-clock ms (the log line's time). */
  time: number;
  index: number;
  bytes: number;
  /** How long it took from start to end, ms (takes: wall time in slices; installs, loads: the restore). */
  ms: number;
}

const MESSAGES: Record<string, SnapshotEventKind> = {
  'snapshot taken': 'taken',
  'installed snapshot from leader': 'installed',
  'restored snapshot from disk': 'restored',
};

/**
 * The snapshot events of one node's log (pino JSON, one object a line; lines cut by kill -9 are
 * skipped). Events before `faultsFrom` are 'before' (the fill, the restarts), from it to `faultsUntil` the faults'.
 */
export function snapshotEvents(node: string, log: string, faultsFrom: number, faultsUntil: number): SnapshotEvent[] {
  const out: SnapshotEvent[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('snapshot')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const kind = typeof o.msg === 'string' ? MESSAGES[o.msg] : undefined;
    if (kind === undefined) continue;
    const time = Number(o.time);
    out.push({
      node,
      kind,
      phase: time < faultsFrom ? 'before' : time <= faultsUntil ? 'faults' : 'after',
      time,
      index: Number(o.index),
      bytes: Number(o.bytes),
      ms: Number(o.ms),
    });
  }
  return out;
}

/** One line per node and kind: how many in each phase, the largest image and the longest time. */
export function formatSnapshotActivity(events: readonly SnapshotEvent[]): string[] {
  const lines: string[] = [];
  const nodes = [...new Set(events.map((e) => e.node))].sort();
  for (const node of nodes) {
    for (const kind of ['taken', 'installed', 'restored'] as const) {
      const mine = events.filter((e) => e.node === node && e.kind === kind);
      if (mine.length === 0) continue;
      const by = (phase: RunPhase) => mine.filter((e) => e.phase === phase).length;
      const largest = Math.max(...mine.map((e) => e.bytes));
      const longest = Math.max(...mine.map((e) => e.ms));
      lines.push(
        `${node} ${kind.padEnd(9)} ${mine.length} (before ${by('before')}, faults ${by('faults')}, after ${by('after')}); ` +
          `largest ${(largest / 1048576).toFixed(1)} MiB, longest ${longest} ms`,
      );
    }
  }
  return lines;
}
