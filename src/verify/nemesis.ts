// The nemesis of a fault-injection run: on a seeded schedule it injects one fault at a time into
// a ProcessCluster started with proxies, holds it, undoes it, and records both in the history.
//
// Faults:
//   kill, kill-leader            kill -9, then restart on the same data
//   pause, pause-leader          SIGSTOP for longer than the election timeout, then SIGCONT
//   partition-leader             the leader cut from every peer, both directions
//   partition-split              a random minority/majority split (the leader on either side)
//   partition-one-way            the leader's outbound links only, or its inbound links only
//   router-cut                   one node cut from the Zenoh router (the leader, more often than not)
//   router-restart               the router killed, then started again on the same ports
//   stale-leader                 the leader cut from the router (reset) and, once it noticed,
//                                frozen (SIGSTOP) with its peer links stalled; the others elect
//                                a new leader and serve.
//                                Then it wakes with the router back (and the others cut from it)
//                                but its peers still cut:
//                                it believes it leads, declares the mailbox queryables again and
//                                answers clients until check-quorum deposes it (an election
//                                timeout or two of its own clock) — the window in which a read
//                                served without ReadIndex returns state the new leader changed
//   freeze-leader                SIGSTOP of the leader for longer than the clients' request timeout
//                                (FREEZE_MS): its router link must be cut by the link guard and the
//                                new leader serve, however long the freeze
//   partition-drop               the leader (most often) or a follower cut from every peer by
//                                black-holing (fault-proxy `drop`: nothing closes, the links stay
//                                dead after the heal) for one of DROP_LENGTHS_MS: the heal must be
//                                noticed by liveness, not by TCP's backed-off retransmission
//   overlap                      two single-node faults on two nodes, overlapping in time: the
//                                second starts while the first holds, the first heals first
// Storage faults (opt-in with --faults: the data directories must be tmpfs mounts for disk-full):
//   disk-full                    one node's disk filled to the last byte (the leader, more often
//                                than not): its next write fails, it must halt, leave Zenoh and
//                                exit 74 (fail-stop); on heal the space is freed and it restarts
//   corrupt-snapshot             one node stopped, one bit of its snapshot flipped, started again:
//                                it must refuse to start (exit 65); on heal the runbook is run
//                                (remove-node, wipe, start as a joiner, add-node)
// A node's exit codes under the storage faults are checked (`unexpectedExits`).
// A partition either stalls the links (nothing moves, delivered late on heal) or resets them
// (connections destroyed and refused until the heal), chosen per fault.
//
// Every fault's window (run-clock times when it was in place and when it was undone) is kept in
// `windows`, for the availability report (availability.ts).

import { join } from 'node:path';
import { SERVE_EXIT } from '../node/exit-codes.js';
import type { ProxyMode } from './fault-proxy.js';
import { flipStoredBit } from './store-damage.js';
import { fillDisk, unfillDisk } from './tmpfs.js';
import type { ProcessCluster } from './process-cluster.js';
import type { Prng } from '../sim/prng.js';
import type { HistoryRecorder } from './recorder.js';
import type { FaultWindow } from './availability.js';

