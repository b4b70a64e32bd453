// scripts/install-zenoh-router.sh picks the router binary in its documented order: the user's
// FORGE_ZENOH_ROUTER_BIN (refused unless it reports our version), the cache, a binary on PATH that
// reports our version (linked into the cache, where the nodes look), and only then cargo, through
// scripts/zenoh-router/build.sh. A build in the cache is reused only if it holds today's patches
// (its PATCHES file); one from before them is built again. The stand-in binaries are shell scripts that print what `zenoh-bridge-remote-api --version` prints;
// cargo is a stand-in that fails loudly, so no branch can fall through to a real build.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../src/repo-root.js';
import { zenohVersion } from '../../src/router/zenoh-router.js';

const script = join(repoRoot, 'scripts', 'install-zenoh-router.sh');

function fakeRouter(path: string, version: string): string {
  writeFileSync(path, `#!/bin/sh\necho "zenoh bridge for Remote API v${version}"\n`);
  chmodSync(path, 0o755);
  return path;
}

function run(dir: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const fakeBin = join(dir, 'fake-bin');
  mkdirSync(fakeBin, { recursive: true });
  writeFileSync(join(fakeBin, 'cargo'), '#!/bin/sh\necho "cargo must not run in this test" >&2\nexit 97\n');
  chmodSync(join(fakeBin, 'cargo'), 0o755);
  const r = spawnSync('bash', [script], {
    encoding: 'utf8',
    env: { ...process.env, FORGE_ZENOH_ROUTER_BIN: '', FORGE_ZENOH_CACHE: join(dir, 'cache'), ...env, PATH: `${env.PATH ?? fakeBin}:${fakeBin}:${dirname(process.execPath)}:/usr/bin:/bin` },
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
}

test('FORGE_ZENOH_ROUTER_BIN is used as is when it reports our version, and refused when it does not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-router-install-'));
  try {
    const mine = fakeRouter(join(dir, 'mine'), zenohVersion());
    assert.deepEqual(run(dir, { FORGE_ZENOH_ROUTER_BIN: mine }).stdout, mine);
    const old = fakeRouter(join(dir, 'old'), '1.0.0');
    const refused = run(dir, { FORGE_ZENOH_ROUTER_BIN: old });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /is not zenoh-bridge-remote-api .*says: zenoh bridge for Remote API v1\.0\.0/);
    assert.equal(refused.stdout, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a matching binary on PATH is linked into the cache; a mismatching one is passed over for the build', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-router-install-'));
  try {
    const cached = join(dir, 'cache', zenohVersion(), 'bin', 'zenoh-bridge-remote-api');
    const onPath = join(dir, 'path');
    mkdirSync(onPath);
    fakeRouter(join(onPath, 'zenoh-bridge-remote-api'), '0.11.0');
    const mismatch = run(dir, { PATH: onPath });
    assert.match(mismatch.stderr, /ignoring .*: not version/);
    assert.match(mismatch.stderr, /cargo must not run/, 'with no usable binary it goes on to the build');
    assert.notEqual(mismatch.status, 0);

    const good = fakeRouter(join(onPath, 'zenoh-bridge-remote-api'), zenohVersion());
    const linked = run(dir, { PATH: onPath });
    assert.equal(linked.status, 0, linked.stderr);
    assert.equal(linked.stdout, cached);
    assert.ok(lstatSync(cached).isSymbolicLink());
    assert.equal(readlinkSync(cached), good);

    // Next time the cache answers, even with PATH empty of routers.
    const again = run(dir, {});
    assert.equal(again.stdout, cached);
    assert.match(again.stderr, /already installed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cached binary of another version is not reused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-router-install-'));
  try {
    const cached = join(dir, 'cache', zenohVersion(), 'bin', 'zenoh-bridge-remote-api');
    mkdirSync(join(cached, '..'), { recursive: true });
    fakeRouter(cached, '9.9.9');
    const r = run(dir, {});
    assert.match(r.stderr, /cargo must not run/);
    assert.match(r.stderr, /building zenoh-bridge-remote-api .* minutes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cached build is reused only with the patches build.sh applies today', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-router-install-'));
  try {
    const prefix = join(dir, 'cache', zenohVersion());
    const cached = join(prefix, 'bin', 'zenoh-bridge-remote-api');
    mkdirSync(join(cached, '..'), { recursive: true });
    fakeRouter(cached, zenohVersion());

    // A build from before the patches (no PATCHES file): built again, through build.sh.
    const old = run(dir, {});
    assert.match(old.stderr, /lacks the patches of scripts\/zenoh-router\/ \(remote-api-nodelay remote-api-pending-queries\): not reused/);
    assert.match(old.stderr, /building zenoh-bridge-remote-api .* minutes/);
    assert.match(old.stderr, /cargo must not run/);
    assert.notEqual(old.status, 0);

    writeFileSync(join(prefix, 'PATCHES'), 'some-other-patch\n');
    assert.match(run(dir, {}).stderr, /not reused/);

    // A build with only the first patch (the cache of a release before the second): built again.
    writeFileSync(join(prefix, 'PATCHES'), 'remote-api-nodelay\n');
    assert.match(run(dir, {}).stderr, /not reused/);

    writeFileSync(join(prefix, 'PATCHES'), 'remote-api-nodelay\nremote-api-pending-queries\n');
    const current = run(dir, {});
    assert.equal(current.status, 0, current.stderr);
    assert.equal(current.stdout, cached);
    assert.match(current.stderr, /already installed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
