// `forge-mailbox serve`: run one node until SIGTERM/SIGINT, then stop gracefully.

import type { Command } from 'commander';
import { ConfigError, loadConfig, unsafeMutationsFromEnv } from '../config/load.js';
import { createLogger } from '../logging.js';
import { ForgeNode } from '../node/forge-node.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run a forge-mailbox node')
    .option('-c, --config <file>', 'JSON config file (see README: Configuration)')
    .option('--node-id <id>', 'override nodeId')
    .option('--data-dir <dir>', 'override dataDir')
    .option('--router <url>', 'override zenoh.router (remote-api WebSocket URL)')
    .option('--log-level <level>', 'override logLevel')
    .action(async (opts: { config?: string; nodeId?: string; dataDir?: string; router?: string; logLevel?: string }) => {
      let config;
      let unsafeMutations;
      try {
        config = loadConfig({ file: opts.config, env: process.env, overrides: opts });
        unsafeMutations = unsafeMutationsFromEnv(process.env);
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`forge-mailbox: ${err.message}\n`);
          process.exit(3);
        }
        throw err;
      }
      let node: ForgeNode | null = null;
      const log = createLogger({
        level: config.logLevel,
        nodeId: config.nodeId,
        raftContext: () => {
          if (!node) return null;
          const s = node.driver.softState();
          return { term: s.term, role: s.role };
        },
      });
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'shutdown requested');
        (node ? node.stop() : Promise.resolve())
          .then(() => process.exit(0))
          .catch((err: Error) => {
            log.error({ err }, 'unclean shutdown');
            process.exit(1);
          });
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
      try {
        node = await ForgeNode.open(config, log, { unsafeMutations });
        await node.start();
      } catch (err) {
        log.fatal({ err }, 'node failed to start');
        process.exit(1);
      }
    });
}
