// The routers' secrets on disk: a private directory (0700) and files only the user can read (0600),
// written whole (temp file + rename) so a reader never sees half a file. The passwords live in the
// usrpwd dictionary the router reads (`user:password` lines); they are generated on first use and
// kept, so restarts reuse them, and deleting a line (or the file) is how a password is rotated.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import type { Credentials, RouterUser } from './router-config.js';
import { writeSecretFile } from '../secret-files.js';

/** A fresh password: 192 random bits, base64url (no `:`, which the dictionary format reserves). */
export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

export class UsersFileError extends Error {
  override name = 'UsersFileError';
}

export function parseUsersFile(text: string, path: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 1 || colon === line.length - 1) throw new UsersFileError(`${path}:${i + 1}: expected user:password`);
    users.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return users;
}

/**
 * The passwords of `users` from the usrpwd dictionary at `path`, generating (and saving) any that
 * are missing. Other users already in the file are kept.
 */
export function ensureUsers(path: string, users: readonly RouterUser[]): Map<RouterUser, Credentials> {
  const known = existsSync(path) ? parseUsersFile(readFileSync(path, 'utf8'), path) : new Map<string, string>();
  let changed = !existsSync(path);
  for (const user of users) {
    if (!known.has(user)) {
      known.set(user, newPassword());
      changed = true;
    }
  }
  if (changed) {
    const lines = [...known].map(([u, p]) => `${u}:${p}`);
    writeSecretFile(path, lines.join('\n') + '\n');
  } else {
    chmodSync(path, 0o600);
  }
  return new Map(users.map((user) => [user, { user, password: known.get(user)! }]));
}
