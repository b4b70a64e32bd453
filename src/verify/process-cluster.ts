// A real forge-mailbox cluster on one machine: N `forge-mailbox serve` processes (each with its
// own LevelDB on disk, Raft over TCP on 127.0.0.1) behind the real Zenoh router. Nodes can be
// killed (-9), paused (SIGSTOP) and restarted on the same data. Used by the end-to-end tests and
// by the fault-injection runner.
//
// With `proxies`, every directed peer link i→j goes through its own FaultProxy (node i's config
// lists peer j at the proxy's port; a node only sends on the connection it dialled, so that proxy
// carries exactly the i→j traffic), and every node reaches the router through a FaultProxy too.
// The nodes reach the router through the link guard (src/router/link-guard.ts, its own process,
// "beside the router"), as in production: node → [router FaultProxy →] guard → router. A frozen
// node, or one whose router link black-holes, then loses its queryables within `deadAfterMs`.
// Cutting one proxy is then an asymmetric partition; cutting both directions a symmetric one.
// `addJoiningNode` starts one more node with "join": true (reached directly, never through a
// proxy), for the membership tests; `wipeAndRejoin` empties a node's data directory and starts it
// again as a joiner (the runbook for a corrupt store). With `tmpfsBytes`, every node's data
// directory is a tmpfs of that size (mounted at start, unmounted at stop): a disk that can fill.
//
// Authorization is on, as in production: the cluster makes its own signing key, gives the nodes
// its JWKS, and `client()` carries an operator token (every operation on every mailbox);
// `issueToken` makes narrower ones for the tests that need them.
//
// The peer links are mutual TLS, as in production: the cluster makes a CA and the nodes'
// certificates in <dir>/peer-tls (`peerTls: false` runs the development-only shared secret).

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { OPERATIONS, type Operation } from '../auth/capability.js';
import { addToJwks, generateSigningKey } from '../auth/key-files.js';
import { ensurePeerCerts, issuePeerCert, peerTlsFiles } from '../peer-certs.js';
import type { PeerTlsFiles } from '../raft/peer-tls.js';
import { writeSecretFile } from '../secret-files.js';
import { issueToken } from '../auth/tokens.js';
import { ForgeMailboxClient, type ClientOptions } from '../bridge/client.js';
import { repoRoot } from '../repo-root.js';
import { ManagedLinkGuard } from '../router/link-guard-process.js';
import { onFreePorts } from '../router/port-owner.js';
import { freePort, ZenohRouter } from '../router/zenoh-router.js';
import { FaultProxy, type ProxyMode } from './fault-proxy.js';
import { mountTmpfs, unmountTmpfs } from './tmpfs.js';
import { nodeAllocatorEnv } from '../node/node-allocator.js';
import { NODE_HEAP_FLAGS } from '../node/node-heap-flags.js';

export interface ProcessClusterOptions {
  nodes?: number;
  raft?: Record<string, number>;
  mailbox?: Record<string, number>;
  /** Node settings of the `zenoh` section besides the router (e.g. maxInflightRequests). */
  zenoh?: Record<string, number>;
  /** Route every peer link and every router link through a FaultProxy. */
  proxies?: boolean;
  /** Extra environment of the node processes. */
  env?: Record<string, string>;
  /** Extra options of the node processes' `node` (V8 and Node flags), after NODE_HEAP_FLAGS: a later one wins. */
  nodeArgs?: string[];
  logLevel?: 'trace' | 'debug' | 'info' | 'warn';
  /** Prefix of the temporary directory holding data, configs and logs. */
  dirPrefix?: string;
  /** Capability-token authorization on the nodes (default true, as in production); false for measuring its cost. */
  auth?: boolean;
  /** Mutual TLS on the peer links (default true, as in production); false for the development-only shared secret. */
  peerTls?: boolean;
  /** The link guard's timing (defaults: ping every 100 ms, cut after 400 ms of silence). */
  linkGuard?: { pingIntervalMs?: number; deadAfterMs?: number };
  /** The nodes' `disk` configuration (free-space watermark). */
  disk?: Record<string, number>;
  /** Put every node's data directory on a tmpfs of this many bytes (needs root; see tmpfs.ts). */
  tmpfsBytes?: number;
  /** Serve every node's Prometheus metrics and health probes on a port of its own (see `metricsUrl`, `healthUrl`). */
  metrics?: boolean;
}

