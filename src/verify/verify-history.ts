// Both checks of a recorded run, as the chaos command and scripts/check-history.ts run them:
// the history file is validated once (bounded reader), then checked for linearizability
// (Porcupine, per user) and for the total queue (lost / duplicated / unexpected).

import { type History, type HistoryLimits, DEFAULT_HISTORY_LIMITS, readHistory } from './history.js';
import { type CheckerOptions, type LinearizabilityVerdict, checkLinearizability } from './linearizability.js';
import { type TotalQueueReport, checkTotalQueue } from './total-queue.js';

export interface HistoryVerdict {
  /** Both checks passed: linearizable (no user timed out) and a clean total queue. */
  ok: boolean;
  ops: number;
  linearizability: LinearizabilityVerdict;
  totalQueue: TotalQueueReport;
}

export async function verifyHistory(
  path: string,
  options: CheckerOptions & { limits?: HistoryLimits } = {},
): Promise<HistoryVerdict> {
  // Reading first rejects a malformed file before the Go checker spends time on it.
  const limits = options.limits ?? DEFAULT_HISTORY_LIMITS;
  const history: History = await readHistory(path, limits);
  const totalQueue = checkTotalQueue(history.ops);
  const linearizability = await checkLinearizability({ path }, { ...options, maxLineBytes: limits.maxLineBytes });
  return {
    ok: linearizability.linearizable && totalQueue.ok,
    ops: history.ops.length,
    linearizability,
    totalQueue,
  };
}
