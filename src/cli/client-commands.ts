// The client half of the CLI: put / consume / peek / ack / nack / len / purge / status, the
// membership commands members / add-node / remove-node, and quotas, over Zenoh.
// Results go to stdout as one JSON document; errors go to stderr as `forge-mailbox: CODE: message`.
//
// Exit codes: 0 ok; 2 empty mailbox (consume/peek); 3 bad input (BAD_USER, BAD_REQUEST, TOO_LARGE,
// UNKNOWN_OP, UNKNOWN_RECEIPT, LEASE_EXPIRED, UNKNOWN_NODE, ALREADY_MEMBER, MEMBERSHIP_FULL, usage
// errors and bad option values); 4 unavailable, worth retrying later (UNAVAILABLE, NOT_LEADER,
// TIMEOUT, LEADERSHIP_LOST, ROUTER_LOST, BACKLOG_FULL, BUSY, CONF_CHANGE_IN_PROGRESS, router unreachable); 5 not allowed (UNAUTHORIZED,
// FORBIDDEN); 1 anything else (MAILBOX_FULL, QUOTA_EXCEEDED, INTERNAL, ...).
//
// The capability token comes from --token-file, else $FORGE_TOKEN, else $FORGE_TOKEN_FILE, else
// ./data/local/auth/admin.token when it exists (the operator token `npm start` writes). Never from
// argv: a token on the command line would show in `ps` and shell history.
//
// Message bodies: `put` sends the <message> argument as UTF-8, or the bytes of --file; consumed
// bodies are printed as "body" (UTF-8 text) when they are valid UTF-8, else as "bodyBase64".

import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { ForgeMailboxClient, MailboxClientError, type ClientErrorCode } from '../bridge/client.js';
import type { DeliveredMessage } from '../mailbox/commands.js';
import type { MailboxQuotas } from '../mailbox/quotas.js';
import { errorText } from '../error-text.js';

export const DEFAULT_ROUTER_URL = 'ws://127.0.0.1:10000';

export const EXIT_OK = 0;
export const EXIT_OTHER = 1;
export const EXIT_EMPTY = 2;
export const EXIT_BAD_INPUT = 3;
export const EXIT_UNAVAILABLE = 4;
export const EXIT_NOT_ALLOWED = 5;

/** Where `npm start` (local-cluster) writes its operator token, relative to the checkout. */
export const LOCAL_ADMIN_TOKEN_FILE = './data/local/auth/admin.token';

const BAD_INPUT: ReadonlySet<ClientErrorCode> = new Set([
  'BAD_USER',
  'BAD_REQUEST',
  'TOO_LARGE',
  'UNKNOWN_OP',
  'UNKNOWN_RECEIPT',
  'LEASE_EXPIRED',
  'UNKNOWN_NODE',
  'ALREADY_MEMBER',
  'MEMBERSHIP_FULL',
]);
const UNAVAILABLE: ReadonlySet<ClientErrorCode> = new Set([
  'UNAVAILABLE',
  'NOT_LEADER',
  'TIMEOUT',
  'LEADERSHIP_LOST',
  'ROUTER_LOST',
  'BACKLOG_FULL',
  'BUSY',
  'NOSPACE',
  'CONF_CHANGE_IN_PROGRESS',
]);

export function exitCodeFor(code: ClientErrorCode): number {
  if (code === 'UNAUTHORIZED' || code === 'FORBIDDEN') return EXIT_NOT_ALLOWED;
  if (BAD_INPUT.has(code)) return EXIT_BAD_INPUT;
  if (UNAVAILABLE.has(code)) return EXIT_UNAVAILABLE;
  return EXIT_OTHER;
}

interface ConnectionOptions {
  router: string;
  prefix: string;
  timeout: number;
  tokenFile?: string;
}

/** The token to send (see the header for the order of sources); undefined when there is none. */
export function resolveToken(tokenFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromFile = (path: string) => readFileSync(path, 'utf8').trim();
  if (tokenFile !== undefined) return fromFile(tokenFile);
  if (env.FORGE_TOKEN) return env.FORGE_TOKEN.trim();
  if (env.FORGE_TOKEN_FILE) return fromFile(env.FORGE_TOKEN_FILE);
  return existsSync(LOCAL_ADMIN_TOKEN_FILE) ? fromFile(LOCAL_ADMIN_TOKEN_FILE) : undefined;
}