interface NodeHandle {
  id: string;
  /** The node's Raft port. */
  port: number;
  config: string;
  log: string;
  dataDir: string;
  peers: Record<string, { host: string; port: number }>;
  routerUrl: string;
  /** Where the node serves /metrics (with the `metrics` option), kept across restarts. */
  metricsPort: number | null;
  child: ChildProcess | null;
  out: WriteStream | null;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const CLUSTER_ID = 'e2e';

export class ProcessCluster {
  readonly nodes = new Map<string, NodeHandle>();
  /** `${from}>${to}` → the proxy carrying what `from` sends to `to`. */
  private readonly peerProxies = new Map<string, FaultProxy>();
  private readonly routerProxies = new Map<string, FaultProxy>();

  /** The operator token `client()` uses: every operation on every mailbox. */
  adminToken = '';

  private constructor(
    readonly dir: string,
    readonly router: ZenohRouter,
    /** Where the nodes connect: the link guard in front of the router's private WebSocket. */
    readonly guard: ManagedLinkGuard,
    private readonly env: NodeJS.ProcessEnv,
    private readonly opts: ProcessClusterOptions,
    private readonly signingKey: JWK,
  ) {}

  /** A token of this cluster for `principal`, on `users` (or '*'), for `ops`; `now` backdates it (expired tokens). */
  issueToken(principal: string, users: string[], ops: readonly Operation[], ttlSeconds = 86_400, now?: () => number): Promise<string> {
    return issueToken({ signingKey: this.signingKey, audience: CLUSTER_ID, principal, users, ops, ttlSeconds, ...(now ? { now } : {}) });
  }

  get jwksFile(): string {
    return join(this.dir, 'auth', 'jwks.json');
  }

  /** The cluster CA and the nodes' certificates (with peerTls). */
  get peerTlsDir(): string {
    return join(this.dir, 'peer-tls');
  }

  static async start(opts: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    const dir = mkdtempSync(join(tmpdir(), opts.dirPrefix ?? 'forge-e2e-'));
    // Bodies beyond the default 1 MiB pass the router only if its message limit follows.
    const router = await ZenohRouter.start({ maxBodyBytes: opts.mailbox?.maxBodyBytes });
    // As the router's: a port found free can be taken before the guard binds it; then another one.
    const guard = await onFreePorts(async () =>
      ManagedLinkGuard.start({ listenPort: await freePort(), upstream: router.url, logLevel: 'debug', logFile: join(dir, 'link-guard.log'), ...opts.linkGuard }),
    );
    // The nodes read FORGE_* variables as config overrides: only the ones asked for reach them.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FORGE_')));
    const key = await generateSigningKey();
    // As every node process starts (src/node/node-allocator.ts): jemalloc when the machine has it.
    const nodeEnv = nodeAllocatorEnv({ ...env, ...opts.env }, process.env.FORGE_ALLOCATOR);
    const cluster = new ProcessCluster(dir, router, guard, nodeEnv, opts, key.signingKey);
    writeSecretFile(join(dir, 'auth', 'signing-key.jwk'), JSON.stringify(key.signingKey));
    addToJwks(cluster.jwksFile, key.publicKey);
    cluster.adminToken = await cluster.issueToken('operator', ['*'], OPERATIONS);
    const ids = Array.from({ length: opts.nodes ?? 3 }, (_, i) => `n${i + 1}`);
    const ports = new Map<string, number>();
    for (const id of ids) ports.set(id, await freePort());
    if (opts.peerTls !== false) ensurePeerCerts(cluster.peerTlsDir, ids);
    for (const id of ids) {
      const peers: Record<string, { host: string; port: number }> = {};
      let routerUrl = guard.url;
      for (const other of ids) {
        let port = ports.get(other)!;
        if (opts.proxies && other !== id) {
          const proxy = await FaultProxy.start(port);
          cluster.peerProxies.set(`${id}>${other}`, proxy);
          port = proxy.port;
        }
        peers[other] = { host: '127.0.0.1', port };
      }
      if (opts.proxies) {
        const proxy = await FaultProxy.start(guard.port);
        cluster.routerProxies.set(id, proxy);
        routerUrl = `ws://127.0.0.1:${proxy.port}`;
      }
      cluster.writeNode(id, ports.get(id)!, peers, routerUrl, false, opts.metrics ? await freePort() : null);
    }
    for (const id of ids) cluster.startNode(id);
    return cluster;
  }

