import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { MailboxCommand } from '../../src/mailbox/commands.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { StoredMessage } from '../../src/mailbox/seq-queue.js';
import { rememberedKey, UserBox } from '../../src/mailbox/state.js';
import { fullGc, heapUsedAfterGc } from '../support/heap.js';

test('remembered keys name user, principal and token apart', () => {
  assert.equal(rememberedKey('u', 'p', 't'), 'u\u0000p\u0000t');
  assert.notEqual(rememberedKey('ab', '', 'c'), rememberedKey('a', 'b', 'c'));
});

test('a remembered key costs one flat string, not a tree of its parts (one per put with an id, and all its entry keeps of them)', () => {
  const gc = fullGc();
  const N = 100_000;
  // The parts are held apart (by this array), so that only the keys count here.
  const parts = Array.from({ length: N }, (_, i) => [`scale-u${i % 1000}`.padEnd(12, '.'), 'operator', `message-${i}`] as const);
  gc();
  const before = process.memoryUsage().heapUsed;
  const keys = parts.map(([u, p, t]) => rememberedKey(u, p, t));
  gc();
  const perKey = (process.memoryUsage().heapUsed - before) / N;
  // 12 + 1 + 8 + 1 + 14 = 36 characters: a flat one-byte string is 12 + 36 bytes, rounded to 48,
  // plus 4 for its slot in `keys`; as a tree of three joins it is 60 bytes more.
  assert.ok(perKey < 80, `${perKey.toFixed(0)} bytes per key (${keys.length})`);
});

test("a mailbox of one message is one object with its columns, not a box holding a queue: under 256 heap bytes (240 with its slot in the test's array; a queue of its own made it 272)", () => {
  const N = 100_000;
  // The names are held anyway (by the state's map): only the mailboxes count here.
  const names = Array.from({ length: N }, (_, i) => `user${i}`);
  const before = heapUsedAfterGc();
  const boxes = names.map((name, i) => {
    const box = new UserBox(name);
    box.queue.push(new StoredMessage(i + 1, 36, i * 136, 100, 1.7e12 + i, 1.8e12 + i, 0));
    box.minExpiry = 1.8e12 + i;
    return box;
  });
  const perBox = (heapUsedAfterGc() - before) / N;
  assert.ok(perBox < 256, `${perBox.toFixed(1)} B per mailbox of one message`);
  assert.equal(boxes.reduce((n, box) => n + box.held, 0), N);
});

test('a remembered put id costs under 220 heap bytes with a UUID, an empty consume result under 250, as a replica decodes them (the three parts kept apart besides the key made them 266-290 and 304-328)', () => {
  const N = 50_000;
  const sm = new MailboxStateMachine({ dedupeMaxEntries: 2 * N, requestCacheMaxEntries: 2 * N, maxMessagesPerMailbox: 10 * N });
  const body = new Uint8Array(100);
  let index = 0;
  // Applied encoded, as a log entry is: user and principal are decoded, strings of their own.
  const apply = (cmd: MailboxCommand): void => {
    index++;
    sm.apply(encodeCommand(cmd), { index, term: 1, time: 1_700_000_000_000 + index });
  };
  const perCommand = (make: (i: number) => MailboxCommand): number => {
    const before = heapUsedAfterGc();
    for (let i = 0; i < N; i++) apply(make(i));
    return (heapUsedAfterGc() - before) / N;
  };
  const plain = perCommand((i) => ({ op: 'put', user: `user-${i % 100}`, body, principal: 'svc-notifier' }));
  const withIds = perCommand((i) => ({ op: 'put', user: `user-${i % 100}`, body, id: randomUUID(), principal: 'svc-notifier' }));
  const consumes = perCommand((i) => ({ op: 'consume', user: `idle-${i % 100}`, requestId: randomUUID(), principal: 'app-reader' }));
  assert.ok(withIds - plain < 220, `${(withIds - plain).toFixed(1)} B per remembered put id`);
  assert.ok(consumes < 250, `${consumes.toFixed(1)} B per remembered empty consume result`);
  const totals = sm.mailbox.totals(0);
  assert.deepEqual([totals.messages, totals.putIds, totals.consumeResults], [2 * N, N, N]);
});
