// Finds and runs the Zenoh router with the remote-api plugin (zenoh-bridge-remote-api), built
// from crates.io by scripts/install-zenoh-router.sh into a cache outside the repo.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout this module runs from (source via tsx, or compiled under dist/). */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && !dir.endsWith('/dist')) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** The zenoh-ts version we depend on; the router is pinned to the same. */
export function zenohVersion(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  return pkg.dependencies['@eclipse-zenoh/zenoh-ts']!.replace(/^[^0-9]*/, '');
}

export function routerBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FORGE_ZENOH_ROUTER_BIN) return env.FORGE_ZENOH_ROUTER_BIN;
  const cacheRoot = env.FORGE_ZENOH_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'forge-mailbox', 'zenoh');
  return join(cacheRoot, zenohVersion(), 'bin', 'zenoh-bridge-remote-api');
}

export interface RouterOptions {
  /** remote-api WebSocket port (zenoh-ts clients and our nodes). */
  wsPort: number;
  /** Zenoh TCP listener (native clients such as Python eclipse-zenoh). */
  zenohPort: number;
  host?: string;
  /** Other routers to mesh with. */
  connect?: string[];
  stdio?: 'ignore' | 'inherit' | 'pipe';
}

export function startRouter(opts: RouterOptions): ChildProcess {
  const bin = routerBinary();
  if (!existsSync(bin)) {
    throw new Error(`Zenoh router not found at ${bin}: run scripts/install-zenoh-router.sh first`);
  }
  const host = opts.host ?? '127.0.0.1';
  const args = [
    '--listen',
    `tcp/${host}:${opts.zenohPort}`,
    '--ws-port',
    `${host}:${opts.wsPort}`,
    '--no-multicast-scouting',
    ...(opts.connect ?? []).flatMap((e) => ['--connect', e]),
  ];
  return spawn(bin, args, { stdio: opts.stdio ?? 'ignore', env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } });
}

/** Resolves once something accepts TCP connections on host:port. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
