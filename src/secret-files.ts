// Files that hold secrets (signing keys, tokens, passwords, node configs with the cluster secret):
// private directories (0700) and files only the user can read (0600), written whole (temp file +
// rename) so that no reader ever sees half a file and the secret is never briefly world-readable.

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Creates `dir` (and parents) and makes it 0700, also when it already existed. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Writes `text` to `path` with mode 0600, replacing the file atomically; a missing directory is made 0700. */
export function writeSecretFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
}

/** Reads a secret file, refusing one that others can read (as ssh does with private keys). */
export function readSecretFile(path: string): string {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new Error(`${path} is readable by others (mode ${mode.toString(8)}): chmod 600 it`);
  return readFileSync(path, 'utf8');
}
