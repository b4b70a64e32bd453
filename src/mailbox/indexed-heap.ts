// A min-heap of items by a numeric key, in which every item knows its place (through a field the
// caller names), so that an item's key can be changed and the item removed in O(log n), and the
// heap never holds more than one entry per item: its size is the number of items it indexes, not
// the number of changes they went through. Keys are held in a column of their own (unboxed
// doubles) beside the items, so a comparison reads no item.

/** Where an item keeps its index in the heap (-1 when not in it). */
export interface HeapPlace<T> {
  get(item: T): number;
  set(item: T, index: number): void;
}

export class IndexedHeap<T> {
  private readonly items: T[] = [];
  private readonly keys: number[] = [];

  constructor(private readonly place: HeapPlace<T>) {}

  get size(): number {
    return this.items.length;
  }

  /** The item with the least key, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** The least key, Infinity when empty. */
  peekKey(): number {
    return this.items.length > 0 ? this.keys[0]! : Infinity;
  }

  /** Puts `item` in with `key`, or moves it to `key` if it is in already. */
  set(item: T, key: number): void {
    const i = this.place.get(item);
    if (i < 0) {
      this.items.push(item);
      this.keys.push(key);
      this.up(this.items.length - 1);
      return;
    }
    const old = this.keys[i]!;
    if (key === old) return;
    this.keys[i] = key;
    if (key < old) this.up(i);
    else this.down(i);
  }

  /** Takes `item` out, if it is in. */
  delete(item: T): void {
    const i = this.place.get(item);
    if (i < 0) return;
    this.place.set(item, -1);
    const lastItem = this.items.pop()!;
    const lastKey = this.keys.pop()!;
    if (i === this.items.length) return;
    this.items[i] = lastItem;
    this.keys[i] = lastKey;
    this.place.set(lastItem, i);
    this.up(i);
    this.down(this.place.get(lastItem));
  }

  private up(i: number): void {
    const items = this.items;
    const keys = this.keys;
    const item = items[i]!;
    const key = keys[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      items[i] = items[parent]!;
      keys[i] = keys[parent]!;
      this.place.set(items[i]!, i);
      i = parent;
    }
    items[i] = item;
    keys[i] = key;
    this.place.set(item, i);
  }

  private down(i: number): void {
    const items = this.items;
    const keys = this.keys;
    const n = items.length;
    const item = items[i]!;
    const key = keys[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1]! < keys[child]!) child++;
      if (keys[child]! >= key) break;
      items[i] = items[child]!;
      keys[i] = keys[child]!;
      this.place.set(items[i]!, i);
      i = child;
    }
    items[i] = item;
    keys[i] = key;
    this.place.set(item, i);
  }
}
