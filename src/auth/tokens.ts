// Capability tokens: JWTs signed with Ed25519 (EdDSA), issued by an operator holding the private
// key and verified by every node against a JWKS of public keys. All cryptography is jose's.
//
// Claims: `sub` the principal, `aud` the cluster id (a token for one cluster is refused by
// another), `iss` "forge-mailbox", `iat`/`exp`, and `mbx: {users, ops}` (see capability.ts).
// The JWKS may hold several keys, selected by the `kid` header: rotation adds the new key to every
// node, issues new tokens with it, and drops the old key once its tokens have expired.

import { SignJWT, createLocalJWKSet, errors, importJWK, jwtVerify, type JSONWebKeySet, type JWK } from 'jose';
import { z } from 'zod';
import { PRINCIPAL_PATTERN, isValidUser } from '../identifiers.js';
import { ALL_USERS, AuthError, OPERATIONS, type Capability, type Operation } from './capability.js';

export const TOKEN_ISSUER = 'forge-mailbox';
export const TOKEN_ALGORITHM = 'EdDSA';
/** A token naming a few hundred mailboxes fits; anything longer is refused before any parsing. */
export const MAX_TOKEN_CHARS = 8192;
const MAX_USERS_PER_TOKEN = 256;
/** Seconds of clock skew tolerated between the issuer and the nodes. */
const CLOCK_TOLERANCE_S = 30;

const claimsSchema = z.object({
  sub: z.string().regex(PRINCIPAL_PATTERN, 'sub must be 1-64 characters of [A-Za-z0-9._@:-]'),
  exp: z.number().int(),
  mbx: z.object({
    users: z
      .array(z.string().refine((u) => u === ALL_USERS || isValidUser(u), 'each user is a valid user id or "*"'))
      .min(1)
      .max(MAX_USERS_PER_TOKEN),
    ops: z.array(z.enum(OPERATIONS)).min(1).max(OPERATIONS.length),
  }),
});

export interface TokenVerifierOptions {
  /** Public keys (a JWKS); each needs a `kid`. */
  jwks: JSONWebKeySet;
  /** The cluster id: the token's `aud` must name it. */
  audience: string;
  /** Verified tokens remembered, so a hot client costs a map lookup instead of a signature check. */
  cacheEntries?: number;
  now?: () => number;
}

/** Verifies tokens; remembers the valid ones until they expire (bounded, oldest first out). */
export class TokenVerifier {
  private readonly keys: ReturnType<typeof createLocalJWKSet>;
  private readonly cache = new Map<string, Capability>();
  private readonly cacheEntries: number;
  private readonly now: () => number;

  constructor(private readonly opts: TokenVerifierOptions) {
    const problem = jwksProblem(opts.jwks, 'public');
    if (problem !== null) throw new Error(`verification keys: ${problem}`);
    this.keys = createLocalJWKSet(opts.jwks);
    this.cacheEntries = opts.cacheEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** The capability `token` grants; rejects with UNAUTHORIZED (the reason names no part of the token). */
  async verify(token: unknown): Promise<Capability> {
    if (typeof token !== 'string' || token.length === 0) throw new AuthError('UNAUTHORIZED', 'no token');
    if (token.length > MAX_TOKEN_CHARS) throw new AuthError('UNAUTHORIZED', `token longer than ${MAX_TOKEN_CHARS} characters`);
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (cached.expiresAt > this.now()) return cached;
      this.cache.delete(token);
      throw new AuthError('UNAUTHORIZED', 'token expired');
    }
    const cap = await this.verifySignature(token);
    if (this.cache.size >= this.cacheEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, cap);
    return cap;
  }

  private async verifySignature(token: string): Promise<Capability> {
    let payload: unknown;
    let kid: string | undefined;
    try {
      const result = await jwtVerify(token, this.keys, {
        algorithms: [TOKEN_ALGORITHM],
        audience: this.opts.audience,
        issuer: TOKEN_ISSUER,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.now()),
      });
      payload = result.payload;
      kid = result.protectedHeader.kid;
    } catch (e) {
      throw new AuthError('UNAUTHORIZED', verifyFailure(e));
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new AuthError('UNAUTHORIZED', `token claims: ${claims.error.issues[0]!.message}`);
    const { sub, exp, mbx } = claims.data;
    return {
      principal: sub,
      users: mbx.users.includes(ALL_USERS) ? ALL_USERS : new Set(mbx.users),
      ops: new Set<Operation>(mbx.ops),
      expiresAt: (exp + CLOCK_TOLERANCE_S) * 1000,
      keyId: kid ?? '',
    };
  }
}

/** A reason for the log and the client that says what was wrong without echoing the token. */
function verifyFailure(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'token expired';
  if (e instanceof errors.JWTClaimValidationFailed) return `token claim ${e.claim} invalid (${e.reason})`;
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (e instanceof errors.JWKSNoMatchingKey) return 'token signed by an unknown key';
  if (e instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (e instanceof errors.JOSEError) return `token invalid (${e.code})`;
  return 'token invalid';
}

export interface IssueOptions {
  /** The private signing key (a JWK with `d` and `kid`). */
  signingKey: JWK;
  audience: string;
  principal: string;
  users: readonly string[];
  ops: readonly Operation[];
  ttlSeconds: number;
  now?: () => number;
}

/** A signed token; the options are checked with the same rules the verifier applies. */
export async function issueToken(o: IssueOptions): Promise<string> {
  const problem = jwksProblem({ keys: [o.signingKey] }, 'private');
  if (problem !== null) throw new Error(`signing key: ${problem}`);
  if (!Number.isSafeInteger(o.ttlSeconds) || o.ttlSeconds < 1) throw new Error('ttl must be a positive whole number of seconds');
  const iat = Math.floor((o.now ?? Date.now)() / 1000);
  const claims = { sub: o.principal, exp: iat + o.ttlSeconds, mbx: { users: [...o.users], ops: [...o.ops] } };
  const checked = claimsSchema.safeParse(claims);
  if (!checked.success) throw new Error(checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const key = await importJWK(o.signingKey, TOKEN_ALGORITHM);
  return new SignJWT({ mbx: claims.mbx })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: o.signingKey.kid!, typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(o.audience)
    .setSubject(o.principal)
    .setIssuedAt(iat)
    .setExpirationTime(claims.exp)
    .sign(key);
}

/** Checks that every key is an Ed25519 key with a unique `kid`, and public-only or private as asked. */
export function jwksProblem(jwks: unknown, kind: 'public' | 'private'): string | null {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as JSONWebKeySet).keys)) return 'not a JWKS ({"keys": [...]})';
  const keys = (jwks as JSONWebKeySet).keys;
  if (keys.length === 0) return 'no keys';
  const kids = new Set<string>();
  for (const k of keys) {
    if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string') return 'every key must be an Ed25519 (OKP) key';
    if (typeof k.kid !== 'string' || k.kid.length === 0) return 'every key needs a kid';
    if (kids.has(k.kid)) return `kid ${k.kid} appears twice`;
    kids.add(k.kid);
    if (kind === 'public' && 'd' in k) return `key ${k.kid} is a private key: nodes get public keys only`;
    if (kind === 'private' && typeof k.d !== 'string') return `key ${k.kid} has no private part`;
  }
  return null;
}
