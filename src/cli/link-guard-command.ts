// `forge-mailbox link-guard`: runs the link guard (src/router/link-guard.ts) beside a router until
// SIGTERM/SIGINT. It listens where the nodes connect and relays to the router's private
// remote-api WebSocket, cutting the router link of any node that stops answering pings.

import { connect } from 'node:net';
import type { Command } from 'commander';
import { createLogger } from '../logging.js';
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_PING_INTERVAL_MS, LinkGuard, parseListen } from '../router/link-guard.js';
import { errorText } from '../error-text.js';

function positiveInt(name: string, text: string): number {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got "${text}"`);
  return v;
}

/** True when a TCP connection to the upstream's host:port is accepted within a second. */
function upstreamAccepts(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function registerLinkGuardCommand(program: Command): void {
  program
    .command('link-guard')
    .description("relay the nodes' router WebSocket, cutting the router link of a node that stops answering pings (frozen)")
    .requiredOption('--listen <host:port>', 'where the nodes connect')
    .requiredOption('--upstream <url>', "the router's private remote-api WebSocket, e.g. ws://127.0.0.1:10000")
    .option('--ping-interval-ms <ms>', 'a node (all the links of its process) heard from within this long is not pinged; otherwise one of its links is, each tick', String(DEFAULT_PING_INTERVAL_MS))
    .option('--dead-after-ms <ms>', 'a node silent this long loses its router link (about an election timeout)', String(DEFAULT_DEAD_AFTER_MS))
    .option(
      '--exit-after-upstream-down-ms <ms>',
      'exit (status 1) once the router has refused connections this long; 0 never (for a sidecar that must rejoin a restarted router)',
      '0',
    )
    .option('--log-level <level>', 'log level', 'info')
    .action(
      async (opts: { listen: string; upstream: string; pingIntervalMs: string; deadAfterMs: string; exitAfterUpstreamDownMs: string; logLevel: string }) => {
        let listen: { host: string; port: number };
        let upstream: URL;
        let pingIntervalMs: number;
        let deadAfterMs: number;
        let exitAfter: number;
        try {
          listen = parseListen(opts.listen);
          upstream = new URL(opts.upstream);
          if (upstream.protocol !== 'ws:' && upstream.protocol !== 'wss:') throw new RangeError(`--upstream must be ws:// or wss://, got ${opts.upstream}`);
          pingIntervalMs = positiveInt('--ping-interval-ms', opts.pingIntervalMs);
          deadAfterMs = positiveInt('--dead-after-ms', opts.deadAfterMs);
          exitAfter = positiveInt('--exit-after-upstream-down-ms', opts.exitAfterUpstreamDownMs);
        } catch (e) {
          process.stderr.write(`forge-mailbox link-guard: ${errorText(e)}\n`);
          process.exit(3);
        }
        const log = createLogger({ level: opts.logLevel, nodeId: 'link-guard' });
        const guard = await LinkGuard.start({ listenHost: listen.host, listenPort: listen.port, upstream: upstream.href, pingIntervalMs, deadAfterMs, logger: log });
        const stop = (signal: string) => {
          log.info({ signal }, 'link guard stopping');
          void guard.close().then(() => process.exit(0));
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
        if (exitAfter > 0) {
          let downSince: number | null = null;
          for (;;) {
            await new Promise((r) => setTimeout(r, 1000));
            if (await upstreamAccepts(upstream)) downSince = null;
            else downSince ??= Date.now();
            if (downSince !== null && Date.now() - downSince >= exitAfter) {
              log.error({ upstream: upstream.href, downMs: Date.now() - downSince }, 'router unreachable: exiting so that the supervisor restarts the guard');
              process.exit(1);
            }
          }
        }
      },
    );
}
