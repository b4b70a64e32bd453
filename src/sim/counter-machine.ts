// The smallest StateMachine: counts applied commands. For the Raft driver tests and the Raft
// benchmark, which exercise consensus and storage, not a real state machine.

import type { SnapshotSource, StateMachine } from '../raft/types.js';

export class CounterMachine implements StateMachine<number> {
  count = 0;
  apply(): number {
    return ++this.count;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.count));
  }
  /** One piece: the count when the snapshot began. */
  snapshotSource(): SnapshotSource {
    const image = this.snapshot();
    let done = false;
    return {
      next: () => {
        if (done) return null;
        done = true;
        return image;
      },
      close: () => {},
    };
  }
  restore(data: Uint8Array): void {
    this.count = Number(new TextDecoder().decode(data));
  }
}
