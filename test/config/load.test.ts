import { strict as assert } from 'node:assert';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, unsafeMutationsFromEnv, validateConfig } from '../../src/config/load.js';
import { tempDir } from '../support/temp-dir.js';

const minimal = {
  nodeId: 'n1',
  clusterId: 'test',
  secret: 'a-secret-of-16-chars',
  dataDir: '/tmp/forge-n1',
  peers: { n1: { host: '127.0.0.1', port: 7101 }, n2: { host: '127.0.0.1', port: 7102 } },
  auth: { jwksFile: '/etc/forge/jwks.json' },
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('a minimal config gets the documented defaults', () => {
  const c = validateConfig(minimal);
  assert.equal(c.raft.tickMs, 20);
  assert.equal(c.mailbox.maxDeliveries, 5);
  assert.equal(c.mailbox.defaultTtlMs, 24 * 3600 * 1000);
  assert.equal(c.zenoh.keyPrefix, 'forge/mailbox');
});

test('an invalid config names each bad field and its reason', () => {
  const problems = problemsOf(() =>
    validateConfig({ ...minimal, secret: 'short', raft: { tickMs: 0 }, bogus: 1 }),
  );
  assert.ok(problems.some((p) => p.startsWith('secret:') && p.includes('16 characters')), problems.join('|'));
  assert.ok(problems.some((p) => p.startsWith('raft.tickMs:')), problems.join('|'));
  assert.ok(problems.some((p) => p.includes('bogus')), problems.join('|'));
});

test('authorization is on by default and then needs verification keys; off only when said so', (t) => {
  const { auth: _auth, ...noAuth } = minimal;
  assert.match(problemsOf(() => validateConfig(noAuth))[0]!, /^auth\.jwksFile: required while auth is enabled/);
  assert.equal(validateConfig(minimal).auth.enabled, true);
  assert.equal(validateConfig({ ...noAuth, auth: { enabled: false } }).auth.enabled, false);
  const file = join(tempDir(t, 'forge-config-'), 'node.json');
  writeFileSync(file, JSON.stringify(noAuth));
  assert.equal(loadConfig({ file, env: { FORGE_AUTH_JWKS_FILE: '/k.json' } }).auth.jwksFile, '/k.json');
});

test('nodeId must be one of the peers', () => {
  const problems = problemsOf(() => validateConfig({ ...minimal, nodeId: 'n9' }));
  assert.deepEqual(problems, ['nodeId: node "n9" is not listed in peers']);
});

test('peers stay within the membership limits: 7 founding voters, 9 members for a joining node', () => {
  const peers = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`n${i + 1}`, { host: '127.0.0.1', port: 7101 + i }]));
  assert.equal(Object.keys(validateConfig({ ...minimal, peers: peers(7) }).peers).length, 7);
  assert.deepEqual(problemsOf(() => validateConfig({ ...minimal, peers: peers(8) })), ['peers: at most 7 peers (the founding voters)']);
  assert.equal(Object.keys(validateConfig({ ...minimal, join: true, peers: peers(9) }).peers).length, 9);
  assert.deepEqual(problemsOf(() => validateConfig({ ...minimal, join: true, peers: peers(10) })), ['peers: at most 9 peers (the members of a cluster)']);
});

test('file < environment < flags', (t) => {
  const dir = tempDir(t, 'forge-config-');
  const file = join(dir, 'node.json');
  writeFileSync(file, JSON.stringify({ ...minimal, logLevel: 'warn' }));
  const c = loadConfig({
    file,
    env: { FORGE_LOG_LEVEL: 'debug', FORGE_ZENOH_ROUTER: 'ws://10.1.1.1:10000', FORGE_NODE_ID: 'n2' },
    overrides: { logLevel: 'error' },
  });
  assert.equal(c.logLevel, 'error');
  assert.equal(c.zenoh.router, 'ws://10.1.1.1:10000');
  assert.equal(c.nodeId, 'n2');
});

test('an unreadable or non-JSON file is a ConfigError naming the file', (t) => {
  const dir = tempDir(t, 'forge-config-');
  const file = join(dir, 'bad.json');
  writeFileSync(file, '{ nope');
  assert.match(problemsOf(() => loadConfig({ file }))[0]!, /bad\.json: not valid JSON/);
  assert.match(problemsOf(() => loadConfig({ file: join(dir, 'missing.json') }))[0]!, /missing\.json/);
});

