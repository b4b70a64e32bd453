// The simulated network: every message gets a delivery time on the simulated clock, and may be
// dropped, duplicated or (through random delays) reordered. Partitions block delivery per
// direction, so both symmetric and asymmetric splits are possible.

import type { Message, NodeId } from '../raft/types.js';
import type { SimClock } from './clock.js';
import type { Prng } from './prng.js';

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  minDelay: number;
  maxDelay: number;
}

export const CALM: NetworkFaults = { dropRate: 0, duplicateRate: 0, minDelay: 1, maxDelay: 2 };

export class Network {
  faults: NetworkFaults = CALM;
  /** "from->to" pairs whose messages are lost. */
  private blocked = new Set<string>();

  constructor(
    private readonly rng: Prng,
    private readonly clock: SimClock,
    /** Hands a message to its addressee; `epoch` is what `epochOf(to)` was when it was sent. */
    private readonly deliver: (m: Message, epoch: number) => void,
    /** Changes whenever the addressee's process dies: packets to a dead socket are lost. */
    private readonly epochOf: (id: NodeId) => number,
  ) {}

  send(m: Message): void {
    if (this.rng.chance(this.faults.dropRate)) return;
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    const epoch = this.epochOf(m.to);
    for (let i = 0; i < copies; i++) {
      const at = this.clock.now + this.rng.int(this.faults.minDelay, this.faults.maxDelay);
      // Partitions are checked on arrival: a message in flight when the link is cut is lost.
      this.clock.at(at, () => {
        if (!this.blocked.has(`${m.from}->${m.to}`)) this.deliver(m, epoch);
      });
    }
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
}
