// `forge-mailbox local-cluster`: the embedded default. Starts the Zenoh router, its gateway and a
// three-node cluster on 127.0.0.1 as child processes, with data under a local folder (0700), logs
// on this terminal (pretty on a TTY, JSON otherwise), and a clean stop on Ctrl-C.
//
// Secure by default: the router's passwords are generated on the first run into <dir>/zenoh
// (files 0600) and reused afterwards; native clients log in with <dir>/zenoh/client.json5, zenoh-ts
// clients use the gateway's WebSocket, and the nodes' own WebSocket listens on loopback only.
// The nodes reach the router through the link guard (src/router/link-guard.ts), one more child:
// it listens on the nodes' port and relays to the router's private WebSocket on another loopback
// port, cutting the router link of a node that stops answering pings (a frozen leader).
// `--no-router-auth` turns router authentication and access control off, and says so.
//
// The Raft peer links are mutual TLS: the first run makes a cluster CA and one certificate per
// node in <dir>/peer-tls (0700, keys 0600; `forge-mailbox certs`, which needs openssl) and reuses
// them afterwards.
//
// Requests are authorized too: the first run makes a token signing key in <dir>/auth (0600) and
// the JWKS the nodes verify with; every start writes a fresh operator token (every operation on
// every mailbox, 7 days) to <dir>/auth/admin.token (0600), which the CLI and the README examples
// pick up by default. `forge-mailbox token issue --key-file <dir>/auth/signing-key.jwk` makes
// narrower ones.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { PinoPretty } from 'pino-pretty';
import { ALL_USERS, OPERATIONS } from '../auth/capability.js';
import { MAX_BODY_BYTES_CEILING, parseMaxBodyBytes } from '../config/schema.js';
import { addToJwks, generateSigningKey, readSigningKey } from '../auth/key-files.js';
import { issueToken } from '../auth/tokens.js';
import { ensurePeerCerts } from '../peer-certs.js';
import { repoRoot } from '../repo-root.js';
import { ensurePrivateDir, writeSecretFile } from '../secret-files.js';
import { spawnLinkGuard, waitForListener } from '../router/link-guard-process.js';
import { assertListener, PortTakenError } from '../router/port-owner.js';
import { spawnZenoh, waitForPort, writeRouterFiles, type RouterFiles } from '../router/zenoh-router.js';
import { nodeAllocatorEnv } from '../node/node-allocator.js';
import { NODE_HEAP_FLAGS } from '../node/node-heap-flags.js';

export interface LocalClusterPorts {
  /** First Raft peer port. */
  raft: number;
  /** The gateway's WebSocket, for zenoh-ts clients and the CLI. */
  gatewayWs: number;
  /** Where the nodes connect: the link guard (loopback, private to them). */
  nodesWs: number;
  /** The router's own remote-api WebSocket behind the guard (loopback, private). */
  routerWs: number;
  /** The router's Zenoh TCP listener for native clients. */
  zenoh: number;
}

interface ClusterFiles {
  configs: string[];
  router: RouterFiles;
  adminToken: string;
}

/** The cluster id local clusters use (a token names the cluster it is for). */
const LOCAL_CLUSTER_ID = 'local';
const ADMIN_TOKEN_TTL_S = 7 * 86_400;

/** The signing key and JWKS under `authDir` (made on first use), and a fresh operator token. */
async function prepareAuth(authDir: string): Promise<{ jwksFile: string; adminToken: string }> {
  const keyFile = join(authDir, 'signing-key.jwk');
  const jwksFile = join(authDir, 'jwks.json');
  if (!existsSync(keyFile)) {
    const key = await generateSigningKey();
    writeSecretFile(keyFile, `${JSON.stringify(key.signingKey)}\n`);
    addToJwks(jwksFile, key.publicKey);
  }
  const adminToken = join(authDir, 'admin.token');
  const token = await issueToken({
    signingKey: readSigningKey(keyFile),
    audience: LOCAL_CLUSTER_ID,
    principal: 'local-operator',
    users: [ALL_USERS],
    ops: OPERATIONS,
    ttlSeconds: ADMIN_TOKEN_TTL_S,
  });
  writeSecretFile(adminToken, `${token}\n`);
  return { jwksFile, adminToken };
}