function positiveInt(value: string): number {
  if (!/^[0-9]{1,15}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a whole number >= 1');
  return Number(value);
}

function wholeNumber(value: string): number {
  if (!/^[0-9]{1,15}$/.test(value)) throw new InvalidArgumentError('must be a whole number >= 0');
  return Number(value);
}

/** `host:port`, `[v6]:port` or `v6-literal:port` (the last colon splits). */
function peerAddress(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = value.slice(colon + 1);
  if (colon < 1 || host === '' || !/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new InvalidArgumentError('expected <host>:<port>');
  }
  return { host, port: Number(port) };
}

/** One node's own status, failing (EXIT_UNAVAILABLE) when it did not answer or its Raft loop halted. */
export function nodeHealth(statuses: unknown[], node: string): { output: unknown; exitCode?: number } {
  const st = statuses.find((s) => (s as { node?: unknown }).node === node) as { halted?: unknown } | undefined;
  if (st === undefined) return { output: { node, status: 'no answer' }, exitCode: EXIT_UNAVAILABLE };
  return typeof st.halted === 'string' ? { output: st, exitCode: EXIT_UNAVAILABLE } : { output: st };
}

/** The membership part of the leader's status: who votes, who learns, how far behind each follower is. */
function membersOf(status: unknown): unknown {
  const st = status as { node?: unknown; term?: unknown; members?: unknown; followers?: unknown };
  return { leader: st.node, term: st.term, members: st.members, followers: st.followers };
}

function withConnection(command: Command): Command {
  return command
    // Usage errors (missing argument, bad option value) are bad input: exit 3, not commander's 1.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT))
    .option('--router <url>', 'Zenoh router remote-api WebSocket URL', DEFAULT_ROUTER_URL)
    .option('--prefix <prefix>', 'key prefix of the mailbox key space', 'forge/mailbox')
    .option('--timeout <ms>', 'request timeout in ms', positiveInt, 10_000)
    .option('--token-file <path>', `capability token file (default: $FORGE_TOKEN, $FORGE_TOKEN_FILE, or ${LOCAL_ADMIN_TOKEN_FILE})`);
}

/** Prints the result, or the error, and sets the process exit code. */
async function run(conn: ConnectionOptions, action: (client: ForgeMailboxClient) => Promise<{ output: unknown; exitCode?: number }>): Promise<void> {
  let client: ForgeMailboxClient | null = null;
  try {
    const token = resolveToken(conn.tokenFile);
    client = await ForgeMailboxClient.open(conn.router, {
      keyPrefix: conn.prefix,
      requestTimeoutMs: conn.timeout,
      openTimeoutMs: 5000,
      ...(token === undefined ? {} : { token }),
    });
    const { output, exitCode } = await action(client);
    process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    process.exitCode = exitCode ?? EXIT_OK;
  } catch (e) {
    if (e instanceof MailboxClientError) {
      process.stderr.write(`forge-mailbox: ${e.code}: ${e.message}${e.leader ? ` (leader: ${e.leader})` : ''}\n`);
      process.exitCode = exitCodeFor(e.code);
    } else {
      process.stderr.write(`forge-mailbox: ${errorText(e)}\n`);
      process.exitCode = EXIT_OTHER;
    }
  } finally {
    await client?.close();
  }
}

function printable(message: DeliveredMessage): Record<string, unknown> {
  const { body, ...meta } = message;
  let text: string | null = null;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    text = null;
  }
  return text === null ? { ...meta, bodyBase64: Buffer.from(body).toString('base64') } : { ...meta, body: text };
}

function messageOutput(message: DeliveredMessage | null): { output: unknown; exitCode?: number } {
  return message === null ? { output: { status: 'empty' }, exitCode: EXIT_EMPTY } : { output: printable(message) };
}

