// Checks a recorded history again, offline: `npx tsx scripts/check-history.ts HISTORY.jsonl
// [--timeout-ms N] [--max-memory-mb N] [--visualize DIR] [--json]`. Prints a summary (or the full verdict with --json).
// Exit status: 0 both checks pass, 1 a check failed, 2 the history or the arguments are unusable.

import { HistoryFormatError } from '../src/verify/history.js';
import { LinearizabilityCheckError } from '../src/verify/linearizability.js';
import { verifyHistory } from '../src/verify/verify-history.js';
import { totalQueueProblems } from '../src/verify/total-queue.js';

function usage(problem: string): never {
  console.error(`${problem}\nusage: check-history HISTORY.jsonl [--timeout-ms N] [--max-memory-mb N] [--visualize DIR] [--json]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let path: string | undefined;
let timeoutMs = 60_000;
let visualizeDir: string | undefined;
// Porcupine's heap limit (the checker's default, 4 GiB, when absent); 0 for none.
let maxMemoryMb: number | undefined;
let json = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--json') json = true;
  else if (a === '--visualize') visualizeDir = args[++i] ?? usage('--visualize needs a directory');
  else if (a === '--timeout-ms') {
    timeoutMs = Number(args[++i]);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) usage('--timeout-ms needs a non-negative integer');
  } else if (a === '--max-memory-mb') {
    maxMemoryMb = Number(args[++i]);
    if (!Number.isSafeInteger(maxMemoryMb) || maxMemoryMb < 0 || maxMemoryMb > 1024 * 1024) usage('--max-memory-mb needs an integer from 0 to 1048576');
  } else if (a.startsWith('--') || path !== undefined) usage(`unexpected argument ${a}`);
  else path = a;
}
if (path === undefined) usage('no history file given');

try {
  const v = await verifyHistory(path, {
    timeoutMs,
    ...(visualizeDir === undefined ? {} : { visualizeDir }),
    ...(maxMemoryMb === undefined ? {} : { maxMemoryBytes: maxMemoryMb * 1024 * 1024 }),
  });
  if (json) {
    console.log(JSON.stringify(v, null, 2));
  } else {
    const lin = v.linearizability;
    const tq = v.totalQueue;
    console.log(`${v.ops} ops, ${lin.users} users`);
    for (const [user, u] of Object.entries(lin.perUser)) {
      if (u.result === 'ok') continue;
      const detail = [u.reason, u.stuckOps && `first stuck op ${u.stuckOps[0]}`, u.visualization].filter(Boolean);
      console.log(`  ${user}: ${u.result}${detail.length > 0 ? ` (${detail.join('; ')})` : ''}`);
    }
    console.log(`linearizable: ${lin.linearizable}${lin.timedOut ? ' (some users timed out)' : ''}`);
    console.log(`total queue: ${tq.ok ? 'ok' : 'FAILED'} ${JSON.stringify(tq.counts)}`);
    const problems = totalQueueProblems(tq);
    for (const [name, list] of Object.entries(problems)) {
      if (list.length > 0) console.log(`  ${name}: ${JSON.stringify(list.slice(0, 20))}${list.length > 20 ? ' ...' : ''}`);
    }
  }
  process.exit(v.ok ? 0 : 1);
} catch (e) {
  if (e instanceof HistoryFormatError || e instanceof LinearizabilityCheckError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}