/**
 * Writes the node configs and the router files of a local cluster; the peer certificates, the
 * token signing key and the router passwords are generated on first use and kept.
 */
export interface LocalClusterOptions {
  routerAuth?: boolean;
  /** mailbox.maxBodyBytes of the nodes, which the routers' message limit follows (default 1 MiB). */
  maxBodyBytes?: number;
}

export async function prepareLocalCluster(dir: string, nodes: number, ports: LocalClusterPorts, opts: LocalClusterOptions = {}): Promise<ClusterFiles> {
  ensurePrivateDir(dir);
  const auth = await prepareAuth(join(dir, 'auth'));
  const peers = Object.fromEntries(
    Array.from({ length: nodes }, (_, i) => [`n${i + 1}`, { host: '127.0.0.1', port: ports.raft + i }]),
  );
  const peerTls = ensurePeerCerts(join(dir, 'peer-tls'), Object.keys(peers));
  const configs = Object.keys(peers).map((nodeId) => {
    const file = join(dir, `${nodeId}.json`);
    const config = {
      nodeId,
      clusterId: LOCAL_CLUSTER_ID,
      peerTls: peerTls.get(nodeId),
      dataDir: join(dir, nodeId),
      peers,
      zenoh: { router: `ws://127.0.0.1:${ports.nodesWs}`, keyPrefix: 'forge/mailbox' },
      auth: { jwksFile: auth.jwksFile },
      ...(opts.maxBodyBytes === undefined ? {} : { mailbox: { maxBodyBytes: opts.maxBodyBytes } }),
      logLevel: 'info',
    };
    writeSecretFile(file, JSON.stringify(config, null, 2) + '\n');
    return file;
  });
  const router = writeRouterFiles(join(dir, 'zenoh'), {
    wsPort: ports.routerWs,
    zenohPort: ports.zenoh,
    gatewayPort: ports.gatewayWs,
    host: '127.0.0.1',
    auth: opts.routerAuth ?? true,
    maxBodyBytes: opts.maxBodyBytes,
  });
  return { configs, router, adminToken: auth.adminToken };
}

function nodeProcess(config: string): ChildProcess {
  return spawn(
    process.execPath,
    ['--experimental-wasm-modules', '--no-warnings', ...NODE_HEAP_FLAGS, join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'serve', '--config', config],
    { stdio: ['ignore', 'pipe', 'inherit'], env: nodeAllocatorEnv(process.env, process.env.FORGE_ALLOCATOR) },
  );
}

