// String conversions shared by the byte writer and reader: exact UTF-8 lengths and strict UTF-8
// decoding (ASCII through Node's native Latin-1 conversion).

import { Buffer } from 'node:buffer';
import { WireError } from './wire-error.js';

/**
 * Node's native Latin-1 conversion. It accepts any Uint8Array as `this`, which spares building a
 * Buffer view per call (as costly as the conversion itself for short strings). Not declared in
 * @types/node, but part of Buffer.prototype in every Node release.
 */
const nativeLatin1 = Buffer.prototype as unknown as {
  latin1Slice(this: Uint8Array, start: number, end: number): string;
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
