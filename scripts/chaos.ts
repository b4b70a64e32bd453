// Fault-injection run against a real local cluster (see docs/chaos.md):
//   npm run chaos -- [--nodes 3|5] [--time SECONDS] [--seed S] [--history FILE]
//                    [--faults kind,kind...] [--workers N] [--readers N] [--lease-ms MS] [--check-timeout-ms MS]
//                    [--unsafe MUTATION] [--keep] [--json]
//                    [--backlog MESSAGES [--backlog-mailboxes N] [--body-bytes B] [--backlog-in-flight N]] [--snapshot-entries N]
// --backlog fills mailboxes of their own with that many acknowledged puts before the faults start,
// counts them after the run, and has the nodes snapshot every --snapshot-entries entries (default
// 500 with a backlog) so that snapshots of the whole backlog happen during the faults.
// Prints the verdict; exit status 0 clean, 1 anomalies found, 2 bad arguments or the run could
// not be carried out. A failing seed is rerun with the same --seed; its history can be checked
// again offline with scripts/check-history.ts.

import { FAULT_KINDS, type FaultKind } from '../src/verify/nemesis.js';
import { formatReport, isUnsafeMode, runChaos, UNSAFE_MODES } from '../src/verify/chaos.js';

function usage(problem: string): never {
  console.error(
    `${problem}\nusage: chaos [--nodes 3|5] [--time SECONDS] [--seed S] [--history FILE] [--faults ${FAULT_KINDS.join(',')}]` +
      ` [--workers N] [--readers N] [--lease-ms MS] [--check-timeout-ms MS] [--unsafe ${UNSAFE_MODES.join('|')}] [--keep] [--json]` +
      ` [--backlog MESSAGES [--backlog-mailboxes N] [--body-bytes B] [--backlog-in-flight N]] [--snapshot-entries N]`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const values = new Map<string, string>();
const flags = new Set<string>();
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--keep' || a === '--json') flags.add(a.slice(2));
  else if (['--nodes', '--time', '--seed', '--history', '--faults', '--workers', '--readers', '--lease-ms', '--check-timeout-ms', '--unsafe', '--backlog', '--backlog-mailboxes', '--body-bytes', '--backlog-in-flight', '--snapshot-entries'].includes(a)) {
    const v = args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    values.set(a.slice(2), v);
  } else usage(`unexpected argument ${a}`);
}

function int(name: string, fallback: number, min: number, max: number): number {
  const raw = values.get(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min || v > max) usage(`--${name} must be an integer in [${min}, ${max}], got ${raw}`);
  return v;
}

const nodes = int('nodes', 3, 1, 9);
const timeSec = int('time', 60, 5, 24 * 3600);
const seed = int('seed', Math.floor(Math.random() * 1_000_000), 0, 2 ** 31 - 1);
const workers = int('workers', 5, 1, 64);
const readers = int('readers', 2, 0, 64);
const leaseMs = int('lease-ms', 1500, 100, 60_000);
const checkTimeoutMs = int('check-timeout-ms', 120_000, 0, 24 * 3600 * 1000);
const backlogMessages = int('backlog', 0, 0, 100_000_000);
const backlogMailboxes = int('backlog-mailboxes', Math.max(1, Math.ceil(backlogMessages / 10_000)), 1, 1_000_000);
// The node's default mailbox.maxMessagesPerMailbox.
if (backlogMessages / backlogMailboxes > 100_000) usage(`--backlog-mailboxes: at most 100000 messages per mailbox (the nodes' default limit)`);
const bodyBytes = int('body-bytes', 100, 1, 1024 * 1024);
const backlogInFlight = int('backlog-in-flight', 256, 1, 4096);
const snapshotEntries = values.has('snapshot-entries') ? int('snapshot-entries', 0, 1, 100_000_000) : undefined;
let faults: FaultKind[] | undefined;
const faultList = values.get('faults');
if (faultList !== undefined) {
  faults = faultList.split(',').map((f) => {
    if (!(FAULT_KINDS as readonly string[]).includes(f)) usage(`unknown fault kind ${f}`);
    return f as FaultKind;
  });
}
const unsafe = values.get('unsafe');
if (unsafe !== undefined && !isUnsafeMode(unsafe)) usage(`unknown unsafe mode ${unsafe} (the mutations the chaos runner must catch: ${UNSAFE_MODES.join(', ')})`);

const json = flags.has('json');
try {
  const report = await runChaos({
    nodes,
    timeSec,
    seed,
    workers,
    readers,
    leaseMs,
    checkTimeoutMs,
    keepFiles: flags.has('keep'),
    ...(values.has('history') ? { historyPath: values.get('history')! } : {}),
    ...(faults === undefined ? {} : { faults }),
    ...(unsafe === undefined || !isUnsafeMode(unsafe) ? {} : { unsafe }),
    ...(backlogMessages === 0
      ? {}
      : { backlog: { messages: backlogMessages, mailboxes: backlogMailboxes, bodyBytes, inFlight: backlogInFlight, sessions: 4 } }),
    ...(snapshotEntries === undefined ? {} : { snapshotEntries }),
    log: (line) => {
      if (!json) console.error(`[${new Date().toISOString().slice(11, 23)}] ${line}`);
    },
  });
  console.log(json ? JSON.stringify(report, null, 2) : formatReport(report));
  process.exit(report.clean ? 0 : 1);
} catch (e) {
  console.error(`chaos run failed (seed ${seed}): ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(2);
}
