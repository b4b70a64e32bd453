// String conversions shared by the byte writer and reader: exact UTF-8 lengths, strict UTF-8
// decoding, and Latin-1 (one char per byte, how the mailbox keeps message bodies) through Node's
// native conversions.

import { Buffer } from 'node:buffer';
import { WireError } from './wire-error.js';

/**
 * Node's native Latin-1 conversions. They accept any Uint8Array as `this`, which spares building a
 * Buffer view per call (as costly as the conversion itself for short strings). Not declared in
 * @types/node, but part of Buffer.prototype in every Node release.
 */
const nativeLatin1 = Buffer.prototype as unknown as {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
  latin1Write(this: Uint8Array, s: string, offset: number, length: number): number;
};

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
export const utf8Encoder = new TextEncoder();

/** Bytes of `s` in UTF-8. */
export function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/**
 * `b[start, end)` as a string, rejecting invalid UTF-8. ASCII (the common case) is the same in
 * Latin-1, whose native conversion is the fastest way to a flat string; building short strings
 * char by char measured faster in isolation but slower over a snapshot restore (garbage).
 */
export function decodeUtf8(b: Uint8Array, start: number, end: number, what: string): string {
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) return decodeNonAscii(b, start, end, what);
  return nativeLatin1.latin1Slice.call(b, start, end);
}

function decodeNonAscii(b: Uint8Array, start: number, end: number, what: string): string {
  try {
    return utf8Strict.decode(b.subarray(start, end));
  } catch {
    throw new WireError('BAD_UTF8', `${what}: invalid UTF-8`);
  }
}

/** `b[start, end)` as a Latin-1 string: char i is byte i. */
export function latin1Slice(b: Uint8Array, start: number, end: number): string {
  return nativeLatin1.latin1Slice.call(b, start, end);
}

/** Writes Latin-1 string `s` into `b` at `offset` (the caller made room for s.length bytes). */
export function latin1Write(b: Uint8Array, s: string, offset: number): void {
  nativeLatin1.latin1Write.call(b, s, offset, s.length);
}

/** Bytes as a Latin-1 string: char i is byte i. */
export function latin1FromBytes(b: Uint8Array): string {
  return nativeLatin1.latin1Slice.call(b, 0, b.length);
}

/** A Latin-1 string back to bytes, in a fresh allocation of its own. */
export function latin1ToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  nativeLatin1.latin1Write.call(out, s, 0, s.length);
  return out;
}
