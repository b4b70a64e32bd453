// Heap per remembered put id and per remembered consume result, as a replica holds them: each
// command is applied encoded, through MailboxStateMachine as a log entry is (so its user and
// principal are strings of their own, as on a node), bodies go to a FileBodyStore, and everything stays within
// the dedupe window. Three phases of 200,000 commands over 1,000 mailboxes, a full GC after each:
// puts without ids (the baseline: a queued message's own cost), puts with UUID ids, then consumes
// of empty mailboxes with UUID request ids (the pollers' case). A script that prints, not a test.
//   node --expose-gc --import tsx bench/id-table-bench.ts

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCommand } from '../src/mailbox/codec.js';
import type { MailboxCommand } from '../src/mailbox/commands.js';
import { MailboxStateMachine } from '../src/mailbox/replicated.js';
import { FileBodyStore } from '../src/node/file-body-store.js';
import { memoryAfterGc } from './memory-after-gc.js';

const N = 200_000;
const USERS = 1_000;
const dir = mkdtempSync(join(tmpdir(), 'forge-id-bench-'));
try {
  const sm = new MailboxStateMachine(
    { dedupeMaxEntries: 2 * N, requestCacheMaxEntries: 2 * N, maxMessagesPerMailbox: 10 * N },
    FileBodyStore.open(join(dir, 'bodies')),
  );
  const body = new Uint8Array(100);
  let index = 0;
  const apply = (cmd: MailboxCommand): void => {
    index++;
    sm.apply(encodeCommand(cmd), { index, term: 1, time: 1_700_000_000_000 + index });
  };
  const phase = (make: (i: number) => MailboxCommand): number => {
    const before = memoryAfterGc().heapUsed;
    for (let i = 0; i < N; i++) apply(make(i));
    return (memoryAfterGc().heapUsed - before) / N;
  };
  const plain = phase((i) => ({ op: 'put', user: `user-${i % USERS}`, body, principal: 'svc-notifier' }));
  const withIds = phase((i) => ({ op: 'put', user: `user-${i % USERS}`, body, id: randomUUID(), principal: 'svc-notifier' }));
  const consumes = phase((i) => ({ op: 'consume', user: `idle-${i % USERS}`, requestId: randomUUID(), principal: 'app-reader' }));
  console.log(
    `node ${process.version}, heap per command: put without id ${plain.toFixed(1)} B, put with a UUID id ${withIds.toFixed(1)} B ` +
      `(the remembered id: ${(withIds - plain).toFixed(1)} B), empty consume with a UUID request id (its remembered result) ${consumes.toFixed(1)} B`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
