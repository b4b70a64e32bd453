// The checkout this code runs from, found by walking up to package.json, so the same code works
// when run from sources (tsx) and when compiled under dist/ (whose own package.json, if any, is
// skipped). The one home of this lookup for the CLI, the tests, the scripts and the benchmarks.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && !dir.endsWith('/dist')) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** The Python of the checkout's venv (`npm run setup`, scripts/setup-python.sh): the Python client's tests and benchmark run on it. */
export const venvPython = join(repoRoot, '.venv', 'bin', 'python');
