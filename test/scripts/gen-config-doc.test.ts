import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { END_MARKER, START_MARKER, configReference, spliceReference } from '../../scripts/config-reference.js';
import { repoRoot } from '../../src/repo-root.js';
import { tempDir } from '../support/temp-dir.js';

// Runs the script the way this test runs: from sources through tsx, or compiled from dist/.
const ext = extname(fileURLToPath(import.meta.url));
const script = fileURLToPath(new URL(`../../scripts/gen-config-doc${ext}`, import.meta.url));

function genConfigDoc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const argv = ext === '.ts' ? ['--import', 'tsx', script, ...args] : [script, ...args];
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('README.md holds the current configuration reference between its markers', () => {
  const readmePath = join(repoRoot, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const current = spliceReference(readme, configReference());
  assert.ok(current !== null, `README.md must contain ${START_MARKER} and ${END_MARKER}`);
  assert.ok(current === readme, 'README.md\'s configuration reference is stale: run node --import tsx scripts/gen-config-doc.ts --write');
});

test('--check fails on a stale README, --write brings it up to date, then --check passes', (t) => {
  const readme = join(tempDir(t, 'gen-config-doc-'), 'README.md');
  writeFileSync(readme, `# Doc\n\n${START_MARKER}\n| stale |\n${END_MARKER}\n\nrest\n`);

  const stale = genConfigDoc('--check', '--readme', readme);
  assert.equal(stale.status, 1, stale.stderr);
  assert.match(stale.stderr, /out of date/);

  const write = genConfigDoc('--write', '--readme', readme);
  assert.equal(write.status, 0, write.stderr);
  assert.equal(readFileSync(readme, 'utf8'), `# Doc\n\n${START_MARKER}\n${configReference()}\n${END_MARKER}\n\nrest\n`);

  const ok = genConfigDoc('--check', '--readme', readme);
  assert.equal(ok.status, 0, ok.stderr);
});

test('without markers, --check fails and --write prints the reference instead of touching the file', (t) => {
  const readme = join(tempDir(t, 'gen-config-doc-'), 'README.md');
  writeFileSync(readme, '# No markers\n');

  const check = genConfigDoc('--check', '--readme', readme);
  assert.equal(check.status, 1);
  assert.match(check.stderr, /lacks the markers/);

  const write = genConfigDoc('--write', '--readme', readme);
  assert.equal(write.status, 0, write.stderr);
  assert.equal(write.stdout, `${configReference()}\n`);
  assert.equal(readFileSync(readme, 'utf8'), '# No markers\n');
});
