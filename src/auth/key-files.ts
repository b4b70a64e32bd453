// Token keys on disk: the private signing key (one JWK, mode 0600, for whoever issues tokens) and
// the public JWKS every node verifies against (rotation appends a key; the old one is dropped by
// hand once the tokens it signed have expired).

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readSecretFile } from '../secret-files.js';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';
import { TOKEN_ALGORITHM, jwksProblem } from './tokens.js';
import { errorText } from '../error-text.js';

export interface GeneratedKey {
  signingKey: JWK;
  publicKey: JWK;
}

/** A fresh Ed25519 key pair; the kid names its creation day plus randomness, so rotations sort. */
export async function generateSigningKey(now = new Date()): Promise<GeneratedKey> {
  const { publicKey, privateKey } = await generateKeyPair(TOKEN_ALGORITHM, { crv: 'Ed25519', extractable: true });
  const kid = `${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(4).toString('hex')}`;
  const meta = { kid, alg: TOKEN_ALGORITHM, use: 'sig' };
  return { signingKey: { ...(await exportJWK(privateKey)), ...meta }, publicKey: { ...(await exportJWK(publicKey)), ...meta } };
}

export function readSigningKey(path: string): JWK {
  const key = JSON.parse(readSecretFile(path)) as JWK;
  const problem = jwksProblem({ keys: [key] }, 'private');
  if (problem !== null) throw new Error(`${path}: ${problem}`);
  return key;
}

export function readJwks(path: string): JSONWebKeySet {
  let jwks: unknown;
  try {
    jwks = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: ${errorText(e)}`);
  }
  const problem = jwksProblem(jwks, 'public');
  if (problem !== null) throw new Error(`${path}: ${problem}`);
  return jwks as JSONWebKeySet;
}

/** Adds `publicKey` to the JWKS at `path` (created if absent), keeping the keys already there. */
export function addToJwks(path: string, publicKey: JWK): JSONWebKeySet {
  const jwks: JSONWebKeySet = existsSync(path) ? readJwks(path) : { keys: [] };
  const next = { keys: [...jwks.keys, publicKey] };
  const problem = jwksProblem(next, 'public');
  if (problem !== null) throw new Error(`${path}: ${problem}`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
  return next;
}
