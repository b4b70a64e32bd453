// The malloc every forge-mailbox node process runs with, whichever launcher starts it
// (bin/forge-mailbox, which the images and operators use, does the same lookup in bash and a test
// holds the two together; the local cluster and the test clusters spawn with nodeAllocatorEnv).
//
// jemalloc, preloaded, when the system has it (Debian's and Ubuntu's libjemalloc2; the image
// installs it). Why: glibc's malloc keeps what a node frees in its main arena, fragmented among
// small live allocations (LevelDB's blocks and memtables, TLS and WebSocket buffers, the Zenoh
// client's): at 3,000,000 queued messages a follower's native memory (RSS less V8's heap and
// external memory) was 214-286 MiB, of which malloc_trim(0) gave back 80-120 MiB at once. With
// jemalloc, in the same bench alternated with glibc (docs/performance.md, 2026-12-06): followers
// 120-183 MiB, the leader 220-253 against 240-374, RSS 80-140 MiB lower per node, throughput
// unchanged.
//
// FORGE_ALLOCATOR chooses: `auto` (the default) preloads jemalloc if found and runs on the
// system's malloc otherwise; `jemalloc` refuses to start without it; `system` never preloads it.

import { existsSync } from 'node:fs';

/** Where Debian, Ubuntu and the usual RPM layouts put jemalloc 5 (the `for candidate in` list of bin/forge-mailbox). */
export const JEMALLOC_CANDIDATES: readonly string[] = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
];

export const ALLOCATOR_CHOICES = ['auto', 'jemalloc', 'system'] as const;

/**
 * `env` for a node process, with jemalloc preloaded as `choice` (FORGE_ALLOCATOR) says. Throws on
 * an unknown choice, and on `jemalloc` when no candidate exists. An LD_PRELOAD already naming
 * jemalloc is kept as it is; any other is kept after it.
 */
export function nodeAllocatorEnv(env: NodeJS.ProcessEnv, choice: string | undefined, exists: (path: string) => boolean = existsSync): NodeJS.ProcessEnv {
  const wanted = choice === undefined || choice === '' ? 'auto' : choice;
  if (!(ALLOCATOR_CHOICES as readonly string[]).includes(wanted)) {
    throw new Error(`FORGE_ALLOCATOR must be one of ${ALLOCATOR_CHOICES.join(', ')}, got '${wanted}'`);
  }
  if (wanted === 'system') return env;
  const lib = JEMALLOC_CANDIDATES.find((path) => exists(path));
  if (lib === undefined) {
    if (wanted === 'jemalloc') throw new Error(`FORGE_ALLOCATOR=jemalloc, but none of ${JEMALLOC_CANDIDATES.join(', ')} exists (Debian: apt-get install libjemalloc2)`);
    return env;
  }
  const preload = env.LD_PRELOAD ?? '';
  if (preload.includes('libjemalloc')) return env;
  return { ...env, LD_PRELOAD: preload === '' ? lib : `${lib}:${preload}` };
}

/** The malloc this process runs with, as its memory map shows: 'jemalloc', 'system', or 'unknown' off Linux. */
export function runningAllocator(maps: () => string): 'jemalloc' | 'system' | 'unknown' {
  let text: string;
  try {
    text = maps();
  } catch {
    return 'unknown';
  }
  return text.includes('libjemalloc') ? 'jemalloc' : 'system';
}
