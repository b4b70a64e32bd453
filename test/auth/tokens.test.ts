import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SignJWT, importJWK, type JWK } from 'jose';
import { AuthError, type Capability } from '../../src/auth/capability.js';
import { addToJwks, generateSigningKey, readJwks, readSigningKey } from '../../src/auth/key-files.js';
import { readSecretFile, writeSecretFile } from '../../src/secret-files.js';
import { TOKEN_ISSUER, TokenVerifier, issueToken } from '../../src/auth/tokens.js';
import { tempDir } from '../support/temp-dir.js';

const key1 = await generateSigningKey();
const key2 = await generateSigningKey();
const jwks = { keys: [key1.publicKey] };

async function rejects(p: Promise<unknown>, code: string, reason: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof AuthError && e.code === code && reason.test(e.message));
}

const issue = (over: Partial<Parameters<typeof issueToken>[0]> = {}) =>
  issueToken({ signingKey: key1.signingKey, audience: 'c1', principal: 'alice', users: ['alice'], ops: ['consume', 'peek'], ttlSeconds: 60, ...over });

test('an issued token verifies to the capability it names', async () => {
  const v = new TokenVerifier({ jwks, audience: 'c1' });
  const cap = await v.verify(await issue());
  assert.equal(cap.principal, 'alice');
  assert.deepEqual([...(cap.users as Set<string>)], ['alice']);
  assert.deepEqual([...cap.ops].sort(), ['consume', 'peek']);
  assert.equal(cap.keyId, key1.publicKey.kid);
  const all = await v.verify(await issue({ principal: 'svc', users: ['*'], ops: ['put'] }));
  assert.equal(all.users, '*');
});

test('missing, oversized and garbage tokens are UNAUTHORIZED', async () => {
  const v = new TokenVerifier({ jwks, audience: 'c1' });
  await rejects(v.verify(undefined), 'UNAUTHORIZED', /no token/);
  await rejects(v.verify(''), 'UNAUTHORIZED', /no token/);
  await rejects(v.verify(42), 'UNAUTHORIZED', /no token/);
  await rejects(v.verify('x'.repeat(9000)), 'UNAUTHORIZED', /longer than/);
  await rejects(v.verify('not.a.jwt'), 'UNAUTHORIZED', /token invalid/);
});

test('a token for another cluster, an expired one and one from an unknown key are refused', async () => {
  const v = new TokenVerifier({ jwks, audience: 'c1' });
  await rejects(v.verify(await issue({ audience: 'c2' })), 'UNAUTHORIZED', /claim aud/);
  await rejects(v.verify(await issue({ now: () => Date.now() - 3600_000 })), 'UNAUTHORIZED', /expired/);
  await rejects(v.verify(await issue({ signingKey: key2.signingKey })), 'UNAUTHORIZED', /unknown key/);
});

test('a forged signature (another key claiming a known kid) and a tampered payload are refused', async () => {
  const v = new TokenVerifier({ jwks, audience: 'c1' });
  const forged = await issue({ signingKey: { ...key2.signingKey, kid: key1.signingKey.kid! } });
  await rejects(v.verify(forged), 'UNAUTHORIZED', /signature invalid/);
  const [h, , s] = (await issue()).split('.');
  const evil = Buffer.from(JSON.stringify({ sub: 'alice', aud: 'c1', iss: TOKEN_ISSUER, exp: 9e9, mbx: { users: ['*'], ops: ['admin'] } })).toString('base64url');
  await rejects(v.verify(`${h}.${evil}.${s}`), 'UNAUTHORIZED', /signature invalid/);
});

