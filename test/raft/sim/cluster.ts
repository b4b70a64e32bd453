// The deterministic cluster simulation: N RaftCores, each run by a simulated driver over a
// simulated disk and network, under a seeded schedule of faults (drops, delays, duplicates,
// reordering, partitions, crashes that lose unsynced writes), client traffic, compaction,
// membership changes and leadership transfers. Safety invariants are checked after every step;
// at the end the faults heal and the cluster must elect a leader and commit, and the client
// history must be linearizable.

import { RaftCore, type RaftConfig } from '../../../src/raft/core.js';
import { applyConfChange, cloneMembership, decodeConfChange } from '../../../src/raft/membership.js';
import {
  EntryType,
  RaftError,
  type ConfChange,
  type Entry,
  type HardState,
  type Membership,
  type NodeId,
  type PersistedState,
  type Ready,
  type Snapshot,
} from '../../../src/raft/types.js';
import { AppendLog, decodeValue, encodeValue } from './append-log.js';
import { Invariants, SafetyViolation } from './invariants.js';
import { checkLinearizable, type Op, type ReadOp, type WriteOp } from './linearizability.js';
import { CALM, Network } from './network.js';
import { Prng } from './prng.js';

export interface SimOptions {
  seed: number;
  /** Voters at start (3 or 5); one extra node starts outside the cluster for membership changes. */
  nodes: number;
  steps: number;
  /**
   * Test-only fault in the simulated driver: send a Ready's messages before its write is durable,
   * so a crash can forget a vote or entries that others were already told about.
   */
  unsafeSendBeforeSync?: boolean;
  /** Chance of crashing at each crash point of the driver (before and after the sync); by default drawn per seed. */
  driverCrashRate?: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  error?: string;
  writes: number;
  acknowledgedWrites: number;
  reads: number;
  leaderChanges: number;
  crashes: number;
  snapshotsSent: number;
  /** Membership changes committed (counted once per log index). */
  membershipChanges: number;
  readsServed: number;
  /** Elections won by the target of a leadership transfer. */
  transfers: number;
}

interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

interface PendingWrite {
  term: number;
  op: WriteOp;
}

interface SimNode {
  id: NodeId;
  core: RaftCore | null;
  disk: Disk;
  sm: AppendLog;
  applied: number;
  appliedTerm: number;
  /** Membership as of `applied`, for the snapshots this node takes. */
  membership: Membership;
  writes: Map<number, PendingWrite>;
  reads: Map<number, ReadOp>;
  readsAwaitingApply: { index: number; op: ReadOp }[];
  /** A Ready whose synced write is still in progress (asynchronous disk), finishing at `doneAt`. */
  writing: { rd: Ready; doneAt: number } | null;
}

class Crash extends Error {}

/**
 * Bound on electing a leader and committing a fresh write once faults heal. Generous because the
 * slowest seeds pipeline one entry per message, one message in flight, over a slow disk, and may
 * have a long uncommitted tail to replicate before the new leader's first entry can commit.
 */
const LIVENESS_TICKS = 1000;

export function runSimulation(opts: SimOptions): SimResult {
  const sim = new Simulation(opts);
  try {
    sim.run();
    sim.heal();
    sim.checkLiveness();
    sim.checkHistory();
    return sim.result(true);
  } catch (err) {
    if (err instanceof SafetyViolation || err instanceof LivenessFailure || err instanceof HistoryViolation) {
      return sim.result(false, err.message);
    }
    const e = err as Error;
    return sim.result(false, `exception: ${e.stack ?? e.message}`);
  }
}

class LivenessFailure extends Error {}
class HistoryViolation extends Error {}

