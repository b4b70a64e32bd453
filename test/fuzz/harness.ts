// The fuzzing harness every decoder runs under: `npm run fuzz` (scripts/fuzz.ts) for long runs,
// test/fuzz/fuzz.test.ts for a short one in CI. A target names a decoder, its valid encodings
// (with what each must decode to) and its documented typed error. Inputs are valid encodings
// (one in ten), mutations of them (test/fuzz/mutate.ts: one to four stacked, eight in ten) and
// random bytes (one in ten). For every input the harness checks that the decoder
//   - returns, or throws (rejects) only its typed error: anything else is an `untyped` failure;
//   - decodes a valid encoding to what was encoded (`round-trip` failure otherwise);
//   - does not grow the process's external or heap memory by more than MEMORY_BOUND in one call
//     (a length field of 2^32 must not allocate 4 GiB: `memory` failure), nor take over SLOW_MS.
// Outcomes are counted by category: `valid`, `accepted` (a mutation that is still well-formed),
// `refused:<code>` (the typed error's code), and `FAIL:<kind>`.
//
// `inflationSweep` additionally writes every inflated length field (mutate.ts INFLATED_FIELDS)
// over and into every position of valid encodings and checks each decode is refused (or
// accepted) quickly and without allocating.

import fc from 'fast-check';
import { INFLATED_FIELDS, mutate, mutateAll, mutation } from './mutate.js';

export interface ValidSample {
  bytes: Uint8Array;
  /** Throws unless `decoded` is what `bytes` encodes. */
  expect(decoded: unknown): void;
}

export interface FuzzTarget {
  name: string;
  /** The source the decoder lives in, for the report. */
  covers: string;
  valid: fc.Arbitrary<ValidSample>;
  /** The decoder; may return a promise (token verification is asynchronous). */
  decode(b: Uint8Array): unknown;
  /** The category of a thrown (or rejected) `err`, `refused:<code>`, or null if it is not the decoder's typed error. */
  refusal(err: unknown): string | null;
  /** For decoders that answer refusals as values (the key-space parsers): the category of a result. */
  classify?(result: unknown): string;
  /** Throws if a mutated input that decoded yields something it must never yield (a forged capability). */
  checkAccepted?(result: unknown): void;
}

export interface FuzzReport {
  target: string;
  runs: number;
  seconds: number;
  categories: Record<string, number>;
  /** The first few failing inputs, hex, with the reason. */
  failures: string[];
  maxDecodeMs: number;
  maxMemoryDelta: number;
}

/** Growth of external plus heap memory one decode may cause (the largest valid inputs are a few KiB). */
export const MEMORY_BOUND = 64 << 20;
/** One decode taking longer than this is a failure (generous: the machine is shared). */
export const SLOW_MS = 1000;

type Input = { kind: 'valid'; bytes: Uint8Array; sample: ValidSample } | { kind: 'other'; bytes: Uint8Array };

/** Valid encodings drawn per batch; each is mutated many times (drawing them is the costly part). */
const POOL = 250;
const BATCH = 2500;
const plan = fc.tuple(fc.nat(), fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }));
const randomBytes = fc.uint8Array({ maxLength: 256 });

/** Batch `batch` of `n` inputs: one in ten valid, one in ten random bytes, the rest mutated valid encodings (spliced with another). */
function batchInputs(t: FuzzTarget, n: number, seed: number, batch: number): Input[] {
  const s = (k: number) => (seed * 1_000_003 + batch * 4 + k) | 0;
  const pool = fc.sample(t.valid, { numRuns: POOL, seed: s(0) });
  const plans = fc.sample(plan, { numRuns: n, seed: s(1) });
  const randoms = fc.sample(randomBytes, { numRuns: Math.ceil(n / 10), seed: s(2) });
  const out: Input[] = [];
  for (let i = 0; i < n; i++) {
    const [a, b, ms] = plans[i]!;
    const sample = pool[a % POOL]!;
    if (i % 10 === 0) out.push({ kind: 'valid', bytes: sample.bytes, sample });
    else if (i % 10 === 1) out.push({ kind: 'other', bytes: randoms[Math.floor(i / 10)]! });
    else out.push({ kind: 'other', bytes: mutateAll(sample.bytes, ms, pool[b % POOL]!.bytes) });
  }
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b.subarray(0, 256)).toString('hex') + (b.length > 256 ? `…(${b.length} bytes)` : '');

function memory(): number {
  const m = process.memoryUsage();
  return m.external + m.arrayBuffers + m.heapUsed;
}

class Tally {
  readonly categories: Record<string, number> = {};
  readonly failures: string[] = [];
  maxDecodeMs = 0;
  maxMemoryDelta = 0;
  runs = 0;