export const FAULT_KINDS = [
  'kill',
  'kill-leader',
  'pause',
  'pause-leader',
  'partition-leader',
  'partition-split',
  'partition-one-way',
  'router-cut',
  'router-restart',
  'stale-leader',
  'freeze-leader',
  'partition-drop',
  'overlap',
  'disk-full',
  'corrupt-snapshot',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults on a node's storage: opt-in (disk-full needs tmpfs data directories, hence root). */
export const STORAGE_FAULT_KINDS: readonly FaultKind[] = ['disk-full', 'corrupt-snapshot'];
/** What a run injects unless told otherwise: every fault but the storage ones. */
export const DEFAULT_FAULT_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((k) => !STORAGE_FAULT_KINDS.includes(k));

/** The membership changes of the corrupt-store runbook, done by the runner's own client. */
export interface MembershipOps {
  removeNode(node: string): Promise<void>;
  addNode(node: string, port: number): Promise<void>;
}

export interface NemesisOptions {
  kinds: readonly FaultKind[];
  /** How long a fault is held, ms [min, max]. */
  holdMs: [number, number];
  /** Quiet time between faults, ms [min, max]. */
  quietMs: [number, number];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** stale-leader: the longest wait for the leader to notice that its router link is gone. */
const STALE_LEADER_NOTICE_MS = 5000;
/** stale-leader: the freeze lasts at least this long, so that the others elect a leader and serve. */
const STALE_LEADER_MIN_FREEZE_MS = 1500;
/** stale-leader: how long the woken leader's peer links stay cut (it deposes itself well within). */
const STALE_LEADER_AWAKE_MS = 1500;
/** freeze-leader: how long the freeze lasts, ms [min, max]; set above the clients' request timeout. */
export const FREEZE_MS: [number, number] = [7000, 9000];
/** partition-drop: the lengths a black-holing partition is held for. */
export const DROP_LENGTHS_MS = [1500, 5000, 12000] as const;
/** overlap: delay between the two faults' starts, and between their heals, ms [min, max]. */
const OVERLAP_STAGGER_MS: [number, number] = [300, 1500];
/** Kinds whose hold is their own (not NemesisOptions.holdMs). */
const OWN_HOLD: Partial<Record<FaultKind, (rng: Prng) => number>> = {
  'freeze-leader': (rng) => rng.int(...FREEZE_MS),
  'partition-drop': (rng) => rng.pick(DROP_LENGTHS_MS),
};

type SingleFault = 'pause' | 'kill' | 'isolate' | 'router-cut';
const SINGLE_FAULTS: readonly SingleFault[] = ['pause', 'kill', 'isolate', 'router-cut'];

export class Nemesis {
  readonly injected: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  /** When each fault was in place and when it was undone (run clock, ns). */
  readonly windows: FaultWindow[] = [];
  /** Nodes that ended otherwise than a storage fault demands (a crash instead of exit 74, a start despite a corrupt store). */
  readonly unexpectedExits: string[] = [];
  private target = '';

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly rng: Prng,
    private readonly recorder: HistoryRecorder,
    /** The current leader as the cluster reports it, or null when none answers quickly. */
    private readonly findLeader: () => Promise<string | null>,
    private readonly opts: NemesisOptions,
    private readonly log: (line: string) => void,
    private readonly membership?: MembershipOps,
  ) {
    if (opts.kinds.length === 0) throw new Error('the nemesis needs at least one fault kind');
  }

  /** Injects faults until `stopAt` (Date.now() ms); every fault is undone before it returns. */
  async run(stopAt: number): Promise<void> {
    for (;;) {
      await sleep(this.rng.int(...this.opts.quietMs));
      let hold = this.rng.int(...this.opts.holdMs);
      if (Date.now() + hold >= stopAt) return;
      const kind = this.rng.pick(this.opts.kinds);
      // Drawn only for these kinds, so that the schedules of the others stay what they were.
      const own = OWN_HOLD[kind];
      if (own !== undefined) {
        hold = own(this.rng);
        if (Date.now() + hold >= stopAt) return;
      }
      this.target = '';
      const undo = await this.inject(kind);
      const start = this.recorder.now();
      this.injected[kind]++;
      await sleep(hold);
      await undo();
      this.windows.push({ kind, start, end: this.recorder.now(), target: this.target });
    }
  }

  /** Brings everything back: links pass, paused nodes resume, dead nodes and router restart. */
  async healAll(): Promise<void> {
    this.cluster.setAllLinks('pass');
    for (const id of this.cluster.ids) unfillDisk(this.cluster.dataDir(id));
    if (!this.cluster.router.running) await this.cluster.router.start();
    for (const id of this.cluster.ids) {
      if (this.cluster.isRunning(id)) await this.cluster.signal(id, 'SIGCONT');
      else this.cluster.startNode(id);
    }
    this.recorder.nemesis('heal-all');
  }

  private event(action: string, target?: string): void {
    if (target !== undefined && this.target === '') this.target = target;
    this.recorder.nemesis(action, target);
    this.log(`nemesis: ${action}${target === undefined ? '' : ' ' + target}`);
  }

  private async leader(): Promise<string | null> {
    const leader = await this.findLeader();
    return leader !== null && this.cluster.nodes.has(leader) ? leader : null;
  }

  private async leaderOrAny(): Promise<string> {
    return (await this.leader()) ?? this.rng.pick(this.cluster.ids);
  }

  private async inject(kind: FaultKind): Promise<() => Promise<void>> {
    switch (kind) {
      case 'kill':
        return this.kill(this.rng.pick(this.cluster.ids));
      case 'kill-leader':
        return this.kill(await this.leaderOrAny());
      case 'pause':
        return this.pause(this.rng.pick(this.cluster.ids));
      case 'pause-leader':
        return this.pause(await this.leaderOrAny());
      case 'partition-leader': {
        const leader = await this.leaderOrAny();
        return this.partition([leader], this.cluster.ids.filter((id) => id !== leader));
      }
      case 'partition-split': {
        const ids = this.cluster.ids;
        const minority = this.rng.sample(ids, Math.floor((ids.length - 1) / 2));
        const leader = await this.leader();
        if (leader !== null && this.rng.chance(0.5) && !minority.includes(leader)) minority[0] = leader;
        return this.partition(minority, ids.filter((id) => !minority.includes(id)));
      }
      case 'partition-one-way':
        return this.oneWay(await this.leaderOrAny(), this.rng.chance(0.5) ? 'outbound' : 'inbound');
      case 'router-cut': {
        const node = this.rng.chance(0.6) ? await this.leaderOrAny() : this.rng.pick(this.cluster.ids);
        const mode = this.linkMode();
        this.cluster.routerLink(node).setMode(mode);
        this.event(`router-cut-${mode}`, node);
        return async () => {
          this.cluster.routerLink(node).setMode('pass');
          this.event('router-heal', node);
        };
      }
      case 'stale-leader':
        return this.staleLeader(await this.leaderOrAny());
      case 'freeze-leader':
        return this.pause(await this.leaderOrAny());
      case 'partition-drop': {
        const node = this.rng.chance(0.7) ? await this.leaderOrAny() : this.rng.pick(this.cluster.ids);
        return this.partition([node], this.cluster.ids.filter((id) => id !== node), 'drop');
      }
      case 'overlap':
        return this.overlap();
      case 'disk-full':
        return this.diskFull(this.rng.chance(0.6) ? await this.leaderOrAny() : this.rng.pick(this.cluster.ids));
      case 'corrupt-snapshot':
        return this.corruptSnapshot(this.rng.pick(this.cluster.ids));
      case 'router-restart':
        await this.cluster.router.kill();
        this.event('router-kill');
        return async () => {
          await this.cluster.router.start();
          this.event('router-start');
        };
    }
  }

  private linkMode(): ProxyMode {
    return this.rng.chance(0.5) ? 'stall' : 'reset';
  }

  private async kill(node: string): Promise<() => Promise<void>> {
    await this.cluster.signal(node, 'SIGKILL');
    this.event('kill', node);
    return async () => {
      this.cluster.startNode(node);
      this.event('restart', node);
    };
  }

  private diskFull(node: string): () => Promise<void> {
    const dir = this.cluster.dataDir(node);
    const filled = fillDisk(dir);
    this.event('disk-full', node);
    this.log(`nemesis: ${filled} bytes of filler on ${node}`);
    return async () => {
      unfillDisk(dir);
      if (this.cluster.isRunning(node)) {
        this.event('disk-freed', node);
        return;
      }
      const code = this.cluster.exitCode(node);
      this.event(`disk-freed-after-exit-${code}`, node);
      if (code !== SERVE_EXIT.storageFailed) this.unexpectedExits.push(`${node} exited ${code} on a full disk (expected ${SERVE_EXIT.storageFailed})`);
      this.cluster.startNode(node);
      this.event('restart', node);
    };
  }

  private async corruptSnapshot(node: string): Promise<() => Promise<void>> {
    await this.cluster.signal(node, 'SIGTERM');
    const key = await flipStoredBit(join(this.cluster.dataDir(node), 'raft'), 'd/');
    if (key === null) {
      // No snapshot yet: nothing to damage.
      this.event('corrupt-snapshot-none', node);
      this.cluster.startNode(node);
      return async () => {};
    }
    this.event(`corrupt-snapshot ${key}`, node);
    this.cluster.startNode(node);
    const code = await this.cluster.waitForExit(node, 30_000).catch(() => null);
    this.event(`start-refused-${code}`, node);
    if (code !== SERVE_EXIT.storeUnreadable) {
      this.unexpectedExits.push(`${node} with a corrupt snapshot: ${code === null ? 'kept running' : `exited ${code}`} (expected ${SERVE_EXIT.storeUnreadable})`);
      await this.cluster.signal(node, 'SIGKILL');
    }
    return async () => {
      if (this.membership === undefined) throw new Error('corrupt-snapshot needs the runner\'s membership operations');
      await this.membership.removeNode(node);
      this.cluster.wipeAndRejoin(node);
      await this.membership.addNode(node, this.cluster.nodes.get(node)!.port);
      this.event('wiped-and-re-added', node);
    };
  }

  private async pause(node: string): Promise<() => Promise<void>> {
    await this.cluster.signal(node, 'SIGSTOP');
    this.event('pause', node);
    return async () => {
      await this.cluster.signal(node, 'SIGCONT');
      this.event('resume', node);
    };
  }

  private async staleLeader(node: string): Promise<() => Promise<void>> {
    const others = this.cluster.ids.filter((id) => id !== node);
    const links: Array<[string, string]> = others.flatMap((o): Array<[string, string]> => [[node, o], [o, node]]);
    // First the router link, reset: the router drops the leader's session and queryables, so
    // clients reach the new leader alone while the old one is frozen. The leader must see its
    // session die before it is frozen (it dials the router again: the proxy counts the refusal),
    // so that it reconnects, and declares the queryables again, as soon as it wakes.
    const routerLink = this.cluster.routerLink(node);
    const refused = routerLink.refused;
    routerLink.setMode('reset');
    this.event('stale-leader-router-cut', node);
    const deadline = Date.now() + STALE_LEADER_NOTICE_MS;
    while (routerLink.refused === refused && Date.now() < deadline) await sleep(10);
    // Frozen in its reconnect back-off (100 ms after the first refusal), not in the middle of a
    // dial whose failure it would only learn on waking, it dials again the moment it wakes.
    await sleep(40);
    // Stalled, not reset: it must not learn of the new term from a refused reconnect either.
    for (const [from, to] of links) this.cluster.peerLink(from, to).setMode('stall');
    await this.cluster.signal(node, 'SIGSTOP');
    const frozenAt = Date.now();
    this.event('stale-leader-freeze', node);
    return async () => {
      // Already frozen that long when the heal comes late (a busy machine): no wait, not a negative one.
      await sleep(Math.max(0, frozenAt + STALE_LEADER_MIN_FREEZE_MS - Date.now()));
      // The router picks one of several complete queryables for a query, so while the new
      // leader keeps its router session the old one may never be asked. The new leader side
      // loses the router as the old leader wakes: whoever asks now asks the old leader.
      const othersRouter = others.map((o) => this.cluster.routerLink(o));
      for (const link of othersRouter) link.setMode('reset');
      routerLink.setMode('pass');
      await this.cluster.signal(node, 'SIGCONT');
      this.event('stale-leader-wake', node);
      await sleep(STALE_LEADER_AWAKE_MS);
      for (const link of othersRouter) link.setMode('pass');
      await this.healLinks(links)();
    };
  }

  private partition(a: string[], b: string[], mode: ProxyMode = this.linkMode()): () => Promise<void> {
    const links: Array<[string, string]> = [];
    for (const x of a) for (const y of b) links.push([x, y], [y, x]);
    for (const [from, to] of links) this.cluster.peerLink(from, to).setMode(mode);
    this.event(`partition-${mode}`, `${a.join(',')}|${b.join(',')}`);
    return this.healLinks(links);
  }

  private oneWay(node: string, direction: 'outbound' | 'inbound'): () => Promise<void> {
    const mode = this.linkMode();
    const others = this.cluster.ids.filter((id) => id !== node);
    const links: Array<[string, string]> = others.map((o) => (direction === 'outbound' ? [node, o] : [o, node]));
    for (const [from, to] of links) this.cluster.peerLink(from, to).setMode(mode);
    this.event(`partition-${direction}-${mode}`, direction === 'outbound' ? `${node}>${others.join(',')}` : `${others.join(',')}>${node}`);
    return this.healLinks(links);
  }

  /**
   * Two single-node faults on two nodes (the leader first, more often than not), the second
   * injected while the first holds; undoing heals the first, then, a little later, the second.
   */
  private async overlap(): Promise<() => Promise<void>> {
    const first = this.rng.chance(0.6) ? await this.leaderOrAny() : this.rng.pick(this.cluster.ids);
    const second = this.rng.pick(this.cluster.ids.filter((id) => id !== first));
    const undoFirst = await this.singleNodeFault(this.rng.pick(SINGLE_FAULTS), first);
    this.target = `${first}+${second}`;
    await sleep(this.rng.int(...OVERLAP_STAGGER_MS));
    const undoSecond = await this.singleNodeFault(this.rng.pick(SINGLE_FAULTS), second);
    return async () => {
      await undoFirst();
      await sleep(this.rng.int(...OVERLAP_STAGGER_MS));
      await undoSecond();
    };
  }

  private async singleNodeFault(fault: SingleFault, node: string): Promise<() => Promise<void>> {
    switch (fault) {
      case 'pause':
        return this.pause(node);
      case 'kill':
        return this.kill(node);
      case 'isolate': {
        const mode = this.rng.pick(['stall', 'reset', 'drop'] as const);
        return this.partition([node], this.cluster.ids.filter((id) => id !== node), mode);
      }
      case 'router-cut': {
        const mode = this.rng.pick(['stall', 'reset', 'drop'] as const);
        this.cluster.routerLink(node).setMode(mode);
        this.event(`router-cut-${mode}`, node);
        return async () => {
          this.cluster.routerLink(node).setMode('pass');
          this.event('router-heal', node);
        };
      }
    }
  }

  private healLinks(links: Array<[string, string]>): () => Promise<void> {
    return async () => {
      for (const [from, to] of links) this.cluster.peerLink(from, to).setMode('pass');
      this.event('heal', links.map(([f, t]) => `${f}>${t}`).join(','));
    };
  }
}
