// Mutations of valid encodings, the inputs that reach deep into a decoder (random bytes mostly die
// at the first byte): bit flips, interesting byte values, truncation, deletion, insertion,
// duplication, splices of two encodings, and length fields inflated to sizes no bound allows
// (LEB128 varints and big-endian u16/u32 of 2^16-1 … 2^53-1, written over or into the input).

import fc from 'fast-check';

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'splice'; at: number; from: number }
  | { kind: 'inflate'; at: number; field: number; overwrite: boolean };

function leb128(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

const u32be = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

/** Length fields claiming far more than any input holds: 4 GiB, 2 GiB, 256 MiB, 2^53-1, 64 KiB-1. */
export const INFLATED_FIELDS: readonly Uint8Array[] = [
  leb128(2 ** 32),
  leb128(2 ** 31 - 1),
  leb128(2 ** 28),
  leb128(Number.MAX_SAFE_INTEGER),
  u32be(0xffffffff),
  u32be(0x7fffffff),
  u32be(0x10000000),
  [0xff, 0xff],
].map((b) => Uint8Array.from(b));

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

const at = fc.nat();
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at, bit: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), at, value: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(255)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at, length: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('splice' as const), at, from: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('inflate' as const), at, field: fc.nat(INFLATED_FIELDS.length - 1), overwrite: fc.boolean() }) },
);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

/** `b` with `m` applied (a new array); positions wrap around the input; `other` is a second valid encoding to splice in. */
export function mutate(b: Uint8Array, m: Mutation, other: Uint8Array): Uint8Array {
  const pos = m.at % (b.length + 1);
  switch (m.kind) {
    case 'flip':
    case 'set': {
      if (b.length === 0) return b;
      const out = Uint8Array.from(b); // a copy even of a Buffer, whose slice() is a view
      const i = m.at % b.length;
      out[i] = m.kind === 'flip' ? out[i]! ^ (1 << m.bit) : m.value;
      return out;
    }
    case 'truncate':
      return b.subarray(0, m.at % Math.max(1, b.length));
    case 'delete':
      return concat(b.subarray(0, pos), b.subarray(pos + m.length));
    case 'insert':
      return concat(b.subarray(0, pos), m.bytes, b.subarray(pos));
    case 'duplicate':
      return concat(b.subarray(0, pos + m.length), b.subarray(pos));
    case 'splice':
      return concat(b.subarray(0, pos), other.subarray(m.from % (other.length + 1)));
    case 'inflate': {
      const field = INFLATED_FIELDS[m.field]!;
      return concat(b.subarray(0, pos), field, b.subarray(m.overwrite ? pos + field.length : pos));
    }
  }
}

export function mutateAll(b: Uint8Array, ms: readonly Mutation[], other: Uint8Array): Uint8Array {
  let out = b;
  for (const m of ms) out = mutate(out, m, other);
  return out;
}
