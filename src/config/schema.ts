// The node's configuration, validated by zod. Every field has a description: the README's
// configuration reference is generated from this schema (scripts/gen-config-doc.ts) so the two
// cannot drift.

import { z } from 'zod';
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_CONSUME_WAIT_MS, DEFAULT_MAX_INFLIGHT_REQUESTS, DEFAULT_MAX_PARKED_CONSUMERS, MAX_CONSUME_WAIT_CEILING_MS, PARKED_CONSUMERS_CEILING } from '../bridge/key-space.js';
import { NODE_ID_PATTERN, PEER_HOST_PATTERN } from '../identifiers.js';
import { MAX_WIRE_BATCH } from '../mailbox/options.js';
import { MAX_LEARNERS, MAX_VOTERS } from '../raft/membership.js';

const nodeId = z.string().regex(NODE_ID_PATTERN, 'node ids are 1-32 letters, digits, "_" or "-"');

const hostPort = z.object({
  host: z.string().regex(PEER_HOST_PATTERN, 'hosts are 1-253 characters of [A-Za-z0-9._:-]').describe('Host name or IP address'),
  port: z.number().int().min(1).max(65535).describe('TCP port'),
});

/** The most snapshot bytes in flight to one follower (raft.snapshotChunkBytes × raft.snapshotChunksInFlight). */
const MAX_SNAPSHOT_WINDOW_BYTES = 64 * 1024 * 1024;

export const raftSchema = z
  .object({
    tickMs: z.number().int().min(1).max(1000).default(20).describe('Milliseconds per Raft tick'),
    electionTicks: z
      .number()
      .int()
      .min(3)
      .max(1000)
      .default(15)
      .describe('Election timeout in ticks (randomised in [n, 2n)); also the CheckQuorum window'),
    heartbeatTicks: z.number().int().min(1).max(100).default(2).describe('Heartbeat interval in ticks'),
    maxInflightMsgs: z.number().int().min(1).max(4096).default(64).describe('AppendEntries in flight per follower'),
    maxEntriesPerMsg: z.number().int().min(1).max(65536).default(4096).describe('Entries per AppendEntries'),
    maxBytesPerMsg: z
      .number()
      .int()
      .min(1024)
      .max(32 * 1024 * 1024)
      .default(4 * 1024 * 1024)
      .describe('Payload bytes per AppendEntries'),
    maxUncommittedBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024)
      .describe('Proposals beyond this many uncommitted bytes fail with BACKLOG_FULL'),
    snapshotEntries: z
      .number()
      .int()
      .min(1)
      .default(100_000)
      .describe('Snapshot the state machine and compact the log after this many applied entries'),
    snapshotBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024)
      .describe('Also snapshot and compact once the entries applied since the last snapshot carry this many bytes (whichever of the two comes first)'),
    snapshotImageBytesPerEntry: z
      .number()
      .int()
      .min(0)
      .default(4096)
      .describe(
        'The entry trigger grows with the state: a snapshot waits for one applied entry per this many bytes of the last image, when that is more than snapshotEntries, since a take rewrites the whole image (1.3 GB at 10,000,000 queued messages: 320,000 entries); snapshotBytes still bounds the log; 0 keeps snapshotEntries fixed',
      ),
    catchUpLogBytes: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024)
      .describe(
        'A leader keeps up to this many bytes of the entries its latest snapshot covers while a follower still catches up from them (one receiving an older snapshot, or one just behind), so that it is not sent a newer snapshot after each one; 0 compacts at once',
      ),
    snapshotChunkBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('InstallSnapshot chunk size'),
    snapshotChunksInFlight: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(4)
      .describe(`InstallSnapshot chunks in flight to one follower, unconfirmed; the follower confirms each once its store has room for more (chunk bytes × chunks at most ${MAX_SNAPSHOT_WINDOW_BYTES / 1048576} MiB)`),
    requestTimeoutMs: z
      .number()
      .int()
      .min(10)
      .default(5000)
      .describe('A client request not committed within this time fails with TIMEOUT (outcome unknown); one pending when its leader steps down fails at once with LEADERSHIP_LOST'),
  })
  .strict();

