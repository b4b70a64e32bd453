// Fuzzes every decoder (test/fuzz/targets.ts) with generated and mutated inputs:
// `npm run fuzz -- --runs 1000000 [--target NAME] [--seed S] [--sweep N]`. Prints per decoder
// the inputs run, the time, the worst single decode (time, memory growth) and the outcome
// categories; exits 1 if any input failed (each failure is printed with its input, and the same
// --seed replays the run exactly). `--sweep N` also writes every inflated length field at every
// position of N valid encodings per decoder (harness.ts inflationSweep).

import { failed, formatReport, fuzzTarget, inflationSweep, type FuzzReport } from '../test/fuzz/harness.js';
import { fuzzTargets } from '../test/fuzz/targets.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function intArg(name: string, fallback: number): number {
  const raw = arg(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 0) {
    console.error(`--${name} must be a non-negative integer, got ${raw}`);
    process.exit(2);
  }
  return v;
}

const runs = intArg('runs', 10_000);
const seed = intArg('seed', 1);
const sweep = intArg('sweep', 0);
const only = arg('target');
const targets = (await fuzzTargets()).filter((t) => only === undefined || t.name === only);
if (targets.length === 0) {
  console.error(`no target named ${only}; targets: ${(await fuzzTargets()).map((t) => t.name).join(', ')}`);
  process.exit(2);
}

const started = Date.now();
const reports: FuzzReport[] = [];
for (const t of targets) {
  const r = await fuzzTarget(t, runs, seed);
  reports.push(r);
  console.log(formatReport(r), ` [${t.covers}]`);
  if (sweep > 0) {
    const s = await inflationSweep(t, sweep, seed);
    reports.push(s);
    console.log(formatReport({ ...s, target: `${t.name} (sweep)` }));
  }
}
let failures = 0;
for (const r of reports) {
  failures += failed(r);
  for (const f of r.failures) console.log(`FAIL ${r.target}: ${f}`);
}
const total = reports.reduce((n, r) => n + r.runs, 0);
console.log(`${total} inputs over ${targets.length} decoders in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${seed}): ${failures === 0 ? 'no failures' : `${failures} FAILED`}`);
process.exit(failures === 0 ? 0 : 1);
