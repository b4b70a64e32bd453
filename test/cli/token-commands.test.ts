// `forge-mailbox token keygen` / `token issue`, run as the real CLI (bin/forge-mailbox over dist).

import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readJwks } from '../../src/auth/key-files.js';
import { TokenVerifier } from '../../src/auth/tokens.js';
import { cliPath, runProgram } from '../support/e2e.js';
import { tempDir } from '../support/temp-dir.js';

const cli = (...args: string[]) => runProgram(cliPath, args);

test('keygen writes a 0600 signing key and a JWKS; issue makes tokens the nodes accept; a second keygen rotates', async (t) => {
  const dir = tempDir(t, 'forge-token-cli-');
  const keyFile = join(dir, 'keys', 'signing-1.jwk');
  const jwksFile = join(dir, 'keys', 'jwks.json');
  const gen = await cli('token', 'keygen', '--key-file', keyFile, '--jwks-file', jwksFile);
  assert.equal(gen.code, 0, gen.stderr);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal((await cli('token', 'keygen', '--key-file', keyFile, '--jwks-file', jwksFile)).code, 3, 'an existing key file is never overwritten');

  const out = join(dir, 'alice.token');
  const issued = await cli('token', 'issue', '--key-file', keyFile, '--cluster', 'c1', '--sub', 'alice-app', '--users', 'alice', '--ops', 'consume,peek,ack', '--ttl', '2h', '--out', out);
  assert.equal(issued.code, 0, issued.stderr);
  assert.equal(issued.stdout, '', 'with --out the token is not printed');
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const verifier = new TokenVerifier({ jwks: readJwks(jwksFile), audience: 'c1' });
  const cap = await verifier.verify(readFileSync(out, 'utf8').trim());
  assert.equal(cap.principal, 'alice-app');
  assert.deepEqual([...cap.ops].sort(), ['ack', 'consume', 'peek']);
  assert.ok(Math.abs(cap.expiresAt - (Date.now() + 2 * 3600_000 + 30_000)) < 60_000);

  const key2 = join(dir, 'keys', 'signing-2.jwk');
  assert.equal((await cli('token', 'keygen', '--key-file', key2, '--jwks-file', jwksFile)).code, 0);
  assert.equal(readJwks(jwksFile).keys.length, 2);
  const printed = await cli('token', 'issue', '--key-file', key2, '--cluster', 'c1', '--sub', 'svc', '--users', '*', '--ops', 'put');
  assert.equal(printed.code, 0, printed.stderr);
  const rotated = new TokenVerifier({ jwks: readJwks(jwksFile), audience: 'c1' });
  assert.equal((await rotated.verify(printed.stdout.trim())).users, '*');
  await rotated.verify(readFileSync(out, 'utf8').trim());
});

test('bad input to token issue exits 3 with a reason and writes nothing', async (t) => {
  const dir = tempDir(t, 'forge-token-cli-');
  const keyFile = join(dir, 'k.jwk');
  assert.equal((await cli('token', 'keygen', '--key-file', keyFile, '--jwks-file', join(dir, 'jwks.json'))).code, 0);
  const base = ['token', 'issue', '--key-file', keyFile, '--cluster', 'c1', '--sub', 'a'];
  const badOp = await cli(...base, '--users', 'a', '--ops', 'consume,steal');
  assert.equal(badOp.code, 3);
  assert.match(badOp.stderr, /unknown operation "steal"/);
  const badTtl = await cli(...base, '--users', 'a', '--ops', 'put', '--ttl', '400d');
  assert.equal(badTtl.code, 3);
  assert.match(badTtl.stderr, /duration/);
  const badUser = await cli(...base, '--users', 'a/b', '--ops', 'put');
  assert.equal(badUser.code, 3);
  assert.match(badUser.stderr, /user id/);
  const noKey = await cli('token', 'issue', '--key-file', join(dir, 'missing.jwk'), '--cluster', 'c1', '--sub', 'a', '--users', 'a', '--ops', 'put');
  assert.equal(noKey.code, 3);
  assert.match(noKey.stderr, /missing\.jwk/);
});