class Simulation {
  private readonly rng: Prng;
  private readonly net: Network;
  private readonly inv = new Invariants();
  private readonly nodes: SimNode[] = [];
  private readonly ids: NodeId[];
  private readonly initial: Membership;
  private readonly config: Omit<RaftConfig, 'id' | 'random'>;
  private now = 0;
  private nextValue = 1;
  private nextContext = 1;
  private history: Op[] = [];
  private stats = {
    writes: 0, acknowledgedWrites: 0, reads: 0, leaderChanges: 0, crashes: 0, snapshotsSent: 0,
    membershipChanges: 0, readsServed: 0, transfers: 0,
  };
  private countedConfChanges = new Set<number>();
  private transferTargets = new Set<string>();
  private partitioned = false;
  private readonly driverCrashRate: number;
  /**
   * Longest a synced write takes, in steps. Above 0 the driver is asynchronous like the real one:
   * the core keeps receiving messages and ticks between handing out a Ready and its advance.
   */
  private readonly maxWriteLatency: number;
  /** Chance per step that a crashed node restarts (sometimes at once, to race its own election). */
  private readonly restartRate: number;
  /** Chance that a node reboots right after granting a vote, to race the election it voted in. */
  private readonly rebootAfterVoteRate: number;
  /** After healing nothing crashes any more. */
  private healed = false;

