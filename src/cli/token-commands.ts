// `forge-mailbox token keygen` and `token issue`: the operator's side of capability tokens.
// Keys and tokens go to files the CLI creates 0600; a token is printed only when no --out is given
// (for piping into a secret store), never logged. Nothing secret is ever taken from argv: the
// signing key is read from its file.

import { existsSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { OPERATIONS, type Operation } from '../auth/capability.js';
import { addToJwks, generateSigningKey, readSigningKey } from '../auth/key-files.js';
import { writeSecretFile } from '../secret-files.js';
import { issueToken } from '../auth/tokens.js';

const EXIT_BAD_INPUT = 3;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** Longest token lifetime the CLI issues: a year; rotate before that. */
const MAX_TTL_S = 365 * 86_400;

/** `90`, `90s`, `15m`, `12h`, `30d` → seconds. */
export function parseTtl(value: string): number {
  const m = /^([0-9]{1,9})([smhd]?)$/.exec(value);
  const seconds = m ? Number(m[1]) * UNITS[m[2] || 's']! : NaN;
  if (!(seconds >= 1 && seconds <= MAX_TTL_S)) throw new InvalidArgumentError(`expected a duration such as 3600, 15m, 12h or 30d, at most ${MAX_TTL_S / 86_400}d`);
  return seconds;
}

export function parseOps(value: string): Operation[] {
  const ops = value.split(',').map((s) => s.trim());
  for (const op of ops) {
    if (!(OPERATIONS as readonly string[]).includes(op)) throw new InvalidArgumentError(`unknown operation "${op}" (one of ${OPERATIONS.join(', ')})`);
  }
  return ops as Operation[];
}

function fail(message: string): never {
  process.stderr.write(`forge-mailbox: ${message}\n`);
  process.exit(EXIT_BAD_INPUT);
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('capability tokens: make signing keys, issue tokens');
  token.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_INPUT));

  token
    .command('keygen')
    .description('make an Ed25519 signing key (0600) and add its public half to the JWKS the nodes verify with')
    .requiredOption('--key-file <path>', 'where to write the private signing key (refused if it exists)')
    .requiredOption('--jwks-file <path>', 'JWKS of public keys (created, or extended for a rotation)')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_INPUT))
    .action(async (opts: { keyFile: string; jwksFile: string }) => {
      if (existsSync(opts.keyFile)) fail(`${opts.keyFile} exists: choose a new file for a new key`);
      const key = await generateSigningKey();
      try {
        addToJwks(opts.jwksFile, key.publicKey);
      } catch (e) {
        fail((e as Error).message);
      }
      writeSecretFile(opts.keyFile, `${JSON.stringify(key.signingKey)}\n`);
      process.stdout.write(`${JSON.stringify({ kid: key.publicKey.kid, keyFile: opts.keyFile, jwksFile: opts.jwksFile })}\n`);
    });

  token
    .command('issue')
    .description('issue a token for a principal: the mailboxes it may touch and what it may do there')
    .requiredOption('--key-file <path>', 'private signing key (from token keygen)')
    .requiredOption('--cluster <id>', 'cluster id the token is for (the nodes\' clusterId)')
    .requiredOption('--sub <principal>', 'who holds the token (scopes its put ids and request ids)')
    .requiredOption('--users <list>', 'comma-separated user ids, or "*" for every mailbox', (v: string) => v.split(',').map((s) => s.trim()))
    .requiredOption('--ops <list>', `comma-separated operations: ${OPERATIONS.join(', ')}`, parseOps)
    .option('--ttl <duration>', 'lifetime: seconds, or 15m, 12h, 30d', parseTtl, 86_400)
    .option('--out <path>', 'write the token to this file (0600) instead of stdout')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_INPUT))
    .action(async (opts: { keyFile: string; cluster: string; sub: string; users: string[]; ops: Operation[]; ttl: number; out?: string }) => {
      let tokenText: string;
      try {
        tokenText = await issueToken({
          signingKey: readSigningKey(opts.keyFile),
          audience: opts.cluster,
          principal: opts.sub,
          users: opts.users,
          ops: opts.ops,
          ttlSeconds: opts.ttl,
        });
      } catch (e) {
        fail((e as Error).message);
      }
      if (opts.out !== undefined) writeSecretFile(opts.out, `${tokenText}\n`);
      else process.stdout.write(`${tokenText}\n`);
    });
}
