// Runs the real Zenoh router (zenoh-bridge-remote-api, built by scripts/install-zenoh-router.sh)
// for tests: loopback only, free ports, no multicast scouting; can be killed and restarted on the
// same ports to test reconnection. A missing binary is a test failure, never a silent skip.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

const ZENOH_VERSION = '1.10.1';

export function routerBinary(): string {
  const fromEnv = process.env.FORGE_ZENOH_ROUTER;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv)) throw new Error(`FORGE_ZENOH_ROUTER=${fromEnv} does not exist`);
    return fromEnv;
  }
  const cacheRoot = process.env.FORGE_ZENOH_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'forge-mailbox', 'zenoh');
  const bin = join(cacheRoot, ZENOH_VERSION, 'bin', 'zenoh-bridge-remote-api');
  if (!existsSync(bin)) {
    throw new Error(`Zenoh router not found at ${bin}: run scripts/install-zenoh-router.sh (or set FORGE_ZENOH_ROUTER)`);
  }
  return bin;
}

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

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

  /** The command line used (kept visible: the README and the report quote it). */
  commandLine(): string[] {
    return [
      routerBinary(),
      '--ws-port',
      `127.0.0.1:${this.wsPort}`,
      '--listen',
      `tcp/127.0.0.1:${this.zenohPort}`,
      '--no-multicast-scouting',
    ];
  }

  async start(): Promise<void> {
    if (this.child !== null) throw new Error('router already running');
    const [bin, ...args] = this.commandLine();
    this.output = '';
    const child = spawn(bin as string, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } });
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = null;
        throw new Error(`Zenoh router exited at start (${child.exitCode ?? child.signalCode}):\n${this.output}`);
      }
      if (await accepts(this.wsPort)) return;
      await sleep(50);
    }
    await this.kill();
    throw new Error(`Zenoh router did not open ws port ${this.wsPort} within 15 s:\n${this.output}`);
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
