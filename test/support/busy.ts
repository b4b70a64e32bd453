/** Holds the CPU for `ms`: the work of a slow apply, image piece, reply or message, as tests of the event loop need it. */
export function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}
