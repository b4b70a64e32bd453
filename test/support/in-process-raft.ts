// Real Raft drivers in one process, for tests of what runs on top of the driver: messages are
// delivered on the next event-loop turn, and the timing is small enough for quick elections.

import { RaftDriver, type DriverOptions, type PeerTransport } from '../../src/raft/driver.js';
import { MAX_LEARNERS, MAX_VOTERS } from '../../src/raft/membership.js';
import type { Message, NodeId, SnapshotSource } from '../../src/raft/types.js';

/**
 * Delivers in-process on the next turn; a node whose handler is removed receives nothing, and a
 * message from `a` to `b` is dropped while `a>b` is in `cut` (one-way partitions). `route` sees
 * each message sent, with the call that delivers it, for tests that watch or delay messages.
 */
export class InProcessNetwork {
  readonly handlers = new Map<NodeId, (m: Message) => void>();
  readonly cut = new Set<string>();
  constructor(private readonly route: (m: Message, deliver: () => void) => void = (_m, deliver) => deliver()) {}
  transport(id: NodeId): PeerTransport {
    return {
      send: (m) =>
        this.route(m, () =>
          setImmediate(() => {
            if (!this.cut.has(`${m.from}>${m.to}`)) this.handlers.get(m.to)?.(m);
          }),
        ),
      onMessage: (h) => this.handlers.set(id, h),
    };
  }
}

/** Polls `probe` until it returns a value, which it resolves with; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Proposes one entry at a time through `leader` until `done()`, and returns when each committed.
 * The deadline is in time, not in commits: a commit takes a fraction of a millisecond here unless
 * something (a take, an install) competes for the event loop.
 */
export async function commitUntil<R>(leader: RaftDriver<R>, what: string, done: () => boolean, timeoutMs = 30_000): Promise<number[]> {
  const commits: number[] = [];
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    await leader.propose(new Uint8Array(16));
    commits.push(performance.now());
    if (performance.now() > deadline) {
      const st = leader.status();
      throw new Error(`${what}: not within ${timeoutMs} ms (${commits.length} commits; leader ${st.id} term ${st.term} commit ${st.commit} snapshot ${st.snapshotIndex}, progress ${JSON.stringify(st.progress)})`);
    }
  }
  return commits;
}

/** Driver options with the test timing (5 ms ticks, 50 ms elections) around the given parts. */
export function testDriverOptions<R>(
  id: NodeId,
  parts: Pick<DriverOptions<R>, 'initialMembership' | 'storage' | 'transport' | 'stateMachine'>,
): DriverOptions<R> {
  return {
    core: {
      id,
      electionTick: 10,
      heartbeatTick: 2,
      preVote: true,
      checkQuorum: true,
      maxInflightMsgs: 16,
      maxEntriesPerMsg: 64,
      maxBytesPerMsg: 1 << 20,
      maxUncommittedBytes: 1 << 24,
      snapshotChunkBytes: 1 << 16,
      maxVoters: MAX_VOTERS,
      maxLearners: MAX_LEARNERS,
    },
    ...parts,
    tickMs: 5,
    requestTimeoutMs: 3000,
    snapshotEntries: 1_000_000,
  };
}

/**
 * Starts one driver per id on `net` with production timing (20 ms ticks, 300-600 ms elections,
 * heartbeats every 40 ms), for tests that measure what slow work does to the Raft loop (`extra.core`
 * adds to the core's configuration, the rest of `extra` to the driver's options); each is
 * pushed on `running` before it starts, so that the caller stops it whatever happens.
 */
export async function startProductionTimedCluster<R>(
  ids: NodeId[],
  net: InProcessNetwork,
  parts: (id: NodeId) => Pick<DriverOptions<R>, 'storage' | 'stateMachine'>,
  extra: Partial<Omit<DriverOptions<R>, 'core'>> & { core?: Partial<DriverOptions<R>['core']> },
  running: RaftDriver<R>[],
): Promise<void> {
  for (const id of ids) {
    const opts = testDriverOptions(id, { initialMembership: { voters: ids, learners: [] }, transport: net.transport(id), ...parts(id) });
    const driver = new RaftDriver({ ...opts, tickMs: 20, ...extra, core: { ...opts.core, electionTick: 15, heartbeatTick: 2, ...extra.core } });
    running.push(driver);
    await driver.start();
  }
}

/** A snapshot source handing out `image` as its one piece. */
export function onePieceSource(image: Uint8Array): SnapshotSource {
  let left: Uint8Array | null = image;
  return {
    next: () => {
      const piece = left;
      left = null;
      return piece;
    },
    close: () => {},
  };
}
