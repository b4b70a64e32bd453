// The simulated network: every message gets a delivery time, and may be dropped, duplicated or
// (through random delays) reordered. Partitions block delivery per direction, so both symmetric
// and asymmetric splits are possible.

import type { Message, NodeId } from '../../../src/raft/types.js';
import type { Prng } from './prng.js';

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  minDelay: number;
  maxDelay: number;
}

export const CALM: NetworkFaults = { dropRate: 0, duplicateRate: 0, minDelay: 1, maxDelay: 2 };

interface InFlight {
  at: number;
  seq: number;
  m: Message;
}

export class Network {
  faults: NetworkFaults = CALM;
  private queue: InFlight[] = [];
  private seq = 0;
  /** "from->to" pairs whose messages are lost. */
  private blocked = new Set<string>();

  constructor(private readonly rng: Prng) {}

  send(m: Message, now: number): void {
    if (this.rng.chance(this.faults.dropRate)) return;
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = now + this.rng.int(this.faults.minDelay, this.faults.maxDelay);
      this.queue.push({ at, seq: this.seq++, m });
    }
  }

  /** Messages due by `now`, in delivery-time order; those across a partition vanish. */
  due(now: number): Message[] {
    const ready = this.queue.filter((f) => f.at <= now).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.queue = this.queue.filter((f) => f.at > now);
    return ready.filter((f) => !this.blocked.has(`${f.m.from}->${f.m.to}`)).map((f) => f.m);
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}->${to}`);
  }

  /** Cuts `group` off from everyone else, both ways. */
  isolate(group: NodeId[], all: NodeId[]): void {
    for (const a of group) for (const b of all) if (!group.includes(b)) {
      this.block(a, b);
      this.block(b, a);
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  /** Drops everything addressed to `id` (its process died; packets to a dead socket are lost). */
  dropTo(id: NodeId): void {
    this.queue = this.queue.filter((f) => f.m.to !== id);
  }
}
