// Small RAM file systems for the tests and the chaos runner that need a disk that fills up: a node's
// data directory on a tmpfs of a few MiB, filled with a filler file to take its free space away.
// Mounting needs root (or CAP_SYS_ADMIN); `tmpfsUnavailable` says why not, so callers can skip.

import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FILLER = 'disk-filler';

function run(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return r.error.message;
  return r.status === 0 ? null : (r.stderr || r.stdout || `exit ${r.status}`).trim();
}

export function mountTmpfs(dir: string, bytes: number): void {
  mkdirSync(dir, { recursive: true });
  const err = run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
  if (err !== null) throw new Error(`mount tmpfs on ${dir}: ${err}`);
}

export function unmountTmpfs(dir: string): void {
  const err = run('umount', [dir]);
  if (err !== null) throw new Error(`umount ${dir}: ${err}`);
}

/** Null when a tmpfs can be mounted here, else the reason (not root, no mount in a container...). */
export function tmpfsUnavailable(): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'tmpfs-probe-'));
  try {
    mountTmpfs(dir, 1 << 20);
    unmountTmpfs(dir);
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Writes a filler file in `dir` until only about `leaveBytes` remain free (0: until the file system
 * refuses another byte). Returns the bytes written.
 */
export function fillDisk(dir: string, leaveBytes = 0): number {
  const fd = openSync(join(dir, FILLER), 'a');
  let written = 0;
  let chunk = 1 << 20;
  const smaller = () => (chunk = Math.floor(chunk / 4));
  try {
    while (chunk >= 1) {
      if (leaveBytes > 0 && freeBytes(dir) - leaveBytes < chunk) {
        smaller();
        continue;
      }
      try {
        written += writeSync(fd, new Uint8Array(chunk));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        smaller();
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Removes the filler: the space it took is free again. */
export function unfillDisk(dir: string): void {
  rmSync(join(dir, FILLER), { force: true });
}
