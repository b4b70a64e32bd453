import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Prng } from '../../src/sim/prng.js';

test('Prng: a seed and stream name fix the sequence; streams and seeds differ', () => {
  const draw = (seed: number, stream: string) => {
    const r = new Prng(seed, stream);
    return Array.from({ length: 8 }, () => r.int(0, 1_000_000));
  };
  assert.deepEqual(draw(7, 'nemesis'), draw(7, 'nemesis'));
  assert.notDeepEqual(draw(7, 'nemesis'), draw(7, 'client-1'));
  assert.notDeepEqual(draw(7, 'nemesis'), draw(8, 'nemesis'));
  const r = new Prng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const v = r.int(3, 6);
    assert.ok(v >= 3 && v <= 6);
    seen.add(v);
  }
  assert.deepEqual([...seen].sort(), [3, 4, 5, 6]);
  assert.deepEqual(r.sample(['a', 'b', 'c', 'd'], 2).length, 2);
  assert.equal(new Prng(1).weighted({ only: 1, never: 0 }), 'only');
});
