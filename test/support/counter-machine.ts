// The smallest StateMachine: counts applied commands. For Raft driver tests and the Raft benchmark,
// which exercise consensus and storage, not a real state machine.

import type { StateMachine } from '../../src/raft/types.js';

export class CounterMachine implements StateMachine<Uint8Array> {
  count = 0;
  apply(): Uint8Array {
    this.count++;
    return new Uint8Array(0);
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.count));
  }
  restore(data: Uint8Array): void {
    this.count = Number(new TextDecoder().decode(data));
  }
}