export function registerClientCommands(program: Command): void {
  withConnection(
    program
      .command('put <user> [message]')
      .description('enqueue a message (acknowledged once committed)')
      .option('--file <path>', 'send the bytes of this file as the body instead of <message>')
      .option('--id <id>', 'message id: a repeat within the dedupe window is not enqueued twice')
      .option('--ttl <ms>', 'time to live in ms', positiveInt)
      .option('--delay <ms>', 'invisible for this long (at most mailbox.maxDelayMs, 15 min by default)', positiveInt),
  ).action(async (user: string, message: string | undefined, opts: ConnectionOptions & { file?: string; id?: string; ttl?: number; delay?: number }) => {
    if ((message === undefined) === (opts.file === undefined)) {
      process.stderr.write('forge-mailbox: put needs exactly one of <message> or --file\n');
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    let body: Uint8Array | string;
    try {
      body = opts.file === undefined ? (message as string) : readFileSync(opts.file);
    } catch (e) {
      process.stderr.write(`forge-mailbox: cannot read ${opts.file}: ${errorText(e)}\n`);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    await run(opts, async (c) => ({
      output: await c.put(user, body, {
        ...(opts.id === undefined ? {} : { id: opts.id }),
        ...(opts.ttl === undefined ? {} : { ttlMs: opts.ttl }),
        ...(opts.delay === undefined ? {} : { delayMs: opts.delay }),
      }),
    }));
  });

  withConnection(
    program
      .command('consume <user>')
      .description('take the next message (exit code 2 when the mailbox is empty)')
      .option('--lease <ms>', 'lease the message: it returns to the mailbox unless acked within <ms>', positiveInt)
      .option('--rid <id>', 'request id: retrying with the same id returns the same message')
      .option('--dlq', 'consume from the dead-letter mailbox')
      .option('--wait <ms>', 'long poll: when the mailbox is empty, wait up to <ms> for a message (at most mailbox.maxConsumeWaitMs)', positiveInt),
  ).action(async (user: string, opts: ConnectionOptions & { lease?: number; rid?: string; dlq?: boolean; wait?: number }) => {
    await run(opts, async (c) =>
      messageOutput(
        await c.consume(user, {
          ...(opts.lease === undefined ? {} : { leaseMs: opts.lease }),
          ...(opts.rid === undefined ? {} : { requestId: opts.rid }),
          ...(opts.dlq ? { deadLetter: true } : {}),
          ...(opts.wait === undefined ? {} : { waitMs: opts.wait }),
        }),
      ),
    );
  });

  withConnection(
    program
      .command('peek <user>')
      .description('show the next message without taking it (exit code 2 when empty)')
      .option('--dlq', 'peek at the dead-letter mailbox'),
  ).action(async (user: string, opts: ConnectionOptions & { dlq?: boolean }) => {
    await run(opts, async (c) => messageOutput(await c.peek(user, opts.dlq ? { deadLetter: true } : {})));
  });

  withConnection(program.command('ack <user> <receipt>').description('acknowledge a leased message')).action(
    async (user: string, receipt: string, opts: ConnectionOptions) => {
      await run(opts, async (c) => {
        await c.ack(user, receipt);
        return { output: { status: 'ok' } };
      });
    },
  );

  withConnection(
    program
      .command('nack <user> <receipt>')
      .description('return a leased message to the mailbox, at its seq position')
      .option('--delay <ms>', 'visible again after this long (0: at once; default: the cluster\'s nack backoff)', wholeNumber),
  ).action(async (user: string, receipt: string, opts: ConnectionOptions & { delay?: number }) => {
    await run(opts, async (c) => {
      await c.nack(user, receipt, opts.delay === undefined ? {} : { delayMs: opts.delay });
      return { output: { status: 'ok' } };
    });
  });

  withConnection(
    program.command('touch <user> <receipt> <leaseMs>').description('extend a lease: it now ends <leaseMs> from now; the receipt stays'),
  ).action(async (user: string, receipt: string, leaseMs: string, opts: ConnectionOptions) => {
    await run(opts, async (c) => {
      await c.touch(user, receipt, positiveInt(leaseMs));
      return { output: { status: 'ok' } };
    });
  });

  withConnection(
    program
      .command('redrive <user>')
      .description('move dead letters back to the mailbox in seq order, delivery counts reset')
      .option('--max <n>', 'move at most this many (the oldest)', positiveInt),
  ).action(async (user: string, opts: ConnectionOptions & { max?: number }) => {
    await run(opts, async (c) => ({ output: { redriven: await c.redrive(user, opts.max === undefined ? {} : { max: opts.max }) } }));
  });

  withConnection(program.command('len <user>').description('mailbox statistics')).action(async (user: string, opts: ConnectionOptions) => {
    await run(opts, async (c) => ({ output: await c.len(user) }));
  });

  withConnection(
    program
      .command('purge <user>')
      .description('drop every queued message of a mailbox')
      .option('--dlq', 'purge the dead-letter mailbox'),
  ).action(async (user: string, opts: ConnectionOptions & { dlq?: boolean }) => {
    await run(opts, async (c) => ({ output: { purged: await c.purge(user, opts.dlq ? { deadLetter: true } : {}) } }));
  });

  withConnection(
    program
      .command('status')
      .description('cluster status, as the leader sees it')
      .option('--nodes', "every reachable node's own status instead (works without a leader)")
      .option('--node <id>', "one node's own status, as a health probe: exit 4 when it does not answer or has halted"),
  ).action(async (opts: ConnectionOptions & { nodes?: boolean; node?: string }) => {
    await run(opts, async (c) => (opts.node !== undefined ? nodeHealth(await c.nodeStatuses(), opts.node) : { output: opts.nodes ? await c.nodeStatuses() : await c.status() }));
  });

  withConnection(program.command('members').description('cluster members (voters, learners) and follower lag, as the leader sees them')).action(
    async (opts: ConnectionOptions) => {
      await run(opts, async (c) => ({ output: membersOf(await c.status()) }));
    },
  );

  withConnection(
    program
      .command('add-node <node> <address>')
      .description('add a node (started with "join": true) at <address> = <host>:<port> of its Raft port; it becomes a voter once caught up')
      .option('--wait <ms>', 'how long the new node may take to catch up before it is promoted', positiveInt, 30_000),
  ).action(async (node: string, address: string, opts: ConnectionOptions & { wait: number }) => {
    let peer: { host: string; port: number };
    try {
      peer = peerAddress(address);
    } catch (e) {
      process.stderr.write(`forge-mailbox: add-node: ${errorText(e)}, got ${JSON.stringify(address)}\n`);
      process.exitCode = EXIT_BAD_INPUT;
      return;
    }
    await run(opts, async (c) => ({ output: await c.addNode(node, peer.host, peer.port, { catchUpMs: opts.wait }) }));
  });

  withConnection(
    program
      .command('quotas')
      .description('cluster quotas and their usage, from the leader status; with options, set those quotas first (committed through the log; needs the admin operation)')
      .option('--max-messages <n>', 'messages all mailboxes together may hold', positiveInt)
      .option('--max-bytes <n>', 'body bytes all mailboxes together may hold', positiveInt)
      .option('--max-mailboxes <n>', 'mailboxes that may hold messages', positiveInt)
      .option('--max-put-ids <n>', 'put ids remembered at once for their dedupe window (sustained puts with new ids: n / window)', positiveInt)
      .option('--max-consume-results <n>', 'consume results remembered at once for request-id retries (sustained consumes with new rids: n / window)', positiveInt),
  ).action(async (opts: ConnectionOptions & Partial<MailboxQuotas>) => {
    const quotas: Partial<MailboxQuotas> = {
      maxMessages: opts.maxMessages,
      maxBytes: opts.maxBytes,
      maxMailboxes: opts.maxMailboxes,
      maxPutIds: opts.maxPutIds,
      maxConsumeResults: opts.maxConsumeResults,
    };
    const setting = Object.values(quotas).some((v) => v !== undefined);
    await run(opts, async (c) => {
      if (!setting) return { output: (await c.status() as { quotas?: unknown }).quotas };
      const r = await c.setQuotas(quotas);
      return { output: { ...r.quotas, usage: r.usage } };
    });
  });

  withConnection(program.command('remove-node <node>').description('remove a member (the leader too: another voter takes over)')).action(
    async (node: string, opts: ConnectionOptions) => {
      await run(opts, async (c) => ({ output: await c.removeNode(node) }));
    },
  );
}
