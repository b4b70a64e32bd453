// SlotOrder: the items in its slots, holes skipped, are always the map's values in iteration
// order, whatever mix of adds, deletes and replacements under a key the map sees; holes are
// squeezed out once they outnumber the items, never while the order is pinned. Its front (first,
// fromFirst) is the map's oldest entry, as the mailbox forgets remembered ids oldest first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SlotOrder } from '../../src/mailbox/slot-order.js';

interface Item {
  slot: number;
  v: number;
}

function itemsOf(order: SlotOrder<Item>): Item[] {
  const out: Item[] = [];
  for (let slot = 0; slot < order.length; slot++) {
    const item = order.at(slot);
    if (item !== null) {
      assert.equal(item.slot, slot, 'an item knows its slot');
      out.push(item);
    }
  }
  return out;
}

test('the slots mirror a Map through adds, deletes and replacements, pinned or not', () => {
  const op = fc.tuple(fc.constantFrom('set', 'delete', 'pin', 'unpin', 'forget-first'), fc.integer({ min: 0, max: 40 }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
      const map = new Map<number, Item>();
      const order = new SlotOrder<Item>();
      const unpins: (() => void)[] = [];
      let v = 0;
      for (const [kind, key] of ops) {
        if (kind === 'set') {
          const item = { slot: -1, v: v++ };
          const old = map.get(key);
          map.set(key, item);
          if (old === undefined) order.append(item);
          else order.replace(old, item);
        } else if (kind === 'delete') {
          const old = map.get(key);
          if (old === undefined) continue;
          map.delete(key);
          order.remove(old);
        } else if (kind === 'forget-first') {
          // As the mailbox forgets the oldest: the front is the map's first entry.
          const first = order.first();
          const [key0, item0] = map.entries().next().value ?? [undefined, null];
          assert.equal(first, item0);
          if (first === null) continue;
          map.delete(key0!);
          order.remove(first);
        } else if (kind === 'pin') {
          unpins.push(order.pin());
        } else {
          unpins.pop()?.();
        }
      }
      assert.deepEqual(itemsOf(order), [...map.values()]);
      assert.deepEqual([...order.fromFirst()], [...map.values()]);
      assert.equal(order.first(), map.values().next().value ?? null);
    }),
    { numRuns: 200 },
  );
});

test('holes are squeezed out once they outnumber the items, and not while pinned', () => {
  const order = new SlotOrder<Item>();
  const items = Array.from({ length: 5000 }, (_, v) => ({ slot: -1, v }));
  for (const item of items) order.append(item);
  const unpin = order.pin();
  for (const item of items.slice(0, 4000)) order.remove(item);
  assert.equal(order.length, 5000, 'pinned: slots stay where they are');
  assert.equal(order.at(4000), items[4000]);
  unpin();
  assert.equal(order.length, 1000, 'unpinned: compacted');
  assert.deepEqual(itemsOf(order), items.slice(4000));
  assert.equal(items[4000]!.slot, 0);
});

test('forgetting from the front of a large order stays cheap: no walk over the slots forgotten before', () => {
  const order = new SlotOrder<Item>();
  for (let v = 0; v < 300_000; v++) order.append({ slot: -1, v });
  const unpin = order.pin(); // no compaction to reset the front: the holes stay
  const t0 = performance.now();
  for (let v = 0; v < 100_000; v++) {
    const first = order.first()!;
    assert.equal(first.v, v);
    order.remove(first);
    order.append({ slot: -1, v: 300_000 + v });
  }
  const ms = performance.now() - t0;
  // From slot 0 each time this is 5 billion steps; generous for a loaded machine.
  assert.ok(ms < 5_000, `${ms} ms`);
  unpin();
  assert.equal(order.first()!.v, 100_000);
  assert.equal([...order.fromFirst()].length, 300_000);
});
