// The replicated state machine of the simulation: an append-only list of integers. Each write
// appends one unique value and answers its position; a read answers the whole list. Unique values
// make linearizability checkable without search.

import type { RestoreSink, SnapshotSource, StateMachine } from '../raft/types.js';

const IMAGE_HEAD = '{"values":[';

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
   * grows (a restore replaces it, and ends the source), so its first `count` values stay put.
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

  /**
   * Takes the JSON image a piece at a time: the values are parsed as each piece completes them,
   * into a list beside the live one, so that installs span many driver slices too.
   */
  restoreSink(size: number): RestoreSink {
    const utf8 = new TextDecoder();
    const values: number[] = [];
    /** Text decoded and not parsed yet. */
    let text = '';
    let part: 'head' | 'values' | 'tail' = 'head';
    let received = 0;
    const parseValues = (list: string) => {
      for (const token of list.split(',')) {
        const v = Number(token);
        if (token === '' || !Number.isInteger(v)) throw new Error(`bad value ${JSON.stringify(token)} in an append-log image`);
        values.push(v);
      }
    };
    return {
      write: (piece) => {
        received += piece.length;
        text += utf8.decode(piece, { stream: true });
        if (part === 'head') {
          if (text.length < IMAGE_HEAD.length) return;
          if (!text.startsWith(IMAGE_HEAD)) throw new Error('not an append-log image');
          text = text.slice(IMAGE_HEAD.length);
          part = 'values';
        }
        if (part !== 'values') return;
        const end = text.indexOf(']');
        const cut = end >= 0 ? end : text.lastIndexOf(',');
        if (cut > 0) parseValues(text.slice(0, cut));
        if (end >= 0) part = 'tail';
        text = end >= 0 ? text.slice(end) : text.slice(cut + 1);
      },
      finish: () => {
        text += utf8.decode();
        if (part !== 'tail' || received !== size || !text.startsWith('],')) throw new Error('incomplete append-log image');
        const { last } = JSON.parse(`{${text.slice(2)}`) as { last: [number, number] };
        this.source?.close();
        this.values = values;
        this.last = last;
        this.observer?.restored(this.values, last[0], last[1]);
      },
      abort: () => {},
    };
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
