// Finds and runs the Zenoh router with the remote-api plugin (zenoh-bridge-remote-api), built
// from crates.io by scripts/install-zenoh-router.sh into a cache outside the repo. ZenohRouter is
// the managed form the tests and the fault-injection runner use: loopback, free ports, no
// multicast scouting, and killable/restartable on the same ports to exercise reconnection.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { repoRoot } from '../repo-root.js';

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

/**
 * Resolves once the router's remote-api completes a WebSocket handshake on host:port. (A bare TCP
 * probe would do, but the router logs every connection that never handshakes as an ERROR.)
 */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`ws://${host}:${port}`);
      ws.once('open', () => {
        ws.close();
        resolve(true);
      });
      ws.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`no WebSocket handshake on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** A router child process on 127.0.0.1 that can be crashed and brought back on the same ports. */
export class ZenohRouter {
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly wsPort: number,
    readonly zenohPort: number,
  ) {}

  /** The URL clients and bridges give zenoh-ts. */
  get url(): string {
    return `ws://127.0.0.1:${this.wsPort}`;
  }

  static async start(): Promise<ZenohRouter> {
    const router = new ZenohRouter(await freePort(), await freePort());
    await router.start();
    return router;
  }

  get running(): boolean {
    return this.child !== null;
  }

  async start(): Promise<void> {
    if (this.child !== null) throw new Error('router already running');
    this.output = '';
    const child = startRouter({ wsPort: this.wsPort, zenohPort: this.zenohPort, stdio: 'pipe' });
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const ready = waitForPort(this.wsPort, '127.0.0.1', 15_000);
    const outcome = await Promise.race([ready.then(() => 'ready' as const), exited.then(() => 'exited' as const)]).catch(
      (e: Error) => e,
    );
    if (outcome === 'ready') return;
    this.child = null;
    if (outcome === 'exited') {
      throw new Error(`Zenoh router exited at start (${child.exitCode ?? child.signalCode}):\n${this.output}`);
    }
    child.kill('SIGKILL');
    throw new Error(`Zenoh router did not open ws port ${this.wsPort}: ${outcome.message}\n${this.output}`);
  }

  /** SIGKILL: the router vanishes without any goodbye, like a crash. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
