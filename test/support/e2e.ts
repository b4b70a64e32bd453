// The end-to-end tests' scaffolding, in one place: a process cluster per suite (started before
// its steps, stopped after, its data and logs kept when a step failed), the Zenoh router and a
// leader bridge for the bridge and CLI tests, and running the CLI, Python and other programs.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { ForgeMailboxClient } from '../../src/bridge/client.js';
import type { PeerAddress } from '../../src/identifiers.js';
import type { MailboxService } from '../../src/bridge/mailbox-service.js';
import { ZenohBridge, type ZenohBridgeOptions } from '../../src/bridge/zenoh-bridge.js';
import { SILENT_LOGGER } from '../../src/logger-port.js';
import { repoRoot, venvPython } from '../../src/repo-root.js';
import { ZenohRouter } from '../../src/router/zenoh-router.js';
import { ProcessCluster, type ProcessClusterOptions } from '../../src/verify/process-cluster.js';

export { metricValue } from '../../src/verify/metric-page.js';

export { ProcessCluster as TestCluster, sleep } from '../../src/verify/process-cluster.js';
export { freePort, ZenohRouter } from '../../src/router/zenoh-router.js';
export { repoRoot, venvPython };

export const cliPath = join(repoRoot, 'bin', 'forge-mailbox');

/** One node's answer to `status --node` (`ForgeMailboxClient.nodeStatuses`), the fields tests read. */
export interface NodeStatus {
  node: string;
  role: string;
  commitIndex: number;
  appliedIndex: number;
  snapshotIndex: number;
  members: { voters: string[]; learners: string[] };
  directory: Record<string, PeerAddress>;
  followers?: Record<string, { lag: number }>;
}

export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Polls `probe` every 200 ms until it returns something other than undefined; fails after `timeoutMs` with the last error. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs a program to its end and reports its exit code and output, whatever the code. */
export function runProgram(file: string, args: string[], timeoutMs = 120_000, env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The Python of the test virtualenv (eclipse-zenoh), running `script` (relative to the repo) to a zero exit. */
export async function runPython(script: string, args: string[], timeoutMs: number, env: Record<string, string> = {}): Promise<string> {
  const python = venvPython;
  assert.ok(existsSync(python), `${python} missing: run scripts/setup-python.sh`);
  const r = await runProgram(python, [join(repoRoot, script), ...args], timeoutMs, env);
  assert.equal(r.code, 0, `${script} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

export interface ClusterSuite {
  readonly cluster: ProcessCluster;
  /** A client of the cluster's router, opened once a leader serves; a step may replace it. */
  client: ForgeMailboxClient;
  /** A test whose failure keeps the cluster's data and logs for inspection. */
  step(name: string, fn: () => Promise<void>): void;
  /** bin/forge-mailbox with these arguments, against the cluster's router, with the operator token. */
  cli(...args: string[]): Promise<Outcome>;
}

/** Inside a describe(): one process cluster for its steps, up before the first and stopped after the last. */
export function useCluster(options: ProcessClusterOptions): ClusterSuite {
  let cluster: ProcessCluster | undefined;
  let failed = false;
  const suite: ClusterSuite = {
    get cluster() {
      assert.ok(cluster, 'the cluster is not started');
      return cluster;
    },
    client: undefined as unknown as ForgeMailboxClient,
    step: (name, fn) =>
      test(name, async () => {
        try {
          await fn();
        } catch (err) {
          failed = true;
          throw err;
        }
      }),
    cli: (...args) => runProgram(cliPath, [...args, '--router', suite.cluster.router.url], 120_000, { FORGE_TOKEN: suite.cluster.adminToken }),
  };
  before(async () => {
    cluster = await ProcessCluster.start(options);
    suite.client = await cluster.client();
    await cluster.waitForLeader(suite.client);
  });
  after(async () => {
    await suite.client?.close();
    if (failed && cluster) process.stderr.write(`cluster data and logs kept in ${cluster.dir}\n`);
    await cluster?.stop(failed);
  });
  return suite;
}

/** One process cluster for one test: `fn` gets it with a client once a leader serves; kept on failure. */
export async function withCluster(options: ProcessClusterOptions, fn: (cluster: ProcessCluster, client: ForgeMailboxClient) => Promise<void>): Promise<void> {
  const cluster = await ProcessCluster.start(options);
  let ok = false;
  try {
    const client = await cluster.client();
    try {
      await fn(cluster, client);
    } finally {
      await client.close();
    }
    ok = true;
  } finally {
    await cluster.stop(!ok);
  }
}

/** One Zenoh router for the whole test file, and a leader bridge on it serving `serve` when given. */
export function useRouter(serve?: MailboxService & { nodeId: string }): { readonly router: ZenohRouter } {
  let router: ZenohRouter | undefined;
  let bridge: ZenohBridge | undefined;
  before(async () => {
    router = await ZenohRouter.start();
    if (serve) bridge = await startBridge(router.url, serve);
  });
  after(async () => {
    await bridge?.stop();
    await router?.stop();
  });
  return {
    get router() {
      assert.ok(router, 'the router is not started');
      return router;
    },
  };
}

/** A bridge serving `service` on the router, connected and with its queryables declared; stopped with `t` when given. */
export async function startBridge(
  routerUrl: string,
  service: MailboxService & { nodeId: string },
  options: Partial<Omit<ZenohBridgeOptions, 'routerUrl' | 'service' | 'nodeId'>> = {},
  t?: TestContext,
): Promise<ZenohBridge> {
  const bridge = new ZenohBridge({ routerUrl, nodeId: service.nodeId, service, logger: SILENT_LOGGER, verifier: null, ...options });
  bridge.start();
  t?.after(() => bridge.stop());
  await bridge.connected();
  await bridge.settled();
  return bridge;
}

/** A temporary directory for the file's tests, removed at the end unless `keep()` was called. */
export function useTempDir(prefix: string, what: string): { readonly path: string; keep(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  let kept = false;
  after(() => {
    if (kept) process.stderr.write(`${what} kept in ${path}\n`);
    else rmSync(path, { recursive: true, force: true });
  });
  return { path, keep: () => void (kept = true) };
}
