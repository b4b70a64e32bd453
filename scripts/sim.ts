// Runs the deterministic Raft simulation over many seeds: `npm run sim -- --seeds N`
// [--from F] [--steps K] [--nodes 3|5]. A failing seed prints its number; `--seed S` replays
// exactly that run.

import { runSimulation } from '../src/sim/cluster.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function intArg(name: string, fallback: number): number {
  const raw = arg(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) {
    console.error(`--${name} must be a non-negative integer, got ${raw}`);
    process.exit(2);
  }
  return v;
}

const steps = intArg('steps', 600);
const sizes = arg('nodes') === undefined ? [3, 5] : [intArg('nodes', 3)];
if (sizes.some((n) => n < 1 || n > 9)) {
  console.error('--nodes must be between 1 and 9');
  process.exit(2);
}
const only = arg('seed');
const seeds = only === undefined
  ? Array.from({ length: intArg('seeds', 100) }, (_, i) => intArg('from', 1) + i)
  : [intArg('seed', 0)];

const started = Date.now();
let failed = 0;
for (const seed of seeds) {
  let seedFailed = false;
  for (const nodes of sizes) {
    const r = await runSimulation({ seed, nodes, steps });
    if (!r.ok) {
      seedFailed = true;
      console.log(`FAIL seed ${seed} (${nodes} nodes): ${r.error}`);
      console.log(`  replay: npm run sim -- --seed ${seed} --steps ${steps} --nodes ${nodes}`);
    } else if (only !== undefined) {
      console.log(`ok seed ${seed} (${nodes} nodes):`, JSON.stringify(r));
    }
  }
  if (seedFailed) failed++;
}
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.log(`${seeds.length - failed}/${seeds.length} seeds passed (${sizes.join(' and ')} nodes, ${steps} steps) in ${secs}s`);
process.exit(failed === 0 ? 0 : 1);
