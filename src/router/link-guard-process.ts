// The link guard (link-guard.ts) as a child process, `forge-mailbox link-guard`: how local-cluster
// and the process clusters of the tests and the fault-injection runner run it beside the router.
// A process of its own, so that neither a busy test runner nor a frozen node stalls it.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../repo-root.js';
import { assertListener } from './port-owner.js';

export interface LinkGuardProcessOptions {
  listenHost?: string;
  listenPort: number;
  upstream: string;
  pingIntervalMs?: number;
  deadAfterMs?: number;
  logLevel?: string;
}

export interface ManagedLinkGuardOptions extends LinkGuardProcessOptions {
  /** Append the guard's output (JSON log lines) to this file. */
  logFile?: string;
}

export function spawnLinkGuard(opts: LinkGuardProcessOptions, stdio: 'ignore' | 'inherit' | 'pipe' = 'ignore'): ChildProcess {
  // The CLI's entry point loads every command, zenoh-ts (and its .wasm) included.
  const args = [
    '--experimental-wasm-modules',
    '--no-warnings',
    join(repoRoot, 'dist', 'src', 'cli', 'main.js'),
    'link-guard',
    '--listen',
    `${opts.listenHost ?? '127.0.0.1'}:${opts.listenPort}`,
    '--upstream',
    opts.upstream,
    '--log-level',
    opts.logLevel ?? 'info',
  ];
  if (opts.pingIntervalMs !== undefined) args.push('--ping-interval-ms', String(opts.pingIntervalMs));
  if (opts.deadAfterMs !== undefined) args.push('--dead-after-ms', String(opts.deadAfterMs));
  return spawn(process.execPath, args, { stdio: ['ignore', stdio, stdio] });
}

/** Resolves once host:port accepts a TCP connection (the guard does not dial the router for that). */
export async function waitForListener(port: number, host = '127.0.0.1', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One guard child on a fixed port, its output kept for error messages; stop() ends it. */
export class ManagedLinkGuard {
  private output = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  /** ws:// URL the nodes connect to. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Recent output (JSON log lines). */
  get log(): string {
    return this.output;
  }

  static async start(opts: ManagedLinkGuardOptions): Promise<ManagedLinkGuard> {
    const guard = new ManagedLinkGuard(spawnLinkGuard(opts, 'pipe'), opts.listenPort);
    if (opts.logFile !== undefined) {
      const out = createWriteStream(opts.logFile, { flags: 'a' });
      guard.child.stdout!.pipe(out, { end: false });
      guard.child.stderr!.pipe(out, { end: false });
      guard.child.once('exit', () => out.end());
    }
    const exited = new Promise<'exited'>((resolve) => guard.child.once('exit', () => resolve('exited')));
    const outcome = await Promise.race([waitForListener(opts.listenPort, opts.listenHost).then(() => 'ready' as const), exited]).catch((e: Error) => e);
    try {
      if (outcome !== 'ready') throw new Error(`link guard did not start (${outcome === 'exited' ? 'exited' : outcome.message}):\n${guard.output}`);
      // Something listens there: the guard, or whoever took the port before the guard could bind it.
      assertListener(guard.child.pid, opts.listenPort, 'link guard');
      return guard;
    } catch (e) {
      guard.child.kill('SIGKILL');
      throw e;
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