/**
 * The largest mailbox.maxBodyBytes a cluster may be configured with (tested end to end in
 * test/e2e/large-bodies.test.ts). Two things bound it. The nodes' WebSocket to the router (the
 * remote-api plugin) refuses frames over 16 MiB, body and framing together. And a put's body is
 * handled in one synchronous stretch on the leader (decoded from the WebSocket, encoded into the
 * entry and each follower's frame, encrypted, checksummed for LevelDB), measured at about 19 ms per
 * MiB on a quiet machine, several times that on a loaded one: that stretch must stay well inside
 * the peer links' liveness timeout (two election timeouts, at least 1 s), or the links are cut
 * mid-entry and the entry is sent again, over and over (seen with 15 MiB bodies and 300 ms).
 */
export const MAX_BODY_BYTES_CEILING = 8 * 1024 * 1024;

/** A --max-body-bytes command-line value; RangeError when it is not a valid mailbox.maxBodyBytes. */
export function parseMaxBodyBytes(text: string): number {
  const n = Number(text);
  if (!/^[0-9]{1,9}$/.test(text) || n < 1 || n > MAX_BODY_BYTES_CEILING) {
    throw new RangeError(`expected a whole number of bytes from 1 to ${MAX_BODY_BYTES_CEILING}, got "${text}"`);
  }
  return n;
}

export const mailboxSchema = z
  .object({
    maxBodyBytes: z.number().int().min(1).max(MAX_BODY_BYTES_CEILING).default(1024 * 1024).describe('Largest message body; also the most bytes of bodies that one `put-batch` or `@puts` request carries together'),
    maxMessagesPerMailbox: z.number().int().min(1).default(100_000).describe('Messages one mailbox may hold'),
    maxBytesPerMailbox: z.number().int().min(1).default(256 * 1024 * 1024).describe('Body bytes one mailbox may hold'),
    defaultTtlMs: z.number().int().min(1).default(24 * 60 * 60 * 1000).describe('TTL of a message put without one'),
    maxTtlMs: z.number().int().min(1).default(7 * 24 * 60 * 60 * 1000).describe('Largest TTL a put may ask for'),
    dedupeWindowMs: z.number().int().min(0).default(10 * 60 * 1000).describe('How long a put id / consume request id is remembered'),
    maxDeliveries: z.number().int().min(1).max(1000).default(5).describe('Leased deliveries before a message is dead-lettered'),
    maxDelayMs: z
      .number()
      .int()
      .min(1)
      .max(24 * 60 * 60 * 1000)
      .default(15 * 60 * 1000)
      .describe('Longest delay a put (`put?delay=`) or a nack (`nack?delay=`) may ask for; a longer one is refused with BAD_REQUEST'),
    nackBackoffMs: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Delay of a nack that gives none: nackBackoffMs × 2^(deliveries − 1), capped at nackBackoffMaxMs (0 = a nacked message returns at once)'),
    nackBackoffMaxMs: z.number().int().min(1).default(5 * 60 * 1000).describe('Cap of the default nack backoff; at most maxDelayMs when the backoff is on'),
    expireIntervalMs: z.number().int().min(100).default(1000).describe('How often the leader proposes the expiry sweep'),
    maxConsumeWaitMs: z
      .number()
      .int()
      .min(0)
      .max(MAX_CONSUME_WAIT_CEILING_MS)
      .default(DEFAULT_MAX_CONSUME_WAIT_MS)
      .describe('Longest `wait` a long-poll consume may ask for (`consume?wait=<ms>`); a longer one is refused with BAD_REQUEST (not clamped). 0 turns long polls off'),
    maxBatch: z
      .number()
      .int()
      .min(1)
      .max(MAX_WIRE_BATCH)
      .default(DEFAULT_MAX_BATCH)
      .describe('Most messages of one batch: `consume?max=<N>` and a `put-batch` (whose bodies together stay within maxBodyBytes). The same on every node'),
  })
  .strict();

