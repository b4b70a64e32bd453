// Which process listens on a TCP port, read from Linux's /proc: the kernel's socket tables give the
// inode of each listening socket, and a process's fd directory links to the inodes it holds. The
// managed router, the test clusters' link guard and `npm start` need it because a port can be
// taken by another process before their child binds it (a port found free a moment earlier, or
// one of `npm start`'s fixed ports held by an old cluster), and the remote-api router does not
// even exit then: a handshake on that port proves only that someone listens there.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** TCP state LISTEN in /proc/net/tcp{,6}. */
const LISTEN = '0A';

/** Inodes of the sockets listening on `port` (any address), from the kernel's tables' text. */
export function listeningInodes(tables: string[], port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of tables) {
    for (const line of table.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      if (f.length < 10 || f[3] !== LISTEN || !f[1]!.endsWith(`:${hexPort}`)) continue;
      inodes.add(f[9]!);
    }
  }
  return inodes;
}

/**
 * Whether process `pid` holds a socket listening on TCP `port`; null where that cannot be told
 * (no /proc, or another user's process).
 */
export function listensOn(pid: number, port: number): boolean | null {
  let tables: string[];
  let fds: string[];
  try {
    tables = ['/proc/net/tcp', '/proc/net/tcp6'].map((path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return ''; // no IPv6
      }
    });
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  if (tables.every((t) => t === '')) return null;
  const inodes = listeningInodes(tables, port);
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m !== null && inodes.has(m[1]!)) return true;
  }
  return false;
}

/** A child whose port another process answers on: it could not bind it. */
export class PortTakenError extends Error {
  constructor(what: string, port: number) {
    super(`${what}: Address already in use: another process listens on port ${port}`);
    this.name = 'PortTakenError';
  }
}

/**
 * Throws PortTakenError when `pid` is known not to hold the listener on `port`: whatever answered
 * a readiness probe there is someone else (where /proc cannot tell, the probe is trusted).
 */
export function assertListener(pid: number | undefined, port: number, what: string): void {
  if (pid !== undefined && listensOn(pid, port) === false) throw new PortTakenError(what, port);
}

/** How many times a start is tried on new ports when one was taken before its child bound it. */
const PORT_ATTEMPTS = 3;

/**
 * Runs `start`, which picks its own ports, again (PORT_ATTEMPTS times in all) while it fails
 * because one of them was taken in between ("address already in use", from the child or from
 * assertListener).
 */
export async function onFreePorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt < PORT_ATTEMPTS && e instanceof Error && /address already in use/i.test(e.message)) continue;
      throw e;
    }
  }
}
