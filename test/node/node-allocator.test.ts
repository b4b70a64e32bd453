// Every launcher of a node process preloads jemalloc the same way: the TypeScript ones through
// nodeAllocatorEnv, the bash launcher (images, operators) with its own lookup, which these tests
// hold to it; and a node process started so really runs on jemalloc.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { JEMALLOC_CANDIDATES, nodeAllocatorEnv, runningAllocator } from '../../src/node/node-allocator.js';
import { repoRoot } from '../../src/repo-root.js';

const only = (path: string) => (p: string) => p === path;
const none = () => false;

test('auto and jemalloc preload the first jemalloc found; auto without one, and system, leave the environment alone', () => {
  const second = JEMALLOC_CANDIDATES[1]!;
  assert.equal(nodeAllocatorEnv({ A: '1' }, undefined, only(second)).LD_PRELOAD, second);
  assert.equal(nodeAllocatorEnv({}, 'auto', () => true).LD_PRELOAD, JEMALLOC_CANDIDATES[0]);
  assert.equal(nodeAllocatorEnv({}, 'jemalloc', only(second)).LD_PRELOAD, second);
  assert.equal(nodeAllocatorEnv({ A: '1' }, undefined, only(second)).A, '1', 'the rest of the environment is kept');
  assert.deepEqual(nodeAllocatorEnv({ A: '1' }, 'auto', none), { A: '1' });
  assert.deepEqual(nodeAllocatorEnv({ A: '1' }, '', none), { A: '1' });
  assert.deepEqual(nodeAllocatorEnv({ A: '1' }, 'system', () => true), { A: '1' });
});

test('an LD_PRELOAD already set is kept after jemalloc, and one naming jemalloc is left as it is', () => {
  const lib = JEMALLOC_CANDIDATES[0]!;
  assert.equal(nodeAllocatorEnv({ LD_PRELOAD: '/opt/other.so' }, 'auto', only(lib)).LD_PRELOAD, `${lib}:/opt/other.so`);
  assert.equal(nodeAllocatorEnv({ LD_PRELOAD: '/opt/libjemalloc.so.2' }, 'auto', only(lib)).LD_PRELOAD, '/opt/libjemalloc.so.2');
});

test('jemalloc asked for and missing, or an unknown choice, is refused with a clear error', () => {
  assert.throws(() => nodeAllocatorEnv({}, 'jemalloc', none), /FORGE_ALLOCATOR=jemalloc, but none of .* exists \(Debian: apt-get install libjemalloc2\)/);
  assert.throws(() => nodeAllocatorEnv({}, 'tcmalloc', () => true), /FORGE_ALLOCATOR must be one of auto, jemalloc, system, got 'tcmalloc'/);
});

test('the allocator a process runs with is read from its memory map', () => {
  assert.equal(runningAllocator(() => '7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n'), 'jemalloc');
  assert.equal(runningAllocator(() => '7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n'), 'system');
  assert.equal(
    runningAllocator(() => {
      throw new Error('ENOENT');
    }),
    'unknown',
  );
});

test('bin/forge-mailbox looks for jemalloc where nodeAllocatorEnv does', () => {
  const launcher = readFileSync(join(repoRoot, 'bin', 'forge-mailbox'), 'utf8');
  const line = launcher.split('\n').find((l) => l.trim().startsWith('for candidate in '));
  assert.ok(line, 'the launcher has a candidate list');
  const listed = line.trim().replace(/^for candidate in /, '').replace(/; do$/, '').split(' ');
  assert.deepEqual(listed, JEMALLOC_CANDIDATES);
});

test('bin/forge-mailbox starts node with the LD_PRELOAD nodeAllocatorEnv gives, and refuses what it refuses', (t) => {
  // A `node` first on PATH that prints the LD_PRELOAD it was started with.
  const dir = mkdtempSync(join(tmpdir(), 'forge-allocator-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'node'), '#!/bin/sh\nprintf "%s" "${LD_PRELOAD:-}"\n');
  chmodSync(join(dir, 'node'), 0o755);
  const run = (env: NodeJS.ProcessEnv) => {
    const base: NodeJS.ProcessEnv = { PATH: `${dir}:${process.env.PATH}`, ...env };
    return spawnSync(join(repoRoot, 'bin', 'forge-mailbox'), ['--version'], { env: base, encoding: 'utf8' });
  };
  for (const choice of [undefined, 'auto', 'system']) {
    const r = run(choice === undefined ? {} : { FORGE_ALLOCATOR: choice });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, nodeAllocatorEnv({}, choice).LD_PRELOAD ?? '', `FORGE_ALLOCATOR=${choice}`);
  }
  const kept = run({ LD_PRELOAD: '/opt/other.so' });
  assert.equal(kept.stdout, nodeAllocatorEnv({ LD_PRELOAD: '/opt/other.so' }, undefined).LD_PRELOAD);
  const bad = run({ FORGE_ALLOCATOR: 'tcmalloc' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /FORGE_ALLOCATOR must be one of auto, jemalloc, system, got 'tcmalloc'/);
  const asked = run({ FORGE_ALLOCATOR: 'jemalloc' });
  if (JEMALLOC_CANDIDATES.some((p) => existsSync(p))) {
    assert.equal(asked.status, 0, asked.stderr);
    assert.equal(asked.stdout, nodeAllocatorEnv({}, 'jemalloc').LD_PRELOAD);
  } else {
    assert.equal(asked.status, 1);
    assert.match(asked.stderr, /FORGE_ALLOCATOR=jemalloc, but no libjemalloc.so.2 was found/);
  }
});

test('a node process started with nodeAllocatorEnv runs on jemalloc when the machine has it', (t) => {
  const env = nodeAllocatorEnv({ ...process.env, LD_PRELOAD: '' }, 'auto');
  const script = "const { readFileSync } = require('node:fs'); process.stdout.write(readFileSync('/proc/self/maps', 'utf8').includes('libjemalloc') ? 'jemalloc' : 'system')";
  const seen = execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  if (!JEMALLOC_CANDIDATES.some((p) => existsSync(p))) {
    assert.equal(seen, 'system');
    t.skip('no libjemalloc.so.2 on this machine (Debian: apt-get install libjemalloc2): only the fallback was checked');
    return;
  }
  assert.equal(seen, 'jemalloc');
  assert.equal(execFileSync(process.execPath, ['-e', script], { env: nodeAllocatorEnv({ ...process.env, LD_PRELOAD: '' }, 'system'), encoding: 'utf8' }), 'system');
});
