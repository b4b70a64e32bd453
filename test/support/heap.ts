// Heap measurements for the tests that bound what a structure costs: the suite does not run with
// --expose-gc, so a full collection is had through V8's flag at run time.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A full collection on demand. */
export function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** V8 heap used after two full collections (the second takes what the first's finalizers let go). */
export function heapUsedAfterGc(): number {
  const gc = fullGc();
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