  count(category: string, input: Uint8Array, reason = ''): void {
    this.categories[category] = (this.categories[category] ?? 0) + 1;
    if (category.startsWith('FAIL') && this.failures.length < 5) this.failures.push(`${category} ${reason} input=${hex(input)}`);
  }

  /** Runs one decode and counts its outcome. */
  async run(t: FuzzTarget, input: Input): Promise<void> {
    this.runs++;
    const before = memory();
    const started = performance.now();
    let outcome: { ok: true; value: unknown } | { ok: false; err: unknown };
    try {
      const r = t.decode(input.bytes);
      outcome = { ok: true, value: r instanceof Promise ? await r : r };
    } catch (err) {
      outcome = { ok: false, err };
    }
    const ms = performance.now() - started;
    const grew = memory() - before;
    this.maxDecodeMs = Math.max(this.maxDecodeMs, ms);
    this.maxMemoryDelta = Math.max(this.maxMemoryDelta, grew);
    if (grew > MEMORY_BOUND) return this.count('FAIL:memory', input.bytes, `grew ${grew} bytes`);
    if (ms > SLOW_MS) return this.count('FAIL:slow', input.bytes, `${ms.toFixed(0)} ms`);
    if (!outcome.ok) {
      const category = t.refusal(outcome.err);
      if (category === null) return this.count('FAIL:untyped', input.bytes, String((outcome.err as Error)?.stack ?? outcome.err));
      if (input.kind === 'valid') return this.count('FAIL:round-trip', input.bytes, `valid input refused: ${category} ${(outcome.err as Error).message}`);
      return this.count(category, input.bytes);
    }
    const category = t.classify ? t.classify(outcome.value) : 'accepted';
    if (category.startsWith('FAIL')) return this.count(category, input.bytes);
    if (input.kind === 'valid') {
      try {
        input.sample.expect(outcome.value);
      } catch (err) {
        return this.count('FAIL:round-trip', input.bytes, String((err as Error).message).slice(0, 500));
      }
      return this.count('valid', input.bytes);
    }
    try {
      t.checkAccepted?.(outcome.value);
    } catch (err) {
      return this.count('FAIL:accepted', input.bytes, String((err as Error).message).slice(0, 500));
    }
    this.count(category, input.bytes);
  }

  report(target: string, seconds: number): FuzzReport {
    return { target, runs: this.runs, seconds, categories: this.categories, failures: this.failures, maxDecodeMs: this.maxDecodeMs, maxMemoryDelta: this.maxMemoryDelta };
  }
}

/** `runs` generated inputs for `t`, drawn in batches from `seed` (a run replays exactly). */
export async function fuzzTarget(t: FuzzTarget, runs: number, seed: number): Promise<FuzzReport> {
  const started = performance.now();
  const tally = new Tally();
  for (let batch = 0; tally.runs < runs; batch++) {
    for (const input of batchInputs(t, Math.min(BATCH, runs - tally.runs), seed, batch)) await tally.run(t, input);
  }
  return tally.report(t.name, (performance.now() - started) / 1000);
}

/** Every inflated length field over and into every position of `samples` valid encodings. */
export async function inflationSweep(t: FuzzTarget, samples: number, seed: number): Promise<FuzzReport> {
  const started = performance.now();
  const tally = new Tally();
  for (const { bytes } of fc.sample(t.valid, { numRuns: samples, seed })) {
    for (let at = 0; at <= bytes.length; at++) {
      for (let field = 0; field < INFLATED_FIELDS.length; field++) {
        for (const overwrite of [true, false]) {
          await tally.run(t, { kind: 'other', bytes: mutate(bytes, { kind: 'inflate', at, field, overwrite }, bytes) });
        }
      }
    }
  }
  return tally.report(t.name, (performance.now() - started) / 1000);
}

export function failed(r: FuzzReport): number {
  return Object.entries(r.categories).reduce((n, [k, v]) => (k.startsWith('FAIL') ? n + v : n), 0);
}

/** One line per report: counts by category, time, worst decode time and memory growth. */
export function formatReport(r: FuzzReport): string {
  const cats = Object.entries(r.categories)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const rate = Math.round(r.runs / Math.max(r.seconds, 1e-9));
  return `${r.target.padEnd(22)} ${String(r.runs).padStart(9)} inputs ${r.seconds.toFixed(1).padStart(7)} s (${rate}/s) max ${r.maxDecodeMs.toFixed(1)} ms, +${(r.maxMemoryDelta / 1024).toFixed(0)} KiB  ${cats}`;
}
