// The replicated state machine of the simulation: an append-only list of integers. Each write
// appends one unique value and answers its position; a read answers the whole list. Unique values
// make linearizability checkable without search.

import type { StateMachine } from '../raft/types.js';

/** What the simulator watches: every entry applied and every snapshot restored. */
export interface AppendLogObserver {
  applied(index: number, term: number, time: number, data: Uint8Array): void;
  /** `index`/`term` of the last entry the image holds (0/0 for none). */
  restored(values: number[], index: number, term: number): void;
}

export class AppendLog implements StateMachine<number> {
  values: number[] = [];
  /** Index and term of the last entry applied. */
  private last: [number, number] = [0, 0];

  constructor(private readonly observer: AppendLogObserver | null = null) {}

  apply(data: Uint8Array, meta: { index: number; term: number; time: number }): number {
    this.observer?.applied(meta.index, meta.term, meta.time, data);
    this.values.push(decodeValue(data));
    this.last = [meta.index, meta.term];
    return this.values.length - 1;
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ values: this.values, last: this.last }));
  }

  restore(data: Uint8Array): void {
    const image = JSON.parse(new TextDecoder().decode(data)) as { values: number[]; last: [number, number] };
    this.values = image.values;
    this.last = image.last;
    this.observer?.restored(this.values, image.last[0], image.last[1]);
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
