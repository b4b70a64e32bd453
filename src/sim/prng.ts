// The project's one seeded PRNG. The simulator (src/sim) draws every fault, schedule and client
// choice from it, so a seed replays exactly; the fault-injection runner (src/verify) draws the
// nemesis schedule and each client's choices from named streams of one seed, so a failing seed
// makes the same choices when rerun (the timing of a real cluster still varies from run to run).

/** A 32-bit integer hash (xor-shift-multiply rounds) used to derive stream seeds. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export class Prng {
  private state: number;

  /** `stream` names an independent sequence derived from the same seed. */
  constructor(seed: number, stream = '') {
    let h = mix32(seed ^ 0x9e3779b9);
    for (let i = 0; i < stream.length; i++) h = mix32(h ^ stream.charCodeAt(i));
    this.state = h === 0 ? 0x6d2b79f5 : h;
  }

  /** Uniform in [0, 1): Marsaglia's xorshift32 step, scrambled by mix32. */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return mix32(this.state) / 0x1_0000_0000;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** An independent generator seeded from this one's next draw (e.g. one per simulated node). */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 0x1_0000_0000));
  }

  /** Picks by weight: `weights` maps each choice to a non-negative weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const total = entries.reduce((s, [, w]) => s + w, 0);
    if (total <= 0) throw new Error('no positive weight');
    let r = this.next() * total;
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }

  /** A random subset of `items` of the given size (order of `items` kept). */
  sample<T>(items: readonly T[], size: number): T[] {
    const idx = items.map((_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx
      .slice(0, size)
      .sort((a, b) => a - b)
      .map((i) => items[i]!);
  }
}