  constructor(private readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.net = new Network(this.rng.fork());
    this.ids = Array.from({ length: opts.nodes + 1 }, (_, i) => `n${i + 1}`);
    this.initial = { voters: this.ids.slice(0, opts.nodes), learners: [] };
    this.config = {
      electionTick: 10,
      heartbeatTick: 1,
      preVote: this.rng.chance(0.75),
      checkQuorum: this.rng.chance(0.5),
      maxInflightMsgs: this.rng.int(1, 8),
      maxEntriesPerMsg: this.rng.int(1, 16),
      maxBytesPerMsg: this.rng.int(64, 4096),
      maxUncommittedBytes: this.rng.int(200, 4000),
      snapshotChunkBytes: this.rng.int(8, 256),
    };
    this.driverCrashRate = opts.driverCrashRate ?? this.rng.pick([0.001, 0.002, 0.005, 0.01]);
    this.restartRate = this.rng.pick([0.05, 0.2, 0.9]);
    this.rebootAfterVoteRate = this.rng.pick([0, 0.3, 0.8]);
    this.maxWriteLatency = this.rng.pick([0, 0, 1, 3]);
    for (const id of this.ids) {
      const node: SimNode = {
        id, core: null, sm: new AppendLog(), applied: 0, appliedTerm: 0,
        membership: cloneMembership(this.initial),
        disk: { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] },
        writes: new Map(), reads: new Map(), readsAwaitingApply: [], writing: null,
      };
      this.nodes.push(node);
      this.start(node);
    }
  }

  run(): void {
    for (let step = 0; step < this.opts.steps; step++) {
      this.chaos();
      this.clients();
      this.tickAndDeliver(0.95);
    }
  }

  /** Faults stop; every node comes back; the network turns reliable. */
  heal(): void {
    this.healed = true;
    this.net.heal();
    this.net.faults = CALM;
    for (const n of this.nodes) if (!n.core) this.start(n);
  }

  /** Within a bounded number of ticks a voter leads and commits a fresh write. */
  checkLiveness(): void {
    let probe: WriteOp | null = null;
    for (let t = 0; t < LIVENESS_TICKS; t++) {
      this.tickAndDeliver(1);
      if (probe?.respondedAt !== undefined) return;
      if (probe === null || t % 50 === 49) {
        const leader = this.leaderNode();
        if (leader) probe = this.write(leader) ?? probe;
      }
    }
    const roles = this.nodes
      .map((n) => {
        const st = n.core?.status();
        if (!st) return `${n.id}:down`;
        const progress = Object.entries(st.progress).map(([id, p]) => `${id}=${p.state}:${p.match}/${p.next}`);
        return `${n.id}:${st.role}/t${st.term}/last${st.lastIndex}/commit${st.commit}/voters[${st.membership.voters}]${progress.length > 0 ? `/progress[${progress}]` : ''}`;
      })
      .join(' ');
    throw new LivenessFailure(`liveness: no write committed within ${LIVENESS_TICKS} ticks after healing (${roles})`);
  }

  checkHistory(): void {
    const problem = checkLinearizable(this.history, this.inv.canonical(decodeValue));
    if (problem) throw new HistoryViolation(`linearizability: ${problem}`);
  }

  result(ok: boolean, error?: string): SimResult {
    return { seed: this.opts.seed, ok, ...(error === undefined ? {} : { error }), ...this.stats };
  }

  // ------------------------------------------------------------------ schedule

  private tickAndDeliver(tickChance: number): void {
    this.now++;
    for (const n of this.nodes) this.drive(n);
    for (const n of this.nodes) {
      if (n.core && this.rng.chance(tickChance)) {
        n.core.tick();
        this.drive(n);
      }
    }
    for (const m of this.net.due(this.now)) {
      const n = this.node(m.to);
      if (!n.core) continue;
      if (m.type === 'snapshot' && m.offset === 0) this.stats.snapshotsSent++;
      n.core.step(m);
      this.drive(n);
    }
    for (const n of this.nodes) this.drive(n);
  }

  private chaos(): void {
    const r = this.rng;
    const live = this.nodes.filter((n) => n.core);
    if (r.chance(0.01) && live.length > 0) this.crash(r.pick(live));
    for (const n of this.nodes) if (!n.core && r.chance(this.restartRate)) this.start(n);
    if (r.chance(0.01)) {
      this.net.faults = {
        dropRate: r.pick([0, 0, 0.02, 0.1, 0.3]),
        duplicateRate: r.pick([0, 0.02, 0.1]),
        minDelay: 1,
        maxDelay: r.pick([1, 2, 3, 6, 12]),
      };
    }
    if (!this.partitioned && r.chance(0.015)) {
      this.partitioned = true;
      const leader = this.leaderNode();
      const roll = r.next();
      if (leader && roll < 0.4) {
        // Cut the leader off, alone or with one follower: the majority moves on without it.
        const group = [leader.id, ...(r.chance(0.5) ? [r.pick(this.ids)] : [])];
        this.net.isolate(group, this.ids);
      } else if (roll < 0.7) {
        const group = this.ids.filter(() => r.chance(0.4));
        this.net.isolate(group, this.ids);
      } else {
        for (let i = 0; i < 3; i++) this.net.block(r.pick(this.ids), r.pick(this.ids));
      }
    } else if (this.partitioned && r.chance(0.03)) {
      this.partitioned = false;
      this.net.heal();
    }
    if (r.chance(0.05) && live.length > 0) this.compact(r.pick(live));
    // Earlier steps may have crashed the nodes picked above; everything below re-reads who is up.
    const leader = this.leaderNode();
    if (leader && r.chance(0.02)) this.changeMembership(leader);
    if (leader?.core && r.chance(0.005)) {
      const st = leader.core!.status();
      const target = r.pick(st.membership.voters);
      leader.core!.transferLeadership(target);
      this.transferTargets.add(`${target}@${st.term + 1}`);
      this.drive(leader);
    }
  }

  private clients(): void {
    // Clients talk to any node that believes it leads, stale leaders included: those must not
    // acknowledge writes or serve reads that break linearizability.
    const leaders = this.nodes.filter((n) => n.core?.status().role === 'leader');
    if (leaders.length === 0) return;
    const leader = this.rng.pick(leaders);
    if (this.rng.chance(0.3)) this.write(leader);
    if (leader.core && this.rng.chance(0.1)) this.read(leader);
  }

  // ------------------------------------------------------------------ clients

  private write(n: SimNode): WriteOp | null {
    const value = this.nextValue++;
    const op: WriteOp = { kind: 'write', value, invokedAt: this.now };
    try {
      const { index, term } = n.core!.propose(encodeValue(value), this.now);
      n.writes.set(index, { term, op });
      this.history.push(op);
      this.stats.writes++;
      this.drive(n);
      return op;
    } catch (err) {
      if (err instanceof RaftError) return null;
      throw err;
    }
  }

  private read(n: SimNode): void {
    const context = this.nextContext++;
    const op: ReadOp = { kind: 'read', invokedAt: this.now };
    try {
      n.core!.readIndex(context);
    } catch (err) {
      if (err instanceof RaftError) return;
      throw err;
    }
    n.reads.set(context, op);
    this.history.push(op);
    this.stats.reads++;
    this.drive(n);
  }

  // ------------------------------------------------------------------ admin

  private changeMembership(leader: SimNode): void {
    const status = leader.core!.status();
    const m = status.membership;
    const r = this.rng;
    let cc: ConfChange;
    const caughtUp = m.learners.filter((l) => (status.progress[l]?.match ?? 0) >= status.commit);
    if (caughtUp.length > 0) {
      cc = { type: 'promote', node: r.pick(caughtUp) };
    } else if (m.learners.length === 0 && m.voters.length > this.opts.nodes - 1 && r.chance(0.6)) {
      cc = { type: 'remove', node: r.pick(m.voters) };
    } else {
      const outside = this.ids.filter((id) => !m.voters.includes(id) && !m.learners.includes(id));
      if (outside.length === 0) return;
      cc = { type: 'addLearner', node: r.pick(outside) };
    }
    try {
      leader.core!.proposeConfChange(cc, this.now);
    } catch (err) {
      if (err instanceof RaftError) return;
      throw err;
    }
    this.drive(leader);
  }

  private compact(n: SimNode): void {
    // Like the real driver, compaction happens between Readies, never during a write.
    if (!n.core || n.writing) return;
    const since = n.applied - (n.disk.snapshot?.meta.index ?? 0);
    if (since < this.rng.int(3, 30)) return;
    const snapshot: Snapshot = {
      meta: { index: n.applied, term: n.appliedTerm, membership: cloneMembership(n.membership) },
      data: n.sm.snapshot(),
    };
    n.core!.compact(snapshot);
    n.disk.snapshot = snapshot;
    n.disk.entries = n.disk.entries.filter((e) => e.index > snapshot.meta.index);
  }

  // ------------------------------------------------------------------ nodes

  private node(id: NodeId): SimNode {
    return this.nodes.find((n) => n.id === id)!;
  }

  private leaderNode(): SimNode | null {
    const leaders = this.nodes.filter((n) => n.core?.status().role === 'leader');
    if (leaders.length === 0) return null;
    return leaders.reduce((a, b) => (b.core!.status().term > a.core!.status().term ? b : a));
  }

  /** Boots (or reboots) a node from exactly what its disk holds. */
  private start(n: SimNode): void {
    const persisted: PersistedState = {
      hardState: { ...n.disk.hardState },
      snapshot: n.disk.snapshot,
      entries: [...n.disk.entries],
      initialMembership: this.initial,
    };
    const random = this.rng.fork();
    n.core = new RaftCore({ ...this.config, id: n.id, random: () => random.next() }, persisted);
    n.sm = new AppendLog();
    n.applied = 0;
    n.appliedTerm = 0;
    n.membership = cloneMembership(this.initial);
    if (n.disk.snapshot) this.restore(n, n.disk.snapshot);
  }

  private crash(n: SimNode): void {
    n.core = null;
    n.writing = null;
    this.stats.crashes++;
    n.writes.clear();
    n.reads.clear();
    n.readsAwaitingApply = [];
    this.net.dropTo(n.id);
  }

  /**
   * The simulated driver: take a Ready, persist it (at once or some steps later), then send,
   * apply and advance — crashing at random points, and losing whatever was not yet synced.
   */
  private drive(n: SimNode): void {
    try {
      while (n.core) {
        if (n.writing) {
          if (n.writing.doneAt > this.now) return;
          const { rd } = n.writing;
          n.writing = null;
          this.finish(n, n.core, rd);
          continue;
        }
        if (!n.core.hasReady()) return;
        const rd = n.core.ready();
        if (this.opts.unsafeSendBeforeSync) this.sendAll(rd);
        const latency = this.rng.int(0, this.maxWriteLatency);
        if (latency === 0) this.finish(n, n.core, rd);
        else n.writing = { rd, doneAt: this.now + latency };
      }
    } catch (err) {
      if (!(err instanceof Crash)) throw err;
    }
  }

  private finish(n: SimNode, core: RaftCore, rd: Ready): void {
    this.maybeCrash(n, this.driverCrashRate);
    this.persist(n, rd);
    this.maybeCrash(n, this.driverCrashRate);
    if (!this.opts.unsafeSendBeforeSync) this.sendAll(rd);
    const votedFor = rd.messages.some((m) => m.type === 'voteResp' && m.granted && !m.preVote);
    if (votedFor && !this.healed && this.rng.chance(this.rebootAfterVoteRate)) {
      // The vote is out; whatever the node forgets on reboot, it must not vote twice in this term.
      this.crash(n);
      this.start(n);
      throw new Crash();
    }
    this.applyReady(n, rd);
    core.advance(rd);
  }

  private maybeCrash(n: SimNode, p: number): void {
    if (!this.healed && this.rng.chance(p)) {
      this.crash(n);
      throw new Crash();
    }
  }

  private sendAll(rd: Ready): void {
    for (const m of rd.messages) this.net.send(m, this.now);
  }

  private persist(n: SimNode, rd: Ready): void {
    const d = n.disk;
    if (rd.snapshot) {
      d.snapshot = rd.snapshot;
      d.entries = [];
    }
    const first = rd.entries[0];
    if (first) {
      d.entries = d.entries.filter((e) => e.index < first.index);
      for (const e of rd.entries) {
        const prev = d.entries.at(-1);
        const prevTerm = prev ? prev.term : (d.snapshot?.meta.term ?? 0);
        const prevIndex = prev ? prev.index : (d.snapshot?.meta.index ?? 0);
        if (prevIndex !== e.index - 1) throw new Error(`${n.id}: persisted log would have a gap before ${e.index}`);
        this.inv.persisted(n.id, e, prevTerm);
        d.entries.push(e);
      }
    }
    if (rd.hardState) d.hardState = { ...rd.hardState };
    if (rd.softState?.role === 'leader') {
      this.stats.leaderChanges++;
      if (this.transferTargets.has(`${n.id}@${rd.softState.term}`)) this.stats.transfers++;
      this.inv.leader(rd.softState.term, n.id);
      const snapIndex = d.snapshot?.meta.index ?? 0;
      this.inv.newLeader(n.id, snapIndex, (i) =>
        i === snapIndex ? d.snapshot?.meta.term : d.entries.find((e) => e.index === i)?.term,
      );
    }
  }

  private applyReady(n: SimNode, rd: Ready): void {
    if (rd.snapshot) this.restore(n, rd.snapshot);
    for (const e of rd.committedEntries) {
      if (e.index !== n.applied + 1) throw new Error(`${n.id}: applying ${e.index} after ${n.applied}`);
      this.inv.apply(n.id, e);
      n.applied = e.index;
      n.appliedTerm = e.term;
      if (e.type === EntryType.Normal) {
        const position = decodeValue(n.sm.apply(e.data));
        const w = n.writes.get(e.index);
        if (w && w.term === e.term) {
          w.op.respondedAt = this.now;
          w.op.position = position;
          this.stats.acknowledgedWrites++;
        }
      } else if (e.type === EntryType.ConfChange) {
        if (!this.countedConfChanges.has(e.index)) {
          this.countedConfChanges.add(e.index);
          this.stats.membershipChanges++;
        }
        const cc = decodeConfChange(e.data);
        if (cc) {
          try {
            n.membership = applyConfChange(n.membership, cc);
          } catch (err) {
            if (!(err instanceof RaftError)) throw err;
          }
        }
      }
      n.writes.delete(e.index);
    }
    for (const rs of rd.readStates) {
      const op = n.reads.get(rs.context);
      if (!op) continue;
      n.reads.delete(rs.context);
      n.readsAwaitingApply.push({ index: rs.index, op });
    }
    n.readsAwaitingApply = n.readsAwaitingApply.filter(({ index, op }) => {
      if (index > n.applied) return true;
      op.respondedAt = this.now;
      op.result = [...n.sm.values];
      this.stats.readsServed++;
      return false;
    });
  }

  private restore(n: SimNode, snapshot: Snapshot): void {
    n.sm.restore(snapshot.data);
    n.applied = snapshot.meta.index;
    n.appliedTerm = snapshot.meta.term;
    n.membership = cloneMembership(snapshot.meta.membership);
    this.inv.restored(n.id, snapshot, n.sm.values, decodeValue);
    for (const index of [...n.writes.keys()]) if (index <= snapshot.meta.index) n.writes.delete(index);
  }
}
