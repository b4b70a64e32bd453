// Integrity checksums of what Raft stores and ships: SHA-256 from node:crypto (Node has no CRC32C,
// and SHA-256 costs little beside an fsync). The core never imports this: the driver hands it
// `snapshotDigest`, so the core stays free of anything but computation on its inputs.

import { createHash } from 'node:crypto';

/** Bytes of a snapshot digest (SHA-256). */
export const SNAPSHOT_DIGEST_BYTES = 32;

/** SHA-256 of a snapshot's data: taken with the snapshot, checked before it is installed or used. */
export function snapshotDigest(data: Uint8Array): Uint8Array {
  // A plain Uint8Array, like every other byte field of a snapshot (not a Buffer).
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** A digest fed a piece at a time: the same as `snapshotDigest` over the pieces concatenated. */
export interface SnapshotHasher {
  update(piece: Uint8Array): void;
  digest(): Uint8Array;
}

/** SHA-256, incrementally: a snapshot being taken in slices is hashed as it goes. */
export function snapshotHasher(): SnapshotHasher {
  const h = createHash('sha256');
  return {
    update: (piece) => void h.update(piece),
    digest: () => new Uint8Array(h.digest()),
  };
}

/**
 * A hasher for a digest that only takes the whole data (a custom RaftConfig.snapshotDigest): it
 * keeps the pieces and digests them joined at the end. Tests only; production hashes as it goes.
 */
export function wholeDataHasher(digest: (data: Uint8Array) => Uint8Array): SnapshotHasher {
  const pieces: Uint8Array[] = [];
  return {
    update: (piece) => void pieces.push(piece.slice()),
    digest: () => {
      const data = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of pieces) {
        data.set(p, at);
        at += p.length;
      }
      return digest(data);
    },
  };
}

/** SHA-256 over the concatenation of `parts`, truncated to `bytes`. */
export function truncatedSha256(parts: readonly Uint8Array[], bytes: number): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, bytes);
}

/** Byte equality (checksums are not secrets: no constant-time comparison needed). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