  /**
   * Starts node `id` with "join": true, listing every node of the cluster (at its own Raft port)
   * and itself as peers; it waits to be added with add-node. Returns its Raft port. With peerTls
   * it gets a certificate of the cluster's CA, unless `peerTls` names other files.
   */
  async addJoiningNode(id: string, peerTls?: PeerTlsFiles): Promise<number> {
    if (this.nodes.has(id)) throw new Error(`${id} exists`);
    const port = await freePort();
    const peers: Record<string, { host: string; port: number }> = { [id]: { host: '127.0.0.1', port } };
    for (const h of this.nodes.values()) peers[h.id] = { host: '127.0.0.1', port: h.port };
    if (this.opts.peerTls !== false && peerTls === undefined) issuePeerCert(this.peerTlsDir, id);
    this.writeNode(id, port, peers, this.guard.url, true, this.opts.metrics ? await freePort() : null, peerTls);
    this.startNode(id);
    return port;
  }

  private writeNode(
    id: string,
    port: number,
    peers: Record<string, { host: string; port: number }>,
    routerUrl: string,
    joining: boolean,
    metricsPort: number | null,
    peerTls: PeerTlsFiles = peerTlsFiles(this.peerTlsDir, id),
  ): void {
    const config = join(this.dir, `${id}.json`);
    const dataDir = join(this.dir, id);
    if (this.opts.tmpfsBytes !== undefined && !this.nodes.has(id)) mountTmpfs(dataDir, this.opts.tmpfsBytes);
    writeFileSync(
      config,
      JSON.stringify({
        nodeId: id,
        clusterId: CLUSTER_ID,
        ...(this.opts.peerTls === false ? { secret: 'e2e-test-secret-0123456789' } : { peerTls }),
        dataDir,
        peers,
        join: joining,
        listen: { host: '127.0.0.1', port },
        zenoh: { ...this.opts.zenoh, router: routerUrl },
        auth: this.opts.auth === false ? { enabled: false } : { jwksFile: this.jwksFile },
        logLevel: this.opts.logLevel ?? 'debug',
        raft: { tickMs: 10, electionTicks: 20, requestTimeoutMs: 4000, ...this.opts.raft },
        mailbox: { expireIntervalMs: 200, ...this.opts.mailbox },
        ...(this.opts.disk ? { disk: this.opts.disk } : {}),
        ...(metricsPort !== null ? { metrics: { host: '127.0.0.1', port: metricsPort } } : {}),
      }),
    );
    const previous = this.nodes.get(id);
    this.nodes.set(id, { id, port, config, log: join(this.dir, `${id}.log`), dataDir, peers, routerUrl, metricsPort, child: previous?.child ?? null, out: previous?.out ?? null });
  }

  /** The node's data directory (its LevelDB is in `raft/` below it). */
  dataDir(id: string): string {
    return this.handle(id).dataDir;
  }

  /** The node's Prometheus endpoint (only with the `metrics` option). */
  metricsUrl(id: string): string {
    return this.opsUrl(id, 'metrics');
  }

  /** The node's health probes, on the metrics port (only with the `metrics` option). */
  healthUrl(id: string, probe: 'livez' | 'readyz'): string {
    return this.opsUrl(id, probe);
  }

  private opsUrl(id: string, path: string): string {
    const port = this.handle(id).metricsPort;
    if (port === null) throw new Error(`${id} serves no metrics or health probes (started without metrics?)`);
    return `http://127.0.0.1:${port}/${path}`;
  }

  /** The process id of the node's running process, or null when it is not running. */
  pid(id: string): number | null {
    return this.isRunning(id) ? (this.handle(id).child?.pid ?? null) : null;
  }

  /** The exit code of the node's last process (null while it runs, or when a signal ended it). */
  exitCode(id: string): number | null {
    return this.handle(id).child?.exitCode ?? null;
  }