async function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export function registerLocalClusterCommand(program: Command): void {
  program
    .command('local-cluster')
    .description('run the Zenoh router and a three-node cluster on 127.0.0.1 (no Docker); Ctrl-C stops all')
    .option('--dir <dir>', 'data and config folder', './data/local')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--raft-port <port>', 'first Raft peer port', '7701')
    .option('--ws-port <port>', 'gateway WebSocket port for zenoh-ts clients and the CLI', '10000')
    .option('--nodes-ws-port <port>', "WebSocket port of the nodes' own sessions: the link guard (loopback, private)", '10001')
    .option('--router-ws-port <port>', "the router's own WebSocket behind the link guard (loopback, private)", '10002')
    .option('--guard-dead-after-ms <ms>', "the link guard cuts a node's router link after this long without a pong", '400')
    .option('--zenoh-port <port>', 'router Zenoh TCP port for native clients', '7447')
    .option('--no-router-auth', 'INSECURE: run the router without authentication and access control')
    .option('--max-body-bytes <bytes>', `largest message body (mailbox.maxBodyBytes of the nodes, and the routers' message limit); default 1 MiB, at most ${MAX_BODY_BYTES_CEILING}`, parseBodyBytes)
    .action(
      async (opts: {
        dir: string;
        nodes: string;
        raftPort: string;
        wsPort: string;
        nodesWsPort: string;
        routerWsPort: string;
        guardDeadAfterMs: string;
        zenohPort: string;
        routerAuth: boolean;
        maxBodyBytes?: number;
      }) => {
      const dir = resolve(opts.dir);
      const ports: LocalClusterPorts = {
        raft: Number(opts.raftPort),
        gatewayWs: Number(opts.wsPort),
        nodesWs: Number(opts.nodesWsPort),
        routerWs: Number(opts.routerWsPort),
        zenoh: Number(opts.zenohPort),
      };
      const files = await prepareLocalCluster(dir, Number(opts.nodes), ports, { routerAuth: opts.routerAuth, maxBodyBytes: opts.maxBodyBytes });
      const out = process.stdout.isTTY ? PinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : null;
      if (out) out.pipe(process.stdout);
      const say = (msg: string) => process.stderr.write(`local-cluster: ${msg}\n`);

      if (!opts.routerAuth) {
        say('WARNING: --no-router-auth: the Zenoh router accepts anyone and enforces no access control');
      }
      // Each child is checked to hold its own port: a handshake on a port already taken (another
      // cluster, an old router still running) would otherwise pass for this one's.
      const started: ChildProcess[] = [];
      const startChild = async (child: ChildProcess, port: number, what: string, ready: () => Promise<void>): Promise<ChildProcess> => {
        started.push(child);
        await ready();
        assertListener(child.pid, port, what);
        return child;
      };
      let router: ChildProcess;
      let guard: ChildProcess;
      let gateway: ChildProcess;
      try {
        say(`starting Zenoh router (private ws://127.0.0.1:${ports.routerWs}, native clients tcp/127.0.0.1:${ports.zenoh})`);
        router = await startChild(spawnZenoh(files.router.routerConfig, { stdio: 'inherit' }), ports.routerWs, 'Zenoh router', () => waitForPort(ports.routerWs));
        say(`starting link guard for the nodes (ws://127.0.0.1:${ports.nodesWs} -> router; cuts a node silent ${opts.guardDeadAfterMs} ms)`);
        const guardChild = spawnLinkGuard(
          { listenPort: ports.nodesWs, upstream: `ws://127.0.0.1:${ports.routerWs}`, deadAfterMs: Number(opts.guardDeadAfterMs) },
          'pipe',
        );
        guardChild.stdout!.pipe(out ?? process.stdout, { end: false });
        guardChild.stderr!.pipe(process.stderr, { end: false });
        guard = await startChild(guardChild, ports.nodesWs, 'link guard', () => waitForListener(ports.nodesWs));
        say(`starting Zenoh gateway for zenoh-ts clients and the CLI (ws://127.0.0.1:${ports.gatewayWs})`);
        gateway = await startChild(spawnZenoh(files.router.gatewayConfig!, { mode: 'client', stdio: 'inherit' }), ports.gatewayWs, 'Zenoh gateway', () =>
          waitForPort(ports.gatewayWs),
        );
      } catch (e) {
        for (const child of started.reverse()) await stopChild(child, 5_000);
        if (!(e instanceof PortTakenError)) throw e;
        say(`${e.message}: is another cluster running? Stop it, or choose other ports (see --help)`);
        process.exitCode = 1;
        return;
      }
      if (opts.routerAuth) say(`native Zenoh clients log in with ${files.router.clientConfig} (zenoh.Config.from_file)`);
      const nodes = files.configs.map((config) => {
        const child = nodeProcess(config);
        child.stdout!.pipe(out ?? process.stdout, { end: false });
        child.on('exit', (code, signal) => {
          if (!stopping) say(`node ${config} exited (code ${code}, signal ${signal})`);
        });
        return child;
      });
      say(`${nodes.length} nodes starting, data in ${dir}; Ctrl-C to stop`);
      say(`operator token (every operation, every mailbox; the CLI uses it by default): ${files.adminToken}`);

      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        say('stopping nodes...');
        await Promise.all(nodes.map((n) => stopChild(n, 10_000)));
        await stopChild(gateway, 5_000);
        await stopChild(guard, 5_000);
        await stopChild(router, 5_000);
        say('stopped');
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
      },
    );
}

function parseBodyBytes(value: string): number {
  try {
    return parseMaxBodyBytes(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}
