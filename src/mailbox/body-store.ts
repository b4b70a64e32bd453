// Where the bodies of the queued messages live: the state keeps a ref and a length per message,
// the store keeps the bytes. A store is node-local and not replicated: refs never reach a
// snapshot image or a result, so what a store does (where it puts a body, when it frees space)
// cannot change what the state machine decides. Every operation is synchronous, since apply is.
//
// One store holds the bodies of one state. A restore fills a fresh store (`fresh()`) beside the
// live one; the state that wins keeps its store and the other is discarded with it.

export interface BodyStoreUsage {
  /** Body bytes appended and not released yet. */
  liveBytes: number;
  /** Bytes the store takes to hold them (file store: segment file sizes), at least liveBytes. */
  storedBytes: number;
}

export interface BodyStore {
  /** Keeps a copy of `body`; returns its ref (meaningful to this store only). */
  append(body: Uint8Array): number;
  /** The `length` bytes at `ref`, a fresh array. Throws for a ref this store does not hold. */
  read(ref: number, length: number): Uint8Array;
  /** The same bytes, put into `target[offset, offset + length)` (a snapshot writes bodies in place). */
  readInto(ref: number, length: number, target: Uint8Array, offset: number): void;
  /** The body at `ref` is no longer held by the state: its space may be reclaimed. */
  release(ref: number, length: number): void;
  /** A new, empty store of the same kind, independent of this one (a restore's target). */
  fresh(): BodyStore;
  /** Drops every body and the space they took; the store is not used again. */
  discard(): void;
  usage(): BodyStoreUsage;
}

/**
 * Bodies kept in memory, one array per body: the default, for the simulator and unit tests (no
 * disk). Strict like a file store: reading a released body throws, so a state machine that frees
 * a body too early fails here as it would on disk.
 */
export class MemoryBodyStore implements BodyStore {
  private readonly bodies = new Map<number, Uint8Array>();
  private nextRef = 0;
  private liveBytes = 0;

  append(body: Uint8Array): number {
    const ref = this.nextRef++;
    this.bodies.set(ref, body.slice());
    this.liveBytes += body.length;
    return ref;
  }

  read(ref: number, length: number): Uint8Array {
    return this.held(ref, length).slice();
  }

  readInto(ref: number, length: number, target: Uint8Array, offset: number): void {
    target.set(this.held(ref, length), offset);
  }

  release(ref: number, length: number): void {
    this.held(ref, length);
    this.bodies.delete(ref);
    this.liveBytes -= length;
  }

  fresh(): MemoryBodyStore {
    return new MemoryBodyStore();
  }

  discard(): void {
    this.bodies.clear();
    this.liveBytes = 0;
  }

  usage(): BodyStoreUsage {
    return { liveBytes: this.liveBytes, storedBytes: this.liveBytes };
  }

  private held(ref: number, length: number): Uint8Array {
    const body = this.bodies.get(ref);
    if (body === undefined || body.length !== length) {
      throw new Error(`body store holds no body of ${length} bytes at ref ${ref}`);
    }
    return body;
  }
}