test('only EdDSA is accepted: an HS256 token keyed with the public key, and alg none, are refused', async () => {
  const v = new TokenVerifier({ jwks, audience: 'c1' });
  const hs = await new SignJWT({ mbx: { users: ['*'], ops: ['admin'] } })
    .setProtectedHeader({ alg: 'HS256', kid: key1.publicKey.kid! })
    .setIssuer(TOKEN_ISSUER).setAudience('c1').setSubject('mallory').setExpirationTime('1h')
    .sign(new TextEncoder().encode(key1.publicKey.x!));
  await rejects(v.verify(hs), 'UNAUTHORIZED', /algorithm not allowed|unknown key|token invalid/);
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'm', aud: 'c1', iss: TOKEN_ISSUER, exp: 9e9, mbx: { users: ['*'], ops: ['admin'] } })).toString('base64url')}.`;
  await rejects(v.verify(none), 'UNAUTHORIZED', /algorithm not allowed|token invalid/);
});

test('claims outside the rules are refused even when correctly signed', async () => {
  const v = new TokenVerifier({ jwks, audience: 'c1' });
  const sign = async (mbx: unknown, sub = 'alice') =>
    new SignJWT({ mbx: mbx as Record<string, unknown> })
      .setProtectedHeader({ alg: 'EdDSA', kid: key1.signingKey.kid! })
      .setIssuer(TOKEN_ISSUER).setAudience('c1').setSubject(sub).setExpirationTime('1h')
      .sign(await importJWK(key1.signingKey, 'EdDSA'));
  await rejects(v.verify(await sign({ users: ['alice'], ops: ['steal'] })), 'UNAUTHORIZED', /claims/);
  await rejects(v.verify(await sign({ users: ['a/b'], ops: ['put'] })), 'UNAUTHORIZED', /claims/);
  await rejects(v.verify(await sign({ users: [], ops: ['put'] })), 'UNAUTHORIZED', /claims/);
  await rejects(v.verify(await sign({ users: ['alice'], ops: ['put'] }, 'has space')), 'UNAUTHORIZED', /claims/);
  await assert.rejects(issue({ ops: [] }), /ops/);
  await assert.rejects(issue({ principal: 'a b' }), /sub/);
});

test('rotation: with both keys published, tokens of either verify; dropping the old key refuses its tokens', async () => {
  const oldToken = await issue();
  const newToken = await issue({ signingKey: key2.signingKey });
  const both = new TokenVerifier({ jwks: { keys: [key1.publicKey, key2.publicKey] }, audience: 'c1' });
  assert.equal((await both.verify(oldToken)).keyId, key1.publicKey.kid);
  assert.equal((await both.verify(newToken)).keyId, key2.publicKey.kid);
  const onlyNew = new TokenVerifier({ jwks: { keys: [key2.publicKey] }, audience: 'c1' });
  await onlyNew.verify(newToken);
  await rejects(onlyNew.verify(oldToken), 'UNAUTHORIZED', /unknown key/);
});

test('verified tokens are cached until they expire, within a bounded cache', async () => {
  let now = Date.now();
  const v = new TokenVerifier({ jwks, audience: 'c1', cacheEntries: 2, now: () => now });
  const t = await issue({ now: () => now, ttlSeconds: 10 });
  const first: Capability = await v.verify(t);
  assert.equal(await v.verify(t), first, 'second verify is the cached capability');
  now += 10_000 + 31_000;
  await rejects(v.verify(t), 'UNAUTHORIZED', /expired/);
  // Bounded: a third token evicts the oldest, which is then verified afresh (a new object).
  const a = await issue({ principal: 'a', now: () => now });
  const b = await issue({ principal: 'b', now: () => now });
  const c = await issue({ principal: 'c', now: () => now });
  const capA = await v.verify(a);
  await v.verify(b);
  await v.verify(c);
  assert.notEqual(await v.verify(a), capA);
});

test('the verifier refuses private keys and keys without kid', () => {
  assert.throws(() => new TokenVerifier({ jwks: { keys: [key1.signingKey] }, audience: 'c1' }), /private key/);
  const { kid: _kid, ...noKid } = key1.publicKey;
  assert.throws(() => new TokenVerifier({ jwks: { keys: [noKid as JWK] }, audience: 'c1' }), /kid/);
  assert.throws(() => new TokenVerifier({ jwks: { keys: [key1.publicKey, key1.publicKey] }, audience: 'c1' }), /twice/);
});

test('key files: the signing key is written 0600 and refused once others can read it; the JWKS grows on rotation', (t) => {
  const dir = tempDir(t, 'forge-keys-');
  const path = join(dir, 'auth', 'signing-key.jwk');
  writeSecretFile(path, JSON.stringify(key1.signingKey));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'auth')).mode & 0o777, 0o700);
  assert.deepEqual(readSigningKey(path), key1.signingKey);
  writeFileSync(join(dir, 'loose.jwk'), JSON.stringify(key1.signingKey), { mode: 0o644 });
  assert.throws(() => readSecretFile(join(dir, 'loose.jwk')), /readable by others/);
  const jwksPath = join(dir, 'jwks.json');
  addToJwks(jwksPath, key1.publicKey);
  addToJwks(jwksPath, key2.publicKey);
  assert.deepEqual(readJwks(jwksPath).keys.map((k) => k.kid), [key1.publicKey.kid, key2.publicKey.kid]);
  assert.throws(() => addToJwks(jwksPath, { ...key1.signingKey, kid: 'other' }), /private key/);
  assert.throws(() => addToJwks(jwksPath, key1.publicKey), /appears twice/);
});
