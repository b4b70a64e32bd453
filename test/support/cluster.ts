// A real forge-mailbox cluster for end-to-end tests: N `forge-mailbox serve` processes (each with
// its own LevelDB on disk, talking Raft over TCP on 127.0.0.1) behind the real Zenoh router.
// Nodes can be killed (-9), paused (SIGSTOP) and restarted on the same data.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ForgeMailboxClient } from '../../src/bridge/client.js';
import { repoRoot } from '../../src/cli/zenoh-router.js';
import { freePort, ZenohRouter } from './zenoh-router.js';

export interface ClusterOptions {
  nodes?: number;
  raft?: Record<string, number>;
  mailbox?: Record<string, number>;
}

interface NodeHandle {
  id: string;
  config: string;
  log: string;
  child: ChildProcess | null;
  out: WriteStream | null;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TestCluster {
  readonly nodes = new Map<string, NodeHandle>();

  private constructor(
    readonly dir: string,
    readonly router: ZenohRouter,
  ) {}

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'forge-e2e-'));
    const router = await ZenohRouter.start();
    const cluster = new TestCluster(dir, router);
    const n = opts.nodes ?? 3;
    const peers: Record<string, { host: string; port: number }> = {};
    for (let i = 1; i <= n; i++) peers[`n${i}`] = { host: '127.0.0.1', port: await freePort() };
    for (const id of Object.keys(peers)) {
      const config = join(dir, `${id}.json`);
      writeFileSync(
        config,
        JSON.stringify({
          nodeId: id,
          clusterId: 'e2e',
          secret: 'e2e-test-secret-0123456789',
          dataDir: join(dir, id),
          peers,
          zenoh: { router: router.url },
          logLevel: 'debug',
          raft: { tickMs: 10, electionTicks: 20, requestTimeoutMs: 4000, ...opts.raft },
          mailbox: { expireIntervalMs: 200, ...opts.mailbox },
        }),
      );
      cluster.nodes.set(id, { id, config, log: join(dir, `${id}.log`), child: null, out: null });
    }
    for (const id of cluster.nodes.keys()) cluster.startNode(id);
    return cluster;
  }

  startNode(id: string): void {
    const h = this.nodes.get(id)!;
    if (h.child && h.child.exitCode === null && h.child.signalCode === null) throw new Error(`${id} is running`);
    h.out = createWriteStream(h.log, { flags: 'a' });
    const child = spawn(
      process.execPath,
      ['--experimental-wasm-modules', '--no-warnings', join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'serve', '--config', h.config],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.pipe(h.out, { end: false });
    child.stderr!.pipe(h.out, { end: false });
    h.child = child;
  }

  /** Sends `signal` and, unless it is SIGSTOP/SIGCONT, waits for the process to exit. */
  async signal(id: string, signal: NodeJS.Signals): Promise<void> {
    const h = this.nodes.get(id)!;
    const child = h.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      child.kill(signal);
      return;
    }
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    // A node that does not finish a graceful stop in time is a bug the logs will show; don't hang the suite.
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  logs(id: string): string {
    return readFileSync(this.nodes.get(id)!.log, 'utf8');
  }

  /** Status as the leader reports it, through Zenoh; polls until a leader answers. */
  async waitForLeader(client: ForgeMailboxClient, timeoutMs = 20_000, exclude?: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown = null;
    while (Date.now() < deadline) {
      try {
        const st = (await client.status()) as { role?: string; node?: string };
        last = st;
        if (st.role === 'leader' && st.node && st.node !== exclude) return st.node;
      } catch (err) {
        last = err;
      }
      await sleep(100);
    }
    throw new Error(`no leader within ${timeoutMs} ms; last status: ${String(last instanceof Error ? last.message : JSON.stringify(last))}`);
  }

  async client(): Promise<ForgeMailboxClient> {
    return ForgeMailboxClient.open(this.router.url, { requestTimeoutMs: 6000 });
  }

  async stop(keepOnFailure = false): Promise<void> {
    await Promise.all([...this.nodes.keys()].map(async (id) => {
      await this.signal(id, 'SIGCONT');
      await this.signal(id, 'SIGTERM');
    }));
    for (const h of this.nodes.values()) h.out?.end();
    await this.router.stop();
    if (!keepOnFailure) rmSync(this.dir, { recursive: true, force: true });
  }
}
