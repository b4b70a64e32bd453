// The oldest entry of an insertion-ordered Map that loses its entries from the front (the put ids
// and consume results the mailbox remembers, forgotten oldest first), reached through one live
// iterator kept between calls. V8 leaves a hole in a Map's table for each deleted entry until the
// table is rehashed, and a fresh iterator steps over every hole before the first live entry: with
// a million remembered ids, looking at the oldest from the start after deleting the one before it
// cost about 0.2 ms a command (docs/performance.md, 2026-12-02), work proportional to the table.

export class MapFront<V> {
  private map: Map<string, V> | null = null;
  private it: Iterator<[string, V]> | null = null;
  /** Entries read from `it` and not dropped, in order: ahead[0] is the map's first entry. */
  private ahead: [string, V][] = [];

  /** The first entry of `map` in iteration order, or undefined when it is empty. */
  first(map: Map<string, V>): [string, V] | undefined {
    return this.at(map, 0);
  }

  /**
   * The entry `i` places after the first. Within one walk (no change to `map` in between), ask for
   * 0, 1, 2, ... in order: each is checked as it is reached.
   */
  at(map: Map<string, V>, i: number): [string, V] | undefined {
    if (map !== this.map) {
      this.map = map;
      this.restart();
    }
    const seen = this.ahead[i];
    // The same object under its key: still in place (entries are only ever added at the end).
    if (seen !== undefined && map.get(seen[0]) !== seen[1]) this.restart();
    // A finished iterator misses entries set later: read again from the front.
    if (this.it === null && this.ahead.length > 0 && i >= this.ahead.length) this.restart();
    while (this.ahead.length <= i) {
      if (this.ahead.length >= map.size) return undefined;
      const r = (this.it ??= map.entries()).next();
      if (r.done === true) {
        this.it = null;
        return undefined;
      }
      this.ahead.push(r.value as [string, V]);
    }
    return this.ahead[i];
  }

  /** Deletes the entry `first(map)` returned; the next `first` goes on from it. */
  dropFirst(map: Map<string, V>): void {
    const head = this.ahead.shift();
    if (head === undefined || map !== this.map) throw new Error('MapFront.dropFirst without first');
    map.delete(head[0]);
  }

  private restart(): void {
    this.it = null;
    this.ahead = [];
  }
}