  /** Waits for the node's process to end by itself; resolves with its exit code, or rejects after `timeoutMs`. */
  async waitForExit(id: string, timeoutMs: number): Promise<number | null> {
    const child = this.handle(id).child;
    if (child === null) throw new Error(`${id} was never started`);
    if (!this.isRunning(id)) return child.exitCode;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} still running after ${timeoutMs} ms`)), timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /**
   * The runbook for a node whose store is lost or corrupt, after `remove-node`: empty its data
   * directory and start it with "join": true (same id, address and peers), to be added again.
   */
  wipeAndRejoin(id: string): void {
    const h = this.handle(id);
    if (this.isRunning(id)) throw new Error(`${id} is running`);
    rmSync(join(h.dataDir, 'raft'), { recursive: true, force: true });
    this.writeNode(id, h.port, h.peers, h.routerUrl, true, h.metricsPort);
    this.startNode(id);
  }

  /** Changes Raft settings in every node's config (and for nodes written later); a node reads them at its next start. */
  setRaftOptions(raft: Record<string, number>): void {
    this.opts.raft = { ...this.opts.raft, ...raft };
    for (const h of this.nodes.values()) {
      const config = JSON.parse(readFileSync(h.config, 'utf8')) as { raft?: Record<string, number> };
      config.raft = { ...config.raft, ...raft };
      writeFileSync(h.config, JSON.stringify(config));
    }
  }

  get ids(): string[] {
    return [...this.nodes.keys()];
  }

  startNode(id: string): void {
    const h = this.handle(id);
    if (this.isRunning(id)) throw new Error(`${id} is running`);
    h.out?.end();
    h.out = createWriteStream(h.log, { flags: 'a' });
    const child = spawn(
      process.execPath,
      ['--experimental-wasm-modules', '--no-warnings', ...NODE_HEAP_FLAGS, ...(this.opts.nodeArgs ?? []), join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'serve', '--config', h.config],
      { stdio: ['ignore', 'pipe', 'pipe'], env: this.env },
    );
    child.stdout!.pipe(h.out, { end: false });
    child.stderr!.pipe(h.out, { end: false });
    h.child = child;
  }

  isRunning(id: string): boolean {
    const child = this.handle(id).child;
    return child !== null && child.exitCode === null && child.signalCode === null;
  }

  /** Sends `signal` and, unless it is SIGSTOP/SIGCONT, waits for the process to exit. */
  async signal(id: string, signal: NodeJS.Signals): Promise<void> {
    const child = this.handle(id).child;
    if (!child || !this.isRunning(id)) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      child.kill(signal);
      return;
    }
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    // A node that does not finish a graceful stop in time is a bug the logs will show; don't hang.
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** The proxy carrying what `from` sends to `to` (only with `proxies`). */
  peerLink(from: string, to: string): FaultProxy {
    const proxy = this.peerProxies.get(`${from}>${to}`);
    if (proxy === undefined) throw new Error(`no proxy on ${from}>${to} (started without proxies?)`);
    return proxy;
  }

  /** The proxy between node `id` and the router (only with `proxies`). */
  routerLink(id: string): FaultProxy {
    const proxy = this.routerProxies.get(id);
    if (proxy === undefined) throw new Error(`no router proxy for ${id} (started without proxies?)`);
    return proxy;
  }

  /** Puts every proxy back in `mode` (pass heals every partition). */
  setAllLinks(mode: ProxyMode): void {
    for (const p of [...this.peerProxies.values(), ...this.routerProxies.values()]) p.setMode(mode);
  }

  logs(id: string): string {
    return readFileSync(this.handle(id).log, 'utf8');
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

  /** A client with the operator token, or with `token` when given (and `options`). */
  async client(requestTimeoutMs = 6000, token = this.adminToken, options: Pick<ClientOptions, 'coalesce'> = {}): Promise<ForgeMailboxClient> {
    return ForgeMailboxClient.open(this.router.url, { ...options, requestTimeoutMs, token });
  }

  async stop(keepFiles = false): Promise<void> {
    this.setAllLinks('pass');
    await Promise.all(
      this.ids.map(async (id) => {
        await this.signal(id, 'SIGCONT');
        await this.signal(id, 'SIGTERM');
      }),
    );
    for (const h of this.nodes.values()) h.out?.end();
    await Promise.all([...this.peerProxies.values(), ...this.routerProxies.values()].map((p) => p.close()));
    await this.guard.stop();
    await this.router.stop();
    if (this.opts.tmpfsBytes !== undefined) {
      for (const h of this.nodes.values()) {
        try {
          unmountTmpfs(h.dataDir);
        } catch (err) {
          process.stderr.write(`${(err as Error).message}\n`);
        }
      }
    }
    if (!keepFiles) rmSync(this.dir, { recursive: true, force: true });
  }

  private handle(id: string): NodeHandle {
    const h = this.nodes.get(id);
    if (h === undefined) throw new Error(`no node ${id}`);
    return h;
  }
}
