// `forge-mailbox local-cluster`: the embedded default. Starts the Zenoh router and a three-node
// cluster on 127.0.0.1 as child processes, with data under a local folder, logs on this terminal
// (pretty on a TTY, JSON otherwise), and a clean stop on Ctrl-C.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { PinoPretty } from 'pino-pretty';
import { repoRoot } from '../repo-root.js';
import { startRouter, waitForPort } from '../router/zenoh-router.js';

interface ClusterFiles {
  configs: string[];
  wsPort: number;
  zenohPort: number;
}

/** Writes (once) the node configs of a local cluster; the secret is generated and kept. */
export function prepareLocalCluster(dir: string, nodes: number, basePort: number, wsPort: number, zenohPort: number): ClusterFiles {
  mkdirSync(dir, { recursive: true });
  const secretFile = join(dir, 'cluster-secret');
  if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const secret = readFileSync(secretFile, 'utf8').trim();
  const peers = Object.fromEntries(
    Array.from({ length: nodes }, (_, i) => [`n${i + 1}`, { host: '127.0.0.1', port: basePort + i }]),
  );
  const configs = Object.keys(peers).map((nodeId) => {
    const file = join(dir, `${nodeId}.json`);
    const config = {
      nodeId,
      clusterId: 'local',
      secret,
      dataDir: join(dir, nodeId),
      peers,
      zenoh: { router: `ws://127.0.0.1:${wsPort}`, keyPrefix: 'forge/mailbox' },
      logLevel: 'info',
    };
    writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
    return file;
  });
  return { configs, wsPort, zenohPort };
}

function nodeProcess(config: string): ChildProcess {
  return spawn(
    process.execPath,
    ['--experimental-wasm-modules', '--no-warnings', join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'serve', '--config', config],
    { stdio: ['ignore', 'pipe', 'inherit'] },
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
    .option('--ws-port <port>', 'router remote-api WebSocket port', '10000')
    .option('--zenoh-port <port>', 'router Zenoh TCP port', '7447')
    .action(async (opts: { dir: string; nodes: string; raftPort: string; wsPort: string; zenohPort: string }) => {
      const dir = resolve(opts.dir);
      const files = prepareLocalCluster(dir, Number(opts.nodes), Number(opts.raftPort), Number(opts.wsPort), Number(opts.zenohPort));
      const out = process.stdout.isTTY ? PinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : null;
      if (out) out.pipe(process.stdout);
      const say = (msg: string) => process.stderr.write(`local-cluster: ${msg}\n`);

      say(`starting Zenoh router (remote-api ws://127.0.0.1:${files.wsPort}, zenoh tcp/127.0.0.1:${files.zenohPort})`);
      const router = startRouter({ wsPort: files.wsPort, zenohPort: files.zenohPort, stdio: 'inherit' });
      await waitForPort(files.wsPort);
      const nodes = files.configs.map((config) => {
        const child = nodeProcess(config);
        child.stdout!.pipe(out ?? process.stdout, { end: false });
        child.on('exit', (code, signal) => {
          if (!stopping) say(`node ${config} exited (code ${code}, signal ${signal})`);
        });
        return child;
      });
      say(`${nodes.length} nodes starting, data in ${dir}; Ctrl-C to stop`);

      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        say('stopping nodes...');
        await Promise.all(nodes.map((n) => stopChild(n, 10_000)));
        await stopChild(router, 5_000);
        say('stopped');
        process.exit(0);
      };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    });
}
