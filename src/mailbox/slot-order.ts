// The insertion order of one of the state's maps (mailboxes, remembered put ids, remembered
// consume results), kept beside it as an array of slots, so that a snapshot stream can walk the
// map as it was when the stream began without copying it then (at a million mailboxes and ids the
// copies held the event loop 30-38 ms on a quiet machine, 50-205 ms on a busy one).
//
// Every item added to the map is appended here and learns its slot; an item removed from the map
// leaves a hole (null); an item replaced under the same key (which keeps its place in a Map) takes
// the old one's slot. So the items in the slots, holes skipped, are always the map's values in
// iteration order. A stream pins the order while it runs: no compaction then, so slots keep their
// meaning, and what the stream needs of a slot that changes ahead of it, it saves at that moment
// (snapshot-stream.ts). Holes are squeezed out, slots renumbered, once they outnumber the items
// and nothing pins the order: amortized over the removals that made them. Derived state, rebuilt
// by the snapshot reader.
//
// The front is where the mailbox forgets remembered ids and results, oldest first: `first()` keeps
// its place past the holes it has skipped, so forgetting one entry after another costs no walk
// over the ones forgotten before (V8's Map iterators step over every deleted entry still in the
// table: with a million remembered ids, looking at the oldest from the start cost about 0.2 ms a
// command; docs/performance.md, 2026-12-02).

/** An item of a slot order: `slot` is its index there while it is in the map (derived, not replicated). */
export interface Slotted {
  slot: number;
}

/** Holes below this many are never worth a compaction. */
const MIN_HOLES_TO_COMPACT = 1024;

export class SlotOrder<T extends Slotted> {
  private items: (T | null)[] = [];
  private live = 0;
  private pins = 0;
  /** No item lives below this slot. */
  private head = 0;

  /** One past the last slot used so far: a stream walks the slots below the length it began with. */
  get length(): number {
    return this.items.length;
  }

  /** The item in `slot`, null for a hole (or past the end). */
  at(slot: number): T | null {
    return this.items[slot] ?? null;
  }

  /** The first item in order (the oldest added), or null when there is none. */
  first(): T | null {
    while (this.head < this.items.length && this.items[this.head] === null) this.head++;
    return this.items[this.head] ?? null;
  }

  /** The items in order from the first; the order must not change while this is iterated. */
  *fromFirst(): IterableIterator<T> {
    for (let slot = this.head; slot < this.items.length; slot++) {
      const item = this.items[slot];
      if (item !== null && item !== undefined) yield item;
    }
  }

  append(item: T): void {
    item.slot = this.items.length;
    this.items.push(item);
    this.live++;
  }

  remove(item: T): void {
    this.items[item.slot] = null;
    this.live--;
    this.compactIfSparse();
  }

  /** `item` takes the slot of `old`, which the map just replaced with it under the same key. */
  replace(old: T, item: T): void {
    item.slot = old.slot;
    this.items[old.slot] = item;
  }

  /** Holds slots where they are until the returned function is called (a stream walking them). */
  pin(): () => void {
    this.pins++;
    let pinned = true;
    return () => {
      if (!pinned) return;
      pinned = false;
      this.pins--;
      this.compactIfSparse();
    };
  }

  private compactIfSparse(): void {
    const holes = this.items.length - this.live;
    if (this.pins > 0 || holes < MIN_HOLES_TO_COMPACT || holes <= this.live) return;
    const items: T[] = [];
    for (const item of this.items) {
      if (item === null) continue;
      item.slot = items.length;
      items.push(item);
    }
    this.items = items;
    this.head = 0;
  }
}