test('FORGE_UNSAFE_MUTATIONS names deliberate bugs of the registry; none by default, an unknown name is an error', () => {
  assert.deepEqual(unsafeMutationsFromEnv({}), []);
  assert.deepEqual(unsafeMutationsFromEnv({ FORGE_UNSAFE_MUTATIONS: '' }), []);
  assert.deepEqual(unsafeMutationsFromEnv({ FORGE_UNSAFE_MUTATIONS: 'ack-before-commit, lease-receipt-reuse,ack-before-commit' }), [
    'ack-before-commit',
    'lease-receipt-reuse',
  ]);
  assert.match(problemsOf(() => unsafeMutationsFromEnv({ FORGE_UNSAFE_MUTATIONS: 'ack-before-comit' }))[0]!, /unknown mutation "ack-before-comit"/);
});

test('peer links: exactly one of peerTls (from the file or FORGE_PEER_TLS_*) and the development-only secret', (t) => {
  const { secret: _secret, ...noSecret } = minimal;
  const peerTls = { caFile: '/c/ca.crt', certFile: '/c/n1.crt', keyFile: '/c/n1.key' };
  assert.deepEqual(validateConfig({ ...noSecret, peerTls }).peerTls, peerTls);
  assert.match(problemsOf(() => validateConfig(noSecret))[0]!, /^peerTls: peer links need `peerTls`/);
  assert.match(problemsOf(() => validateConfig({ ...minimal, peerTls }))[0]!, /^peerTls: `peerTls` and `secret` exclude each other/);
  assert.match(problemsOf(() => validateConfig({ ...noSecret, peerTls: { caFile: '/c/ca.crt', certFile: '/c/n1.crt' } }))[0]!, /^peerTls\.keyFile:/);
  const dir = tempDir(t, 'forge-config-');
  const file = join(dir, 'n1.json');
  writeFileSync(file, JSON.stringify(noSecret));
  const env = { FORGE_PEER_TLS_CA_FILE: '/e/ca.crt', FORGE_PEER_TLS_CERT_FILE: '/e/n1.crt', FORGE_PEER_TLS_KEY_FILE: '/e/n1.key' };
  assert.deepEqual(loadConfig({ file, env }).peerTls, { caFile: '/e/ca.crt', certFile: '/e/n1.crt', keyFile: '/e/n1.key' });
});

test('FORGE_SECRET_FILE gives the secret from a 0600 file, never alongside FORGE_SECRET; a readable-by-others file is refused', (t) => {
  const dir = tempDir(t, 'forge-config-');
  const file = join(dir, 'node.json');
  const { secret: _dropped, ...withoutSecret } = minimal;
  writeFileSync(file, JSON.stringify(withoutSecret));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 'a-secret-from-a-file\n', { mode: 0o600 });
  assert.equal(loadConfig({ file, env: { FORGE_SECRET_FILE: secretFile } }).secret, 'a-secret-from-a-file');
  assert.deepEqual(
    problemsOf(() => loadConfig({ file, env: { FORGE_SECRET_FILE: secretFile, FORGE_SECRET: 'another-secret-of-16' } })),
    ['FORGE_SECRET_FILE and FORGE_SECRET are both set: give the secret one way'],
  );
  chmodSync(secretFile, 0o644);
  const [problem] = problemsOf(() => loadConfig({ file, env: { FORGE_SECRET_FILE: secretFile } }));
  assert.match(problem!, /^FORGE_SECRET_FILE: .* is readable by others \(mode 644\)/);
  assert.match(problemsOf(() => loadConfig({ file, env: { FORGE_SECRET_FILE: join(dir, 'missing') } }))[0]!, /^FORGE_SECRET_FILE: ENOENT/);
});

test('a window of snapshot chunks is bounded: raft.snapshotChunkBytes × raft.snapshotChunksInFlight ≤ 64 MiB', () => {
  assert.equal(validateConfig({ ...minimal, raft: { snapshotChunkBytes: 16 << 20, snapshotChunksInFlight: 4 } }).raft.snapshotChunksInFlight, 4);
  assert.match(
    problemsOf(() => validateConfig({ ...minimal, raft: { snapshotChunkBytes: 16 << 20, snapshotChunksInFlight: 5 } }))[0]!,
    /^raft\.snapshotChunksInFlight: raft\.snapshotChunkBytes × raft\.snapshotChunksInFlight must not exceed 64 MiB/,
  );
  assert.equal(validateConfig(minimal).raft.snapshotChunksInFlight, 4);
});
