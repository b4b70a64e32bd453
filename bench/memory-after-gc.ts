// Memory figures after a full collection, for the benches that measure what holding something
// costs (run them with node --expose-gc).

const gc = (globalThis as { gc?: () => void }).gc;

/** process.memoryUsage() after two full collections (the second takes what the first's finalizers let go). */
export function memoryAfterGc(): NodeJS.MemoryUsage {
  if (gc === undefined) throw new Error('run with node --expose-gc');
  gc();
  gc();
  return process.memoryUsage();
}
