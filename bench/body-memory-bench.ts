// Memory per queued message, by body store: 1,000,000 puts of 100-byte bodies over 1,000 users
// into one Mailbox, then a full GC, and the growth of heapUsed, external (array buffers) and RSS
// over the messages. One store per process, so that the figures do not mix:
//   node --expose-gc --import tsx bench/body-memory-bench.ts memory   (bodies in a MemoryBodyStore)
//   node --expose-gc --import tsx bench/body-memory-bench.ts file     (bodies in a FileBodyStore in a temp dir)
// then, after the store, optionally:
//   --users N   spread the puts over N mailboxes (1000000: a million mailboxes of one message each)
//   --ids       every put carries a client id (`put-<i>`), all of them still in the put id table
//   --uuids     every put carries a random UUID, as the clients' puts do, and the puts are a second
//               apart, so that the put id table holds only the last 10 minutes' ids (600): what is
//               left is the queue's own cost of an id, as in a backlog older than the dedupe window
// A script that prints, not a test.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BodyStore, MemoryBodyStore } from '../src/mailbox/body-store.js';
import { Mailbox } from '../src/mailbox/mailbox.js';
import { FileBodyStore } from '../src/node/file-body-store.js';
import { arg, flag, wholeNumber } from './cli-args.js';
import { memoryAfterGc } from './memory-after-gc.js';

const BODY_BYTES = 100;
const USERS = wholeNumber('users', arg('users', '1000'), 1);
const UUIDS = flag('uuids');
const WITH_IDS = flag('ids') || UUIDS;
// The puts' spacing in log time: a second apart with --uuids, so that their ids leave the dedupe window.
const PUT_SPACING_MS = UUIDS ? 1000 : 1;
const QUEUED = 1_000_000;
// With ids, the put id table must hold them all (they stay in their dedupe window throughout).
const benchOptions = { maxMessagesPerMailbox: 10_000_000, maxBytesPerMailbox: 4 * 1024 * 1024 * 1024, dedupeMaxEntries: 2 * QUEUED };

const kind = process.argv[2];
const dir = kind === 'file' ? mkdtempSync(join(tmpdir(), 'forge-body-bench-')) : null;
try {
  const store: BodyStore = dir !== null ? FileBodyStore.open(join(dir, 'bodies')) : kind === 'memory' ? new MemoryBodyStore() : usageError();
  const names = Array.from({ length: USERS }, (_, i) => `user-${i}`);
  const before = memoryAfterGc();
  const m = new Mailbox(benchOptions, store);
  const t0 = performance.now();
  for (let i = 0; i < QUEUED; i++) {
    // Each body a fresh allocation, as a decoded log entry's would be.
    const body = new Uint8Array(BODY_BYTES).fill(i & 0xff);
    const id = UUIDS ? randomUUID() : WITH_IDS ? `put-${i}` : undefined;
    m.apply({ op: 'put', user: names[i % USERS]!, body, id }, { index: i + 1, term: 1, time: 1_700_000_000_000 + i * PUT_SPACING_MS });
  }
  const fillMs = performance.now() - t0;
  const after = memoryAfterGc();
  const per = (k: 'heapUsed' | 'external' | 'arrayBuffers' | 'rss') => ((after[k] - before[k]) / QUEUED).toFixed(1);
  const t1 = performance.now();
  const snapshot = m.snapshot();
  const snapMs = performance.now() - t1;
  console.log(
    `${kind} store, node ${process.version}, load ${loadavg()[0]!.toFixed(2)}: ${QUEUED.toLocaleString('en-US')} queued ${BODY_BYTES}-byte messages over ${USERS.toLocaleString('en-US')} mailboxes${UUIDS ? ', each with a UUID (out of the dedupe window)' : WITH_IDS ? ', each with a client id' : ''}, ` +
      `filled in ${fillMs.toFixed(0)} ms; per message: heapUsed ${per('heapUsed')} B, external ${per('external')} B (arrayBuffers ${per('arrayBuffers')} B), RSS ${per('rss')} B; ` +
      `store ${JSON.stringify(m.bodyUsage())}; snapshot ${(snapshot.length / 1048576).toFixed(1)} MiB written in ${snapMs.toFixed(0)} ms`,
  );
} finally {
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
}


function usageError(): never {
  throw new Error('usage: body-memory-bench.ts memory|file');
}
