// Where the bodies of the queued messages live: the state keeps a ref and lengths per message,
// the store keeps the bytes (a record per message: its client id, then its body, as
// message-record.ts writes them; the store never looks inside one). A store is node-local and not replicated: refs never reach a
// snapshot image or a result, so what a store does (where it puts a body, when it frees space)
// cannot change what the state machine decides. Every operation is synchronous, since apply is.
//
// One store holds the bodies of one state. A restore fills a fresh store (`fresh()`) beside the
// live one; the state that wins keeps its store and the other is discarded with it. A snapshot
// stream holds the store (`hold()`) while it writes: it copies a mailbox's messages before a
// change, not their bodies, so a body released meanwhile must stay readable until it is written.

export interface BodyStoreUsage {
  /** Bytes appended and not released yet. */
  liveBytes: number;
  /** Bytes the store takes to hold them (file store: segment file sizes), at least liveBytes. */
  storedBytes: number;
}

/** Reads bodies into place: a store, or a scan of it. */
export interface BodyReader {
  /** The `length` bytes at `ref`, put into `target[offset, offset + length)` (a snapshot writes bodies in place). */
  readInto(ref: number, length: number, target: Uint8Array, offset: number): void;
}

export interface BodyStore extends BodyReader {
  /** Keeps a copy of `body`; returns its ref (meaningful to this store only). */
  append(body: Uint8Array): number;
  /** The `length` bytes at `ref`, a fresh array. Throws for a ref this store does not hold. */
  read(ref: number, length: number): Uint8Array;
  /**
   * A reader for many bodies read one after another in about the order they were appended (a
   * snapshot writes every queued body): a store may read ahead of each body (the file store reads
   * blocks, not one body per system call). Reads what `readInto` reads; valid as long as the store.
   */
  scan(): BodyReader;
  /** The body at `ref` is no longer held by the state: its space may be reclaimed (once no hold is on). */
  release(ref: number, length: number): void;
  /**
   * Until the returned function is called, bodies released stay readable (their space is reclaimed
   * then). Calling it again does nothing.
   */
  hold(): () => void;
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
  /** Released while a hold was on: readable, not releasable, dropped when the last hold ends. */
  private readonly released = new Map<number, Uint8Array>();
  private holds = 0;
  private nextRef = 0;
  private liveBytes = 0;

  append(body: Uint8Array): number {
    const ref = this.nextRef++;
    this.bodies.set(ref, body.slice());
    this.liveBytes += body.length;
    return ref;
  }

  read(ref: number, length: number): Uint8Array {
    return this.readable(ref, length).slice();
  }

  readInto(ref: number, length: number, target: Uint8Array, offset: number): void {
    target.set(this.readable(ref, length), offset);
  }

  /** Nothing to read ahead in memory: the store itself. */
  scan(): BodyReader {
    return this;
  }

  release(ref: number, length: number): void {
    const body = this.held(ref, length);
    this.bodies.delete(ref);
    if (this.holds > 0) this.released.set(ref, body);
    this.liveBytes -= length;
  }

  hold(): () => void {
    this.holds++;
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      if (--this.holds === 0) this.released.clear();
    };
  }

  fresh(): MemoryBodyStore {
    return new MemoryBodyStore();
  }

  discard(): void {
    this.bodies.clear();
    this.released.clear();
    this.liveBytes = 0;
  }

  usage(): BodyStoreUsage {
    let kept = 0;
    for (const body of this.released.values()) kept += body.length;
    return { liveBytes: this.liveBytes, storedBytes: this.liveBytes + kept };
  }

  private held(ref: number, length: number): Uint8Array {
    return checked(this.bodies.get(ref), ref, length);
  }

  private readable(ref: number, length: number): Uint8Array {
    return checked(this.bodies.get(ref) ?? this.released.get(ref), ref, length);
  }
}

function checked(body: Uint8Array | undefined, ref: number, length: number): Uint8Array {
  if (body === undefined || body.length !== length) {
    throw new Error(`body store holds no body of ${length} bytes at ref ${ref}`);
  }
  return body;
}
