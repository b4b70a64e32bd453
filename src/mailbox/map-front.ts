// The oldest entry of an insertion-ordered Map that loses its entries from the front (the put ids
// and consume results the mailbox remembers, forgotten oldest first), reached through one live
// iterator kept between calls. V8 leaves a hole in a Map's table for each deleted entry until the
// table is rehashed, and a fresh iterator steps over every hole before the first live entry: with
// a million remembered ids, looking at the oldest from the start after deleting the one before it
// cost about 0.2 ms a command (docs/performance.md, 2026-12-02), work proportional to the table.

export class MapFront<V> {
  private map: Map<string, V> | null = null;
  /** Positioned just after `head`; entries set later (at the end) are still ahead of it. */
  private it: Iterator<[string, V]> | null = null;
  private head: [string, V] | null = null;

  /** The first entry of `map` in iteration order, or undefined when it is empty. */
  first(map: Map<string, V>): [string, V] | undefined {
    if (map !== this.map) {
      this.map = map;
      this.restart();
    }
    if (this.head !== null) {
      // The same object under its key: still the first entry (entries are only ever added at the end).
      if (map.get(this.head[0]) === this.head[1]) return this.head;
      // Deleted or replaced by something other than dropFirst: start again from the front.
      this.restart();
    }
    if (map.size === 0) {
      this.it = null;
      return undefined;
    }
    let r = (this.it ??= map.entries()).next();
    if (r.done === true) {
      // The iterator ran out when the map was emptied; it has entries again.
      this.it = map.entries();
      r = this.it.next();
    }
    this.head = r.value as [string, V];
    return this.head;
  }

  /** Deletes the entry `first(map)` returned; the next `first` goes on from it. */
  dropFirst(map: Map<string, V>): void {
    if (this.head === null || map !== this.map) throw new Error('MapFront.dropFirst without first');
    map.delete(this.head[0]);
    this.head = null;
  }

  private restart(): void {
    this.it = null;
    this.head = null;
  }
}
