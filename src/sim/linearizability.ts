// Linearizability of the append-log history. The order of writes is fixed by the log (the
// canonical list every replica applied); a read that returned a list of length L takes effect
// between write L-1 and write L. The history is linearizable iff those points respect real time:
// an operation that finished before another started must come first.

export interface WriteOp {
  kind: 'write';
  value: number;
  invokedAt: number;
  /** Undefined while pending or if the outcome is unknown (leader lost, crash). */
  respondedAt?: number;
  /** Position the state machine answered. */
  position?: number;
}

export interface ReadOp {
  kind: 'read';
  invokedAt: number;
  respondedAt?: number;
  result?: number[];
}

export type Op = WriteOp | ReadOp;

/** Returns a description of the first violation, or null if the history is linearizable. */
export function checkLinearizable(history: Op[], canonical: number[]): string | null {
  const position = new Map<number, number>();
  for (let i = 0; i < canonical.length; i++) {
    const v = canonical[i]!;
    if (position.has(v)) return `value ${v} applied twice (positions ${position.get(v)} and ${i})`;
    position.set(v, i);
  }
  // The linearization point of each op that took effect, as a sortable key: write at 2p+1, read at 2L.
  const point = (op: Op): number | null => {
    if (op.kind === 'write') {
      const p = position.get(op.value);
      return p === undefined ? null : 2 * p + 1;
    }
    return op.result === undefined ? null : 2 * op.result.length;
  };
  for (const op of history) {
    if (op.respondedAt === undefined) continue;
    if (op.kind === 'write') {
      const p = position.get(op.value);
      if (p === undefined) return `acknowledged write ${op.value} is not in the log`;
      if (op.position !== p) return `write ${op.value} answered position ${op.position}, log has it at ${p}`;
    } else {
      const r = op.result!;
      for (let i = 0; i < r.length; i++) {
        if (canonical[i] !== r[i]) return `read at ${op.invokedAt} saw ${r[i]} at position ${i}, log has ${canonical[i]}`;
      }
    }
  }
  const done = history.filter((op) => op.respondedAt !== undefined);
  for (const a of done) {
    const pa = point(a)!;
    for (const b of history) {
      if (b.invokedAt <= a.respondedAt!) continue;
      const pb = point(b);
      if (pb === null) continue;
      // Reads at the same point may be in any order; everything else must strictly follow.
      const ok = a.kind === 'read' && b.kind === 'read' ? pa <= pb : pa < pb;
      if (!ok) return `${describe(a)} finished at ${a.respondedAt} but ${describe(b)} started at ${b.invokedAt} and took effect before it`;
    }
  }
  return null;
}

function describe(op: Op): string {
  return op.kind === 'write' ? `write ${op.value}` : `read of length ${op.result?.length}`;
}
