// Helpers for the core's unit tests: build cores, and a tiny synchronous cluster that runs each
// core through ready → persist → send → apply → advance with a perfect disk and a network whose
// links can be cut.

import { RaftCore, type RaftConfig } from '../../src/raft/core.js';
import { snapshotDigest } from '../../src/raft/digest.js';
import type { Entry, HardState, Message, NodeId, PersistedState, Ready, Snapshot, StoredSnapshot } from '../../src/raft/types.js';

export function config(id: NodeId, overrides: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
    maxInflightMsgs: 256,
    maxEntriesPerMsg: 64,
    maxBytesPerMsg: 1 << 20,
    maxUncommittedBytes: 1 << 20,
    snapshotChunkBytes: 1024,
    maxVoters: 7,
    maxLearners: 2,
    random: () => 0,
    snapshotDigest,
    ...overrides,
  };
}

export function emptyState(voters: NodeId[], learners: NodeId[] = []): PersistedState {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], initialMembership: { voters, learners } };
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** Every message of a Ready: those that may leave at once, then those that wait for the write. */
export function sent(rd: Ready): Message[] {
  return [...rd.messagesNow, ...rd.messagesAfterWrite];
}

/** Takes the pending Ready and advances it as if persisted, sent and applied. */
export function flush(core: RaftCore): Ready {
  const rd = core.ready();
  core.advance(rd);
  return rd;
}

interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
  /** Replaced snapshots kept readable for sends under way (RaftStorage.keepSnapshots), by index. */
  retained?: Map<number, Snapshot>;
  /** The chunks of a leader's snapshot staged so far, as the driver stages them. */
  receiving?: { index: number; parts: Uint8Array[] } | null;
}

export class TestCluster {
  readonly cores = new Map<NodeId, RaftCore>();
  readonly disks = new Map<NodeId, Disk>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readys = new Map<NodeId, Ready[]>();
  private inbox: Message[] = [];
  private cut = new Set<string>();
  /** False: storage lets a replaced snapshot go even while it is being sent (reads of it then fail). */
  keepSnapshotsBeingSent = true;
  /** Messages matching this are dropped on the floor. */
  drop: (m: Message) => boolean = () => false;

  constructor(
    readonly ids: NodeId[],
    private readonly overrides: Partial<RaftConfig> = {},
    members: NodeId[] = ids,
  ) {
    for (const id of ids) {
      this.disks.set(id, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] });
      this.applied.set(id, []);
      this.readys.set(id, []);
      this.cores.set(id, new RaftCore(config(id, overrides), emptyState(members)));
    }
  }

  core(id: NodeId): RaftCore {
    return this.cores.get(id)!;
  }

  /** Runs every pending Ready of every node, then delivers messages, until the cluster is quiet. */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      for (const id of this.ids) this.process(id);
      if (this.inbox.length === 0) return;
      const batch = this.inbox;
      this.inbox = [];
      for (const m of batch) {
        if (this.cut.has(`${m.from}->${m.to}`) || this.drop(m)) continue;
        this.cores.get(m.to)?.step(m);
      }
    }
    throw new Error('cluster did not settle');
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.core(id).tick();
      this.settle();
    }
  }

  /** Ticks only `id` until it starts an election, then lets the election run. */
  elect(id: NodeId): void {
    const before = this.core(id).status().term;
    for (let i = 0; i < 100 && this.core(id).status().role !== 'leader'; i++) this.tick(id);
    if (this.core(id).status().role !== 'leader') throw new Error(`${id} did not win (term ${before})`);
  }

  isolate(id: NodeId): void {
    for (const other of this.ids) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Restarts `id` from its disk (everything it synced, nothing more). */
  restart(id: NodeId, members: NodeId[] = this.ids): void {
    const d = this.disks.get(id)!;
    this.cores.set(id, new RaftCore(config(id, this.overrides), {
      hardState: { ...d.hardState }, snapshot: d.snapshot && { meta: d.snapshot.meta, size: d.snapshot.data.length }, entries: [...d.entries],
      initialMembership: { voters: members, learners: [] },
    }));
    this.applied.set(id, []);
  }

  /** `id` snapshots its state as `image` at `index`: stored on its disk in place of the previous one, then compacted. */
  compact(id: NodeId, index: number, image: Uint8Array): StoredSnapshot {
    const snap = this.core(id).createSnapshot(index, image.length, snapshotDigest(image));
    const d = this.disks.get(id)!;
    const sending = this.keepSnapshotsBeingSent ? this.core(id).snapshotsBeingSent() : [];
    if (d.snapshot && sending.includes(d.snapshot.meta.index)) (d.retained ??= new Map()).set(d.snapshot.meta.index, d.snapshot);
    d.snapshot = { meta: snap.meta, data: image };
    this.core(id).compact(snap);
    return snap;
  }

  /** Indexes of the leader's snapshots `id` installed, in order. */
  installedSnapshots(id: NodeId): number[] {
    return this.readys.get(id)!.filter((rd) => rd.snapshot !== null).map((rd) => rd.snapshot!.meta.index);
  }

  appliedData(id: NodeId): string[] {
    return this.applied.get(id)!.filter((e) => e.data.length > 0 && e.type === 0).map((e) => text(e.data));
  }

  private process(id: NodeId): void {
    const core = this.cores.get(id)!;
    while (core.hasReady()) {
      const rd = core.ready();
      this.readys.get(id)!.push(rd);
      const d = this.disks.get(id)!;
      // Received chunks are staged as they come (a new transfer at offset 0), and switched to with the snapshot.
      for (const chunk of rd.receivedChunks) {
        if (chunk.offset === 0) d.receiving = { index: chunk.meta.index, parts: [] };
        d.receiving!.parts.push(chunk.data);
      }
      if (rd.snapshot) {
        const parts = d.receiving!.parts;
        const data = new Uint8Array(rd.snapshot.size);
        let at = 0;
        for (const p of parts) {
          data.set(p, at);
          at += p.length;
        }
        if (at !== data.length || d.receiving!.index !== rd.snapshot.meta.index) throw new Error('the received snapshot was not staged whole');
        d.receiving = null;
        d.snapshot = { meta: rd.snapshot.meta, data };
        d.entries = [];
      }
      const first = rd.entries[0];
      if (first) d.entries = [...d.entries.filter((e) => e.index < first.index), ...rd.entries];
      if (rd.hardState) d.hardState = rd.hardState;
      this.inbox.push(...sent(rd));
      for (const chunk of rd.receivedChunks) if (chunk.ack) this.inbox.push(chunk.ack);
      // Snapshot chunks are read from the disk, as the driver does; one of a snapshot replaced meanwhile is dropped.
      const failed: Array<{ to: NodeId; index: number }> = [];
      for (const { length, ...chunk } of rd.snapshotSends) {
        const source = d.snapshot?.meta.index === chunk.meta.index ? d.snapshot : d.retained?.get(chunk.meta.index);
        if (source === undefined) failed.push({ to: chunk.to, index: chunk.meta.index });
        else this.inbox.push({ ...chunk, data: source.data.subarray(chunk.offset, chunk.offset + length) });
      }
      this.applied.get(id)!.push(...rd.committedEntries);
      core.advance(rd);
      for (const f of failed) core.snapshotReadFailed(f.to, f.index);
      const sending = new Set(core.snapshotsBeingSent());
      for (const index of d.retained?.keys() ?? []) if (!sending.has(index)) d.retained!.delete(index);
    }
  }
}
