// scripts/make-router-secrets.ts makes the compose deployment's CA, certificates, passwords and
// router configs. Checked here with the real router binary: a tls/ listener on the generated
// router certificate accepts a client that trusts the generated CA and logs in, and refuses a
// client that does not trust it.

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { COMPOSE_CLUSTER_ID, makeComposeSecrets, ROUTERS } from '../../scripts/compose-secrets.js';
import { readJwks } from '../../src/auth/key-files.js';
import { TokenVerifier } from '../../src/auth/tokens.js';
import { nativeClientConfig, nodesRouterConfig, renderConfig } from '../../src/router/router-config.js';
import { parseUsersFile } from '../../src/router/router-secrets.js';
import { writeSecretFile } from '../../src/secret-files.js';
import { repoRoot, venvPython } from '../../src/repo-root.js';
import { freePort, spawnZenoh, waitForPort } from '../../src/router/zenoh-router.js';
import { tempDir } from '../support/temp-dir.js';

const run = promisify(execFile);

test('the secrets directory is private, complete, and stable across re-runs', async (t) => {
  const dir = await makeComposeSecrets(join(tempDir(t, 'forge-secrets-'), 'secrets'));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const files = readdirSync(dir).sort();
  // Everything is 0600 but the JWKS: public keys, which the node containers' own user must read.
  for (const f of files) assert.equal(statSync(join(dir, f)).mode & 0o777, f === 'jwks.json' ? 0o644 : f === 'peer-tls' ? 0o700 : 0o600, f);
  // The peer links' CA and node certificates: private keys 0600 in the 0700 directory.
  const peerTls = readdirSync(join(dir, 'peer-tls')).sort();
  assert.deepEqual(peerTls, ['ca.crt', 'ca.key', 'n1.crt', 'n1.key', 'n2.crt', 'n2.key', 'n3.crt', 'n3.key']);
  for (const f of peerTls.filter((name) => name.endsWith('.key'))) assert.equal(statSync(join(dir, 'peer-tls', f)).mode & 0o777, 0o600, f);
  for (const r of ROUTERS) for (const ext of ['crt', 'key', 'json5']) assert.ok(files.includes(`${r}.${ext}`), `${r}.${ext}`);
  for (const f of ['ca.crt', 'ca.key', 'gateway.crt', 'gateway.key', 'gateway.json5', 'client.json5', 'zenoh-users.txt', 'compose.env', 'token-signing-key.jwk', 'jwks.json', 'admin.token']) {
    assert.ok(files.includes(f), f);
  }
  const users = parseUsersFile(readFileSync(join(dir, 'zenoh-users.txt'), 'utf8'), 'users');
  assert.deepEqual([...users.keys()].sort(), ['client', 'gateway', 'router']);
  const router1 = readFileSync(join(dir, 'router-1.json5'), 'utf8');
  assert.match(router1, /"tls\/router-2:7447"/);
  assert.ok(router1.includes(users.get('router')!), 'router-1 presents the router password on its mesh links');
  const env = readFileSync(join(dir, 'compose.env'), 'utf8');
  assert.deepEqual(env.split('\n').filter(Boolean).map((l) => l.split('=')[0]), ['FORGE_ROUTER_SECRETS', 'FORGE_SECRETS_UID'], 'compose.env holds no token: the healthcheck needs none');
  const verifier = new TokenVerifier({ jwks: readJwks(join(dir, 'jwks.json')), audience: COMPOSE_CLUSTER_ID });
  assert.equal((await verifier.verify(readFileSync(join(dir, 'admin.token'), 'utf8').trim())).principal, 'compose-operator');
  const before = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const peerCertBefore = readFileSync(join(dir, 'peer-tls', 'n1.crt'), 'utf8');
  const jwksBefore = readFileSync(join(dir, 'jwks.json'), 'utf8');
  await makeComposeSecrets(dir);
  assert.equal(readFileSync(join(dir, 'ca.crt'), 'utf8'), before, 'the CA is kept');
  assert.equal(readFileSync(join(dir, 'peer-tls', 'n1.crt'), 'utf8'), peerCertBefore, 'the peer certificates are kept');
  assert.equal(readFileSync(join(dir, 'jwks.json'), 'utf8'), jwksBefore, 'the token key is kept');
  assert.deepEqual(parseUsersFile(readFileSync(join(dir, 'zenoh-users.txt'), 'utf8'), 'users'), users, 'the passwords are kept');
});

test('the generated certificates serve tls/ with name verification; a client without the CA is refused', { timeout: 60_000 }, async (t) => {
  const dir = await makeComposeSecrets(join(tempDir(t, 'forge-secrets-'), 'secrets'));
  const zenohPort = await freePort();
  const wsPort = await freePort();
  const config = join(dir, 'local-router.json5');
  writeSecretFile(
    config,
    renderConfig(
      nodesRouterConfig({
        listen: [`tls/127.0.0.1:${zenohPort}`],
        nodesWebSocket: `127.0.0.1:${wsPort}`,
        usersFile: join(dir, 'zenoh-users.txt'),
        tls: { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'router-1.crt'), keyFile: join(dir, 'router-1.key') },
      }),
      'test',
    ),
  );
  const router = spawnZenoh(config, { stdio: 'ignore' });
  try {
    await waitForPort(wsPort);
    const password = parseUsersFile(readFileSync(join(dir, 'zenoh-users.txt'), 'utf8'), 'users').get('client')!;
    const connect = async (caFile: string | undefined) => {
      const file = join(dir, `client-${caFile === undefined ? 'no-ca' : 'ca'}.json5`);
      const endpoint = `tls/localhost:${zenohPort}`;
      const client = nativeClientConfig({ connect: [endpoint], credentials: { user: 'client', password }, ...(caFile ? { caFile } : {}) });
      writeSecretFile(file, renderConfig(client, 'test'));
      const { stdout } = await run(venvPython, [join(repoRoot, 'test', 'support', 'python_acl_probe.py'), 'connect', file], {
        timeout: 30_000,
      });
      return JSON.parse(stdout) as { opened: boolean };
    };
    assert.equal((await connect(join(dir, 'ca.crt'))).opened, true, 'trusting the generated CA, localhost verifies');
    assert.equal((await connect(undefined)).opened, false, 'without the CA the certificate is not trusted');
  } finally {
    router.kill('SIGKILL');
  }
});
