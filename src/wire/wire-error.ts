// The one error of the byte toolkit and every format built on it (Raft messages and records, the
// mailbox commands and snapshot, the cluster state image, the transport handshake). A decoder
// throws it for input it will not accept, an encoder for a value its format cannot carry; the
// code says which rule was broken, so callers map it without parsing messages.

export type WireErrorCode =
  /** The input ends inside a field. */
  | 'TRUNCATED'
  /** Bytes are left after the end of the record. */
  | 'TRAILING_BYTES'
  /** An unknown type, op, kind or flag value. */
  | 'UNKNOWN_TAG'
  /** A format version (or magic) this code does not read. */
  | 'BAD_VERSION'
  /** An integer out of range, not in shortest form, or not an integer where one is required. */
  | 'BAD_INTEGER'
  /** A boolean byte other than 0 or 1. */
  | 'BAD_BOOLEAN'
  | 'BAD_UTF8'
  /** A length or count over its bound or over the bytes present. */
  | 'TOO_LARGE'
  /** Well-formed bytes carrying a value the format forbids (order, duplicates, syntax). */
  | 'INVALID';

export class WireError extends Error {
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WireError';
  }
}
