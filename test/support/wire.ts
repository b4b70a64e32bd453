// Decoder tests: which WireError code a call ends in.

import { WireError, type WireErrorCode } from '../../src/wire/wire-error.js';

/** The code of the WireError `fn` throws, or NO_ERROR; any other exception propagates. */
export function wireErrorCodeOf(fn: () => unknown): WireErrorCode | 'NO_ERROR' {
  try {
    fn();
  } catch (err) {
    if (err instanceof WireError) return err.code;
    throw err;
  }
  return 'NO_ERROR';
}
