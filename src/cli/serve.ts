// `forge-mailbox serve`: run one node until SIGTERM/SIGINT, then stop gracefully. A node whose
// disk fails under it, or whose store does not verify, exits with a code of its own (SERVE_EXIT).

import type { Command } from 'commander';
import { ConfigError, loadConfig, unsafeMutationsFromEnv } from '../config/load.js';
import { createLogger } from '../logging.js';
import { ForgeNode } from '../node/forge-node.js';
import { SERVE_EXIT } from '../node/exit-codes.js';
import { StorageError } from '../raft/level-storage.js';
import { SnapshotDigestError } from '../raft/driver.js';
import type { Logger } from '../logging.js';

/** Exits once the log lines written so far are out (pino writes asynchronously), or after a second. */
function exitAfterFlush(log: Logger, code: number): void {
  const exit = () => process.exit(code);
  setTimeout(exit, 1000).unref();
  log.flush(() => exit());
}

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
          process.exit(SERVE_EXIT.badConfig);
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
          .then(() => exitAfterFlush(log, SERVE_EXIT.ok))
          .catch((err: Error) => {
            log.error({ err }, 'unclean shutdown');
            exitAfterFlush(log, SERVE_EXIT.failed);
          });
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
      const onHalted = (cause: Error) => {
        log.fatal({ err: cause, exitCode: SERVE_EXIT.storageFailed }, 'exiting after a storage failure; restart this node once its disk is fixed');
        exitAfterFlush(log, SERVE_EXIT.storageFailed);
      };
      try {
        node = await ForgeNode.open(config, log, { unsafeMutations, onHalted });
        await node.start();
      } catch (err) {
        if ((err instanceof StorageError && (err.code === 'CORRUPT' || err.code === 'UNSUPPORTED_FORMAT')) || err instanceof SnapshotDigestError) {
          // Said on stderr too: this is the line an operator reads, and what the runbook starts from.
          const line = `forge-mailbox: refusing to start: the store in ${config.dataDir} is unreadable: ${err.message}. ` +
            'Recovery: wipe this node and add it again from its peers (README: Operations, "A corrupt store").';
          process.stderr.write(line + '\n');
          log.fatal({ err, exitCode: SERVE_EXIT.storeUnreadable }, line);
          exitAfterFlush(log, SERVE_EXIT.storeUnreadable);
          return;
        }
        if (err instanceof StorageError && err.code === 'IO') {
          log.fatal({ err, exitCode: SERVE_EXIT.storageFailed }, 'cannot start: the disk failed under the store; restart this node once its disk is fixed');
          exitAfterFlush(log, SERVE_EXIT.storageFailed);
          return;
        }
        log.fatal({ err }, 'node failed to start');
        exitAfterFlush(log, SERVE_EXIT.failed);
      }
    });
}
