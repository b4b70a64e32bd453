// The replicated state machine of the simulation: an append-only list of integers. Each write
// appends one unique value and answers its position; a read answers the whole list. Unique values
// make linearizability checkable without search.

import type { SnapshotSource, StateMachine } from '../raft/types.js';

/** Values per piece of a snapshot source: small, so that a take spans many driver slices. */
const VALUES_PER_PIECE = 16;

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
  private source: SnapshotSource | null = null;

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

  /**
   * The bytes `snapshot()` makes now, a few values per piece, so that the simulator takes
   * snapshots over many slices with entries applied in between. Point in time: the list only
   * grows (restore replaces it, and ends the source), so its first `count` values stay put.
   */
  snapshotSource(): SnapshotSource {
    this.source?.close();
    const values = this.values;
    const count = values.length;
    const last = [...this.last];
    const encoder = new TextEncoder();
    let next = 0;
    let closed = false;
    const source: SnapshotSource = {
      next: () => {
        if (closed) throw new Error('snapshot source closed');
        if (next > count) {
          source.close();
          return null;
        }
        let text = next === 0 ? '{"values":[' : '';
        const end = Math.min(count, next + VALUES_PER_PIECE);
        for (let i = next; i < end; i++) text += (i > 0 ? ',' : '') + JSON.stringify(values[i]);
        if (end === count) text += `],"last":${JSON.stringify(last)}}`;
        next = end === count ? count + 1 : end;
        return encoder.encode(text);
      },
      close: () => {
        closed = true;
        if (this.source === source) this.source = null;
      },
    };
    this.source = source;
    return source;
  }

  restore(data: Uint8Array): void {
    this.source?.close();
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
