// Every launcher of a node process passes NODE_HEAP_FLAGS: the TypeScript ones import them, the
// bash launcher (images, operators) spells them out, and this holds it to them; and node accepts
// them (a misspelt V8 option is an error at start).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NODE_HEAP_FLAGS } from '../../src/node/node-heap-flags.js';
import { repoRoot } from '../../src/repo-root.js';

test('bin/forge-mailbox starts node with NODE_HEAP_FLAGS', () => {
  const launcher = readFileSync(join(repoRoot, 'bin', 'forge-mailbox'), 'utf8');
  const exec = launcher.split('\n').find((line) => line.startsWith('exec node '));
  assert.ok(exec, 'the launcher execs node');
  for (const flag of NODE_HEAP_FLAGS) assert.ok(exec.split(' ').includes(flag), `${flag} in: ${exec}`);
});

test('node accepts NODE_HEAP_FLAGS', () => {
  const out = execFileSync(process.execPath, [...NODE_HEAP_FLAGS, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' });
  assert.equal(out, 'ok');
  assert.throws(() => execFileSync(process.execPath, ['--max-semi-space-sise=64', '-e', ''], { stdio: 'pipe' }), 'a misspelt option fails');
});