export const diskSchema = z
  .object({
    minFreeBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 * 1024 * 1024)
      .describe(
        'Free-space watermark of the file system holding dataDir: below it the leader refuses puts with NOSPACE (retry later), while consumes, acks, nacks and purges still commit out of this reserve (0 = off)',
      ),
    checkIntervalMs: z.number().int().min(100).max(60_000).default(1000).describe('How often the free space of dataDir is measured (fs.statfs)'),
  })
  .strict();

export const configSchema = z
  .object({
    nodeId: nodeId.describe('This node\'s id; must be a key of "peers"'),
    clusterId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).describe('Cluster name; peers of another cluster are refused'),
    secret: z
      .string()
      .min(16, 'the cluster secret must be at least 16 characters')
      .optional()
      .describe('DEVELOPMENT ONLY: a shared secret authenticating peer connections (HMAC challenge-response) over plain TCP, frames unprotected; required while `peerTls` is not set'),
    peerTls: z
      .object({
        caFile: z.string().min(1).describe('PEM of the cluster CA peers are verified with (two CAs during a CA rotation)'),
        certFile: z.string().min(1).describe("PEM of this node's certificate, signed by the cluster CA, naming its node id (CN)"),
        keyFile: z.string().min(1).describe("PEM of this node's private key (must be 0600)"),
      })
      .strict()
      .optional()
      .describe('Mutual TLS 1.3 on the Raft peer links (README: Peer links: mutual TLS); `forge-mailbox certs` makes the files. Exactly one of `peerTls` and `secret`'),
    dataDir: z.string().min(1).describe('Directory holding this node\'s LevelDB (raft/: Raft log, vote, snapshots) and its message body files (bodies/: a cache wiped and refilled at every start)'),
    peers: z
      .record(nodeId, hostPort)
      .refine((p) => Object.keys(p).length >= 1, 'at least one peer (this node) is required')
      .describe(
        `Raft peer addresses, this node included. A new cluster (join=false): exactly its voters, at most ${MAX_VOTERS}. A joining node: the current members it can reach (members added later are learned from the replicated peer directory), at most ${MAX_VOTERS + MAX_LEARNERS}`,
      ),
    join: z
      .boolean()
      .default(false)
      .describe(
        'Join an existing cluster: start with no membership (never campaign) and wait for `forge-mailbox add-node`; ignored once the data directory holds a log',
      ),
    listen: hostPort
      .partial()
      .default({})
      .describe('Address to bind the Raft port (defaults to this node\'s entry in "peers")'),
    zenoh: z
      .object({
        router: z
          .string()
          .regex(/^wss?:\/\/.+/, 'the router is a ws:// or wss:// URL of the remote-api plugin')
          .default('ws://127.0.0.1:10001')
          .describe("The nodes' private WebSocket into the Zenoh router: the link guard in front of the router's remote-api (10001 under `npm start`; never the clients' gateway, whose access control refuses a node's declarations)"),
        keyPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/)
          .default('forge/mailbox')
          .describe('Key prefix served'),
        maxInflightRequests: z
          .number()
          .int()
          .min(1)
          .max(1_000_000)
          .default(DEFAULT_MAX_INFLIGHT_REQUESTS)
          .describe('Requests (queries and PUT samples) the node works on at once; one more is answered at once with the retryable BUSY, before anything is proposed. Keep it with the 128 long polls of the main session under the 1000 unanswered queries a router keeps per session unless built by scripts/install-zenoh-router.sh (16384): beyond those the router drops the oldest query unanswered'),
        maxParkedConsumers: z
          .number()
          .int()
          .min(0)
          .max(PARKED_CONSUMERS_CEILING)
          .default(DEFAULT_MAX_PARKED_CONSUMERS)
          .describe("Long-poll consumes the leader holds at once, over all its sessions (they do not count against maxInflightRequests); one more is answered at once with BUSY. The default is what the sessions can hold: the router's remote-api plugin drops the oldest of more than 1000 unanswered queries per session, so the leader holds at most 900 on each of its 16 wait lanes and 128 on its main session"),
      })
      .strict()
      .default({
        router: 'ws://127.0.0.1:10001',
        keyPrefix: 'forge/mailbox',
        maxInflightRequests: DEFAULT_MAX_INFLIGHT_REQUESTS,
        maxParkedConsumers: DEFAULT_MAX_PARKED_CONSUMERS,
      }),
    metrics: z
      .object({
        host: z.string().default('127.0.0.1').describe('Operator endpoint (metrics and health) bind address; 0.0.0.0 inside a private network such as compose\'s: it serves no secret and, unless perUserDepth, no user id'),
        port: z.number().int().min(0).max(65535).default(0).describe('Port of the operator endpoint: GET /metrics (Prometheus), /livez, /readyz (0 = disabled)'),
        perUserDepth: z
          .boolean()
          .default(false)
          .describe('Also export forge_mailbox_depth{user}: the 10 deepest mailboxes labelled by user id. Off by default: user ids then reach the metrics store'),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 0, perUserDepth: false }),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info').describe('pino log level'),
    auth: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe('Require a capability token on every request. Turning it off is an explicit choice, logged as a warning at start'),
        jwksFile: z
          .string()
          .min(1)
          .optional()
          .describe('JWKS file of the Ed25519 public keys tokens are verified with (`forge-mailbox token keygen` makes one; two keys during a rotation)'),
      })
      .strict()
      .default({ enabled: true })
      .describe('Capability-token authorization of every request (README: Security: tokens); `auth.jwksFile` is required while `auth.enabled` (the default)'),
    raft: raftSchema.default(raftSchema.parse({})),
    mailbox: mailboxSchema.default(mailboxSchema.parse({})),
    disk: diskSchema.default(diskSchema.parse({})),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!(c.nodeId in c.peers)) {
      ctx.addIssue({ code: 'custom', path: ['nodeId'], message: `node "${c.nodeId}" is not listed in peers` });
    }
    // The membership limits (src/raft/membership.ts): founders are voters; a joiner lists members.
    const maxPeers = c.join ? MAX_VOTERS + MAX_LEARNERS : MAX_VOTERS;
    if (Object.keys(c.peers).length > maxPeers) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: `at most ${maxPeers} peers ${c.join ? '(the members of a cluster)' : '(the founding voters)'}` });
    }
    if ((c.peerTls === undefined) === (c.secret === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['peerTls'],
        message:
          c.secret === undefined
            ? 'peer links need `peerTls` (make certificates with `forge-mailbox certs`) or, for development only, `secret`'
            : '`peerTls` and `secret` exclude each other: remove `secret` (the development-only mode)',
      });
    }
    // A window of chunks is read, queued on the peer link and held by the follower at once.
    if (c.raft.snapshotChunkBytes * c.raft.snapshotChunksInFlight > MAX_SNAPSHOT_WINDOW_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['raft', 'snapshotChunksInFlight'],
        message: `raft.snapshotChunkBytes × raft.snapshotChunksInFlight must not exceed ${MAX_SNAPSHOT_WINDOW_BYTES / 1048576} MiB`,
      });
    }
    if (c.auth.enabled && c.auth.jwksFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'jwksFile'],
        message: 'required while auth is enabled: make keys with `forge-mailbox token keygen` (or set auth.enabled to false, explicitly)',
      });
    }
  });

export type ForgeConfig = z.infer<typeof configSchema>;
