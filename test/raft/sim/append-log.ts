// The replicated state machine of the simulation: an append-only list of integers. Each write
// appends one unique value and answers its position; a read answers the whole list. Unique values
// make linearizability checkable without search.

import type { StateMachine } from '../../../src/raft/types.js';

export class AppendLog implements StateMachine<Uint8Array> {
  values: number[] = [];

  apply(data: Uint8Array): Uint8Array {
    this.values.push(decodeValue(data));
    return encodeValue(this.values.length - 1);
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.values));
  }

  restore(data: Uint8Array): void {
    this.values = JSON.parse(new TextDecoder().decode(data)) as number[];
  }
}

export function encodeValue(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

export function decodeValue(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
}
