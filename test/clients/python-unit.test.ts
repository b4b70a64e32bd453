// Runs the Python client's unit tests (clients/python/test_forge_mailbox.py: its request and
// retry policy on a fake transport, stdlib unittest, no Zenoh) so that `npm test` covers them.

import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, runProgram, venvPython } from '../support/e2e.js';

test('the Python client unit tests pass', { timeout: 120_000 }, async () => {
  const python = venvPython;
  assert.ok(existsSync(python), `${python} missing: run scripts/setup-python.sh`);
  const r = await runProgram(python, ['-m', 'unittest', 'discover', '-s', join(repoRoot, 'clients', 'python')], 120_000, { PYTHONDONTWRITEBYTECODE: '1' });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^OK$/m);
});
