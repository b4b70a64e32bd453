// Bodies are held as Latin-1 strings: one char per byte, bijective for 0..255, and a string is a
// single compact heap object, where a Uint8Array per message costs a typed array, an ArrayBuffer
// and a separately allocated backing store. Conversions happen only at put and at delivery.

import { Buffer } from 'node:buffer';

export function bodyToString(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
}

/** A fresh Uint8Array of its own (never a slice of a pooled slab). */
export function bodyToBytes(body: string): Uint8Array {
  const out = new Uint8Array(body.length);
  Buffer.from(out.buffer, 0, out.byteLength).write(body, 0, 'latin1');
  return out;
}
