// The snapshot image's exact bytes and its refusal of damaged fields: snapshots are stored on disk and sent between nodes of
// different versions, so a refactor must leave every byte as it is (a change of format bumps
// SNAPSHOT_VERSION instead).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { MailboxCommand } from '../../src/mailbox/commands.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { DEFAULT_QUOTAS, QUOTA_CEILINGS, QUOTA_NAMES } from '../../src/mailbox/quotas.js';
import { snapshotSize } from '../../src/mailbox/snapshot.js';
import { WireError, type WireErrorCode } from '../../src/wire/wire-error.js';
import { rememberedParts } from '../../src/mailbox/state.js';

const T = 1_700_000_000_000;

/**
 * Version 1 (before principals and receipt nonces): queued, leased and dead-lettered messages,
 * remembered put ids, cached consume results (leased, plain, empty), non-ASCII ids and bodies.
 */
const scriptV1: MailboxCommand[] = [
  { op: 'put', user: 'ann', body: Uint8Array.from([1, 2, 0x80, 0xff]), id: 'm1', ttlMs: 60000 },
  { op: 'put', user: 'ann', body: new TextEncoder().encode('hello') },
  { op: 'put', user: 'bo', body: new Uint8Array(0), id: 'idé' },
  { op: 'put', user: 'dee', body: Uint8Array.from([9, 9]) },
  { op: 'consume', user: 'ann', leaseMs: 1000, requestId: 'q1' },
  { op: 'consume', user: 'bo', requestId: 'q2' },
  { op: 'consume', user: 'cy', requestId: 'q3' },
  { op: 'consume', user: 'dee', leaseMs: 10 },
  { op: 'nack', user: 'dee', receipt: '4.1' },
  { op: 'consume', user: 'dee', leaseMs: 10 },
  { op: 'nack', user: 'dee', receipt: '4.2' },
];

const GOLDEN_V1 =
  'Rk1CWAEAAKCAVv68eEIAAAAAAAAQQAIAAAADAGFubgEAAAAAAAAAAAAAQAAAEIBW/rx4QgAQQLxQvXhCAAAAAAUAAABoZWxsbwAAAAABAAAAAMC+Vv68eEIAAAAAAADwPwECAG0xAACAVv68eEIAACZl/rx4QgEAAAAEAAAAAQKA/wMAZGVlAAAAAAEAAAAAAAAAAAAQQAAAMIBW/rx4QgAwQLxQvXhCAgAAAAIAAAAJCQAAAAACAAAAAwBhbm4CAG0xAAAAAAAA8D8AAPzo/rx4QgIAYm8EAGlkw6kAAAAAAAAIQAAg/Oj+vHhCAwAAAAMAYW5uAgBxMQBA/Oj+vHhCAQICAG0xAAAAAAAA8D8EAAAAAQKA/wAAgFb+vHhCAAAmZf68eEIBAAAAAQMAMS4xAMC+Vv68eEICAGJvAgBxMgBQ/Oj+vHhCAQIEAGlkw6kAAAAAAAAIQAAAAAAAIIBW/rx4QgAgQLxQvXhCAQAAAAACAGN5AgBxMwBg/Oj+vHhCAQM=';

/** The version-1 script's state plus what version 2 adds: principals on remembered ids, receipt nonces on leases. */
const NONCE = 'AAECAwQFBgcICQoL';
const scriptV2: MailboxCommand[] = [
  ...scriptV1,
  { op: 'put', user: 'ann', body: Uint8Array.from([3]), id: 'm1', principal: 'alice-app' },
  { op: 'put', user: 'eve', body: Uint8Array.from([4, 5]), id: 'm1', principal: 'svc' },
  { op: 'consume', user: 'eve', leaseMs: 1000, requestId: 'q1', principal: 'bob', receiptNonce: NONCE },
];

const GOLDEN_V2 =
  'Rk1CWAIAANCAVv68eEIAAAAAAAAYQAMAAAADAGFubgIAAAAAAAAAAAAAQAAAEIBW/rx4QgAQQLxQvXhCAAAAAAUAAABoZWxsbwAAAAAAABRAAQIAbTEAsIBW/rx4QgCwQLxQvXhCAAAAAAEAAAADAAAAAAEAAAAAwL5W/rx4QgAAAAAAAAAA8D8BAgBtMQAAgFb+vHhCAAAmZf68eEIBAAAABAAAAAECgP8DAGRlZQAAAAABAAAAAAAAAAAAEEAAADCAVv68eEIAMEC8UL14QgIAAAACAAAACQkAAAAAAwBldmUAAAAAAAAAAAEAAAAAUL9W/rx4QhAAQUFFQ0F3UUZCZ2NJQ1FvTAAAAAAAABhAAQIAbTEAwIBW/rx4QgDAQLxQvXhCAQAAAAIAAAAEBQQAAAADAGFubgAAAgBtMQAAAAAAAPA/AAD86P68eEICAGJvAAAEAGlkw6kAAAAAAAAIQAAg/Oj+vHhCAwBhbm4JAGFsaWNlLWFwcAIAbTEAAAAAAAAUQACw/Oj+vHhCAwBldmUDAHN2YwIAbTEAAAAAAAAYQADA/Oj+vHhCBAAAAAMAYW5uAAACAHExAED86P68eEIBAgIAbTEAAAAAAADwPwQAAAABAoD/AACAVv68eEIAACZl/rx4QgEAAAABAwAxLjEAwL5W/rx4QgIAYm8AAAIAcTIAUPzo/rx4QgECBABpZMOpAAAAAAAACEAAAAAAACCAVv68eEIAIEC8UL14QgEAAAAAAgBjeQAAAgBxMwBg/Oj+vHhCAQMDAGV2ZQMAYm9iAgBxMQDQ/Oj+vHhCAQICAG0xAAAAAAAAGEACAAAABAUAwIBW/rx4QgDAQLxQvXhCAQAAAAEUADYuMS5BQUVDQXdRRkJnY0lDUW9MAFC/Vv68eEI=';

/** The version-2 script's state plus what version 3 adds: the cluster quotas. */
const scriptV3: MailboxCommand[] = [...scriptV2, { op: 'setQuotas', maxMessages: 1000, maxMailboxes: 50 }];

const GOLDEN_V3 =
  'Rk1CWAMAAOCAVv68eEIAAAAAAAAYQAAAAAAAQI9AAAAAAAAA0EEAAAAAAABJQAMAAAADAGFubgIAAAAAAAAAAAAAQAAAEIBW/rx4QgAQQLxQvXhCAAAAAAUAAABoZWxsbwAAAAAAABRAAQIAbTEAsIBW/rx4QgCwQLxQvXhCAAAAAAEAAAADAAAAAAEAAAAAwL5W/rx4QgAAAAAAAAAA8D8BAgBtMQAAgFb+vHhCAAAmZf68eEIBAAAABAAAAAECgP8DAGRlZQAAAAABAAAAAAAAAAAAEEAAADCAVv68eEIAMEC8UL14QgIAAAACAAAACQkAAAAAAwBldmUAAAAAAAAAAAEAAAAAUL9W/rx4QhAAQUFFQ0F3UUZCZ2NJQ1FvTAAAAAAAABhAAQIAbTEAwIBW/rx4QgDAQLxQvXhCAQAAAAIAAAAEBQQAAAADAGFubgAAAgBtMQAAAAAAAPA/AAD86P68eEICAGJvAAAEAGlkw6kAAAAAAAAIQAAg/Oj+vHhCAwBhbm4JAGFsaWNlLWFwcAIAbTEAAAAAAAAUQACw/Oj+vHhCAwBldmUDAHN2YwIAbTEAAAAAAAAYQADA/Oj+vHhCBAAAAAMAYW5uAAACAHExAED86P68eEIBAgIAbTEAAAAAAADwPwQAAAABAoD/AACAVv68eEIAACZl/rx4QgEAAAABAwAxLjEAwL5W/rx4QgIAYm8AAAIAcTIAUPzo/rx4QgECBABpZMOpAAAAAAAACEAAAAAAACCAVv68eEIAIEC8UL14QgEAAAAAAgBjeQAAAgBxMwBg/Oj+vHhCAQMDAGV2ZQMAYm9iAgBxMQDQ/Oj+vHhCAQICAG0xAAAAAAAAGEACAAAABAUAwIBW/rx4QgDAQLxQvXhCAQAAAAEUADYuMS5BQUVDQXdRRkJnY0lDUW9MAFC/Vv68eEI=';

/**
 * The version-3 script's state plus what version 4 adds: delayed messages (a delayed put, a nack
 * with a delay), each with its visible time, in visible-time order; and a remembered batch
 * consume (result kind 4, which came within version 3: no older golden image holds one).
 */
const scriptV4: MailboxCommand[] = [
  ...scriptV3,
  { op: 'put', user: 'fay', body: Uint8Array.from([7]), delayMs: 5000 },
  { op: 'put', user: 'fay', body: Uint8Array.from([8]) },
  { op: 'consume', user: 'fay', leaseMs: 1000, receiptNonce: NONCE },
  { op: 'nack', user: 'fay', receipt: `8.1.${NONCE}`, delayMs: 2000 },
  { op: 'putBatch', user: 'gus', messages: [{ body: Uint8Array.from([1]), id: 'b1' }, { body: Uint8Array.from([2]), id: 'b2', ttlMs: 30000 }, { body: Uint8Array.from([3]), id: 'b3' }] },
  { op: 'consume', user: 'gus', requestId: 'qb', leaseMs: 1000, max: 2, receiptNonce: NONCE },
];

const GOLDEN_V4 =
  'Rk1CWAQAAECBVv68eEIAAAAAAAAmQAAAAAAAQI9AAAAAAAAA0EEAAAAAAABJQAUAAAADAGFubgIAAAAAAAAAAAAAQAAAEIBW/rx4QgAQQLxQvXhCAAAAAAUAAABoZWxsbwAAAAAAABRAAQIAbTEAsIBW/rx4QgCwQLxQvXhCAAAAAAEAAAADAAAAAAEAAAAAwL5W/rx4QgAAAAAAAAAA8D8BAgBtMQAAgFb+vHhCAAAmZf68eEIBAAAABAAAAAECgP8AAAAAAwBkZWUAAAAAAQAAAAAAAAAAABBAAAAwgFb+vHhCADBAvFC9eEICAAAAAgAAAAkJAAAAAAAAAAADAGV2ZQAAAAAAAAAAAQAAAABQv1b+vHhCEABBQUVDQXdRRkJnY0lDUW9MAAAAAAAAGEABAgBtMQDAgFb+vHhCAMBAvFC9eEIBAAAAAgAAAAQFAAAAAAMAZmF5AAAAAAAAAAAAAAAAAgAAAAAg/lb+vHhCAAAAAAAAIEAAAACBVv68eEIAAEG8UL14QgEAAAABAAAACABwuVf+vHhCAAAAAAAAHEAAAPCAVv68eEIA8EC8UL14QgAAAAABAAAABwMAZ3VzAQAAAAAAAAAAACZAAQIAYjMAMIFW/rx4QgAwQbxQvXhCAAAAAAEAAAADAAAAAAIAAAAAwL9W/rx4QhAAQUFFQ0F3UUZCZ2NJQ1FvTAAAAAAAACJAAQIAYjEAMIFW/rx4QgAwQbxQvXhCAQAAAAEAAAABAMC/Vv68eEIQAEFBRUNBd1FGQmdjSUNRb0wAAAAAAAAkQAECAGIyADCBVv68eEIAMNRd/rx4QgEAAAABAAAAAgAAAAAHAAAAAwBhbm4AAAIAbTEAAAAAAADwPwAA/Oj+vHhCAgBibwAABABpZMOpAAAAAAAACEAAIPzo/rx4QgMAYW5uCQBhbGljZS1hcHACAG0xAAAAAAAAFEAAsPzo/rx4QgMAZXZlAwBzdmMCAG0xAAAAAAAAGEAAwPzo/rx4QgMAZ3VzAAACAGIxAAAAAAAAIkAAMP3o/rx4QgMAZ3VzAAACAGIyAAAAAAAAJEAAMP3o/rx4QgMAZ3VzAAACAGIzAAAAAAAAJkAAMP3o/rx4QgUAAAADAGFubgAAAgBxMQBA/Oj+vHhCAQICAG0xAAAAAAAA8D8EAAAAAQKA/wAAgFb+vHhCAAAmZf68eEIBAAAAAQMAMS4xAMC+Vv68eEICAGJvAAACAHEyAFD86P68eEIBAgQAaWTDqQAAAAAAAAhAAAAAAAAggFb+vHhCACBAvFC9eEIBAAAAAAIAY3kAAAIAcTMAYPzo/rx4QgEDAwBldmUDAGJvYgIAcTEA0Pzo/rx4QgECAgBtMQAAAAAAABhAAgAAAAQFAMCAVv68eEIAwEC8UL14QgEAAAABFAA2LjEuQUFFQ0F3UUZCZ2NJQ1FvTABQv1b+vHhCAwBndXMAAAIAcWIAQP3o/rx4QgEEAgACAGIxAAAAAAAAIkABAAAAAQAwgVb+vHhCADBBvFC9eEIBAAAAARQAOS4xLkFBRUNBd1FGQmdjSUNRb0wAwL9W/rx4QgIAYjIAAAAAAAAkQAEAAAACADCBVv68eEIAMNRd/rx4QgEAAAABFQAxMC4xLkFBRUNBd1FGQmdjSUNRb0wAwL9W/rx4Qg==';

/** The version-4 script's state plus what version 5 adds: the id tables' quotas. */
const script: MailboxCommand[] = [...scriptV4, { op: 'setQuotas', maxPutIds: 500_000, maxConsumeResults: 250_000 }];

const GOLDEN =
  'Rk1CWAUAAFCBVv68eEIAAAAAAAAmQAAAAAAAQI9AAAAAAAAA0EEAAAAAAABJQAAAAACAhB5BAAAAAICEDkEFAAAAAwBhbm4CAAAAAAAAAAAAAEAAABCAVv68eEIAEEC8UL14QgAAAAAFAAAAaGVsbG8AAAAAAAAUQAECAG0xALCAVv68eEIAsEC8UL14QgAAAAABAAAAAwAAAAABAAAAAMC+Vv68eEIAAAAAAAAAAPA/AQIAbTEAAIBW/rx4QgAAJmX+vHhCAQAAAAQAAAABAoD/AAAAAAMAZGVlAAAAAAEAAAAAAAAAAAAQQAAAMIBW/rx4QgAwQLxQvXhCAgAAAAIAAAAJCQAAAAAAAAAAAwBldmUAAAAAAAAAAAEAAAAAUL9W/rx4QhAAQUFFQ0F3UUZCZ2NJQ1FvTAAAAAAAABhAAQIAbTEAwIBW/rx4QgDAQLxQvXhCAQAAAAIAAAAEBQAAAAADAGZheQAAAAAAAAAAAAAAAAIAAAAAIP5W/rx4QgAAAAAAACBAAAAAgVb+vHhCAABBvFC9eEIBAAAAAQAAAAgAcLlX/rx4QgAAAAAAABxAAADwgFb+vHhCAPBAvFC9eEIAAAAAAQAAAAcDAGd1cwEAAAAAAAAAAAAmQAECAGIzADCBVv68eEIAMEG8UL14QgAAAAABAAAAAwAAAAACAAAAAMC/Vv68eEIQAEFBRUNBd1FGQmdjSUNRb0wAAAAAAAAiQAECAGIxADCBVv68eEIAMEG8UL14QgEAAAABAAAAAQDAv1b+vHhCEABBQUVDQXdRRkJnY0lDUW9MAAAAAAAAJEABAgBiMgAwgVb+vHhCADDUXf68eEIBAAAAAQAAAAIAAAAABwAAAAMAYW5uAAACAG0xAAAAAAAA8D8AAPzo/rx4QgIAYm8AAAQAaWTDqQAAAAAAAAhAACD86P68eEIDAGFubgkAYWxpY2UtYXBwAgBtMQAAAAAAABRAALD86P68eEIDAGV2ZQMAc3ZjAgBtMQAAAAAAABhAAMD86P68eEIDAGd1cwAAAgBiMQAAAAAAACJAADD96P68eEIDAGd1cwAAAgBiMgAAAAAAACRAADD96P68eEIDAGd1cwAAAgBiMwAAAAAAACZAADD96P68eEIFAAAAAwBhbm4AAAIAcTEAQPzo/rx4QgECAgBtMQAAAAAAAPA/BAAAAAECgP8AAIBW/rx4QgAAJmX+vHhCAQAAAAEDADEuMQDAvlb+vHhCAgBibwAAAgBxMgBQ/Oj+vHhCAQIEAGlkw6kAAAAAAAAIQAAAAAAAIIBW/rx4QgAgQLxQvXhCAQAAAAACAGN5AAACAHEzAGD86P68eEIBAwMAZXZlAwBib2ICAHExAND86P68eEIBAgIAbTEAAAAAAAAYQAIAAAAEBQDAgFb+vHhCAMBAvFC9eEIBAAAAARQANi4xLkFBRUNBd1FGQmdjSUNRb0wAUL9W/rx4QgMAZ3VzAAACAHFiAED96P68eEIBBAIAAgBiMQAAAAAAACJAAQAAAAEAMIFW/rx4QgAwQbxQvXhCAQAAAAEUADkuMS5BQUVDQXdRRkJnY0lDUW9MAMC/Vv68eEICAGIyAAAAAAAAJEABAAAAAgAwgVb+vHhCADDUXf68eEIBAAAAARUAMTAuMS5BQUVDQXdRRkJnY0lDUW9MAMC/Vv68eEI=';

function applied(commands: MailboxCommand[]): MailboxStateMachine {
  const sm = new MailboxStateMachine({ maxDeliveries: 2 });
  commands.forEach((cmd, i) => sm.apply(encodeCommand(cmd), { index: i + 1, term: 1, time: T + i }));
  return sm;
}

test('golden bytes: a snapshot holding every kind of state encodes exactly as before, and restores to the same bytes', () => {
  const sm = applied(script);
  const state = sm.mailbox.state;
  assert.deepEqual(
    [...state.users].map(([n, b]) => [n, b.queue.size, b.dead?.size ?? 0, [...(b.leases?.keys() ?? [])]]),
    [['ann', 2, 0, ['1.1']], ['dee', 0, 1, []], ['eve', 0, 0, [`6.1.${NONCE}`]], ['fay', 0, 0, []], ['gus', 1, 0, [`9.1.${NONCE}`, `10.1.${NONCE}`]]],
  );
  assert.deepEqual(
    [...(state.users.get('fay')!.delayed ?? [])].map((d) => [d.msg.seq, d.visibleAt]),
    [[8, T + 18 + 2000], [7, T + 15 + 5000]],
  );
  assert.deepEqual([...state.puts.values()].map((p) => rememberedParts(p.key).join('/')), ['ann//m1', 'bo//idé', 'ann/alice-app/m1', 'eve/svc/m1', 'gus//b1', 'gus//b2', 'gus//b3']);
  assert.deepEqual([...state.consumes.values()].map((c) => `${rememberedParts(c.key)[0]}/${rememberedParts(c.key)[2]}:${c.result.kind}`), ['ann/q1:message', 'bo/q2:message', 'cy/q3:empty', 'eve/q1:message', 'gus/qb:messages']);
  const image = sm.snapshot();
  assert.equal(Buffer.from(image).toString('base64'), GOLDEN);
  assert.equal(snapshotSize(state), image.length);
  const copy = new MailboxStateMachine({ maxDeliveries: 2 });
  copy.restore(Buffer.from(GOLDEN, 'base64'));
  assert.equal(Buffer.from(copy.snapshot()).toString('base64'), GOLDEN);
});

test('golden bytes: a version-1 image restores to the state its script makes today: anonymous ids, receipts without nonce', () => {
  const copy = new MailboxStateMachine({ maxDeliveries: 2 });
  copy.restore(Buffer.from(GOLDEN_V1, 'base64'));
  assert.deepEqual(copy.snapshot(), applied(scriptV1).snapshot());
  const meta = { index: 100, term: 1, time: T + 100 };
  assert.deepEqual(copy.apply(encodeCommand({ op: 'put', user: 'ann', body: Uint8Array.from([1]), id: 'm1' }), meta), { kind: 'put', id: 'm1', seq: 1, duplicate: true });
  assert.deepEqual(copy.apply(encodeCommand({ op: 'ack', user: 'ann', receipt: '1.1' }), meta), { kind: 'ok' }, 'the old lease keeps its old receipt');
});

test('golden bytes: a version-2 image restores to the state its script makes today, with the default quotas', () => {
  const copy = new MailboxStateMachine({ maxDeliveries: 2 });
  copy.restore(Buffer.from(GOLDEN_V2, 'base64'));
  assert.deepEqual(copy.snapshot(), applied(scriptV2).snapshot());
  assert.deepEqual(copy.mailbox.quotas(), DEFAULT_QUOTAS);
  assert.deepEqual(copy.mailbox.usage(), applied(scriptV2).mailbox.usage());
  assert.deepEqual(copy.mailbox.usage(), { messages: 5, bytes: 14, mailboxes: 3 });
});

test('golden bytes: a version-3 image restores to the state its script makes today: no delayed messages', () => {
  const copy = new MailboxStateMachine({ maxDeliveries: 2 });
  copy.restore(Buffer.from(GOLDEN_V3, 'base64'));
  assert.deepEqual(copy.snapshot(), applied(scriptV3).snapshot());
  assert.deepEqual(copy.mailbox.usage(), applied(scriptV3).mailbox.usage());
});

test('golden bytes: a version-4 image restores to the state its script makes today: the id tables at their old fixed bounds', () => {
  const copy = new MailboxStateMachine({ maxDeliveries: 2 });
  copy.restore(Buffer.from(GOLDEN_V4, 'base64'));
  assert.deepEqual(copy.snapshot(), applied(scriptV4).snapshot());
  assert.deepEqual(copy.mailbox.quotas(), { ...DEFAULT_QUOTAS, maxMessages: 1000, maxMailboxes: 50, maxPutIds: 1_000_000, maxConsumeResults: 100_000 });
});

test('delayed messages keep their visible time through a snapshot: invisible before it, delivered at it', () => {
  const sm = applied(script);
  const copy = new MailboxStateMachine({ maxDeliveries: 2 });
  copy.restore(sm.snapshot());
  const consume = encodeCommand({ op: 'consume', user: 'fay' });
  assert.deepEqual(copy.apply(consume, { index: 100, term: 1, time: T + 18 + 1999 }), { kind: 'empty' });
  const first = copy.apply(consume, { index: 101, term: 1, time: T + 18 + 2000 });
  assert.equal(first.kind === 'message' && first.message.seq, 8);
  assert.deepEqual(copy.apply(consume, { index: 102, term: 1, time: T + 15 + 4999 }), { kind: 'empty' });
  const second = copy.apply(consume, { index: 103, term: 1, time: T + 15 + 5000 });
  assert.equal(second.kind === 'message' && second.message.seq, 7);
});

test('delayed messages out of visible-time order are refused with a typed error', () => {
  const sm = new MailboxStateMachine();
  const put = (delayMs: number, i: number) =>
    sm.apply(encodeCommand({ op: 'put', user: 'a', body: new Uint8Array(0), delayMs }), { index: i, term: 1, time: T });
  put(10, 1);
  put(20, 2);
  const image = sm.snapshot();
  // magic, version, now, lastSeq, quotas, 1 user, "a", 0 queued, 0 dead, 0 leases, 2 delayed.
  const first = 4 + 2 + 8 + 8 + 40 + 4 + 3 + 4 + 4 + 4 + 4;
  const message = 8 + 1 + 8 + 8 + 4 + 4; // seq, no client id, two times, deliveries, empty body
  const b = image.slice();
  new DataView(b.buffer).setFloat64(first + 8 + message, T + 5, true); // the second before the first
  assert.throws(() => new MailboxStateMachine().restore(b), (e: unknown) => e instanceof WireError && e.code === 'INVALID');
  assert.doesNotThrow(() => new MailboxStateMachine().restore(image));
});

test('the quotas travel in the image; a quota out of range is refused with a typed error', () => {
  const sm = applied(script);
  assert.deepEqual(sm.mailbox.quotas(), { ...DEFAULT_QUOTAS, maxMessages: 1000, maxMailboxes: 50, maxPutIds: 500_000, maxConsumeResults: 250_000 });
  const image = sm.snapshot();
  const copy = new MailboxStateMachine({ maxDeliveries: 2 });
  copy.restore(image);
  assert.deepEqual(copy.mailbox.quotas(), sm.mailbox.quotas());
  assert.deepEqual(copy.mailbox.usage(), sm.mailbox.usage());
  const quotasAt = 4 + 2 + 8 + 8; // magic, version, now, lastSeq
  QUOTA_NAMES.forEach((name, i) => {
    for (const bad of [0, -1, 0.5, Number.NaN, QUOTA_CEILINGS[name] + 1]) {
      const b = image.slice();
      new DataView(b.buffer).setFloat64(quotasAt + 8 * i, bad, true);
      assert.throws(() => new MailboxStateMachine().restore(b), (e: unknown) => e instanceof WireError && e.code === 'INVALID', `${name} ${bad}`);
    }
  });
});

test('a remembered consume result with an out-of-range field is refused with a typed error', () => {
  // Nothing queued and nothing remembered but one consume result, so its offsets are fixed.
  const sm = new MailboxStateMachine();
  sm.apply(encodeCommand({ op: 'put', user: 'a', body: Uint8Array.from([5]) }), { index: 1, term: 1, time: T });
  sm.apply(encodeCommand({ op: 'consume', user: 'a', requestId: 'r' }), { index: 2, term: 1, time: T + 1 });
  const image = sm.snapshot();
  // magic, version, now, lastSeq, quotas, 0 users, 0 puts, 1 consume, "a", principal "", "r", expiresAt.
  const result = 4 + 2 + 8 + 8 + 40 + 4 + 4 + 4 + 3 + 2 + 3 + 8;
  const seq = result + 2 + 4; // after version, kind, id "@1"
  const leased = seq + 8 + 5 + 8 + 8 + 4; // after seq, body, enqueuedAt, expiresAt, deliveries
  assert.equal(image.length, leased + 1);
  const refused = (code: WireErrorCode, patch: (b: Uint8Array) => void) => {
    const b = image.slice();
    patch(b);
    assert.throws(() => new MailboxStateMachine().restore(b), (e: unknown) => e instanceof WireError && e.code === code);
  };
  refused('BAD_VERSION', (b) => (b[result] = 2));
  refused('UNKNOWN_TAG', (b) => (b[result + 1] = 5)); // an "ok" result is never remembered (4 is a batch's)
  refused('BAD_INTEGER', (b) => new DataView(b.buffer).setFloat64(seq, -1, true));
  refused('BAD_INTEGER', (b) => new DataView(b.buffer).setFloat64(seq, 0.5, true));
  refused('BAD_INTEGER', (b) => new DataView(b.buffer).setFloat64(seq + 13, Number.NaN, true)); // enqueuedAt
  refused('BAD_BOOLEAN', (b) => (b[leased] = 2));
  new MailboxStateMachine().restore(image);
});

test("a queued message's client id travels in the image as before, read from its record; an empty one is refused", () => {
  // The id is kept with the body in the body store, not in the queue: the image must still carry it.
  const sm = new MailboxStateMachine();
  sm.apply(encodeCommand({ op: 'put', user: 'a', body: Uint8Array.from([5]), id: 'xé' }), { index: 1, term: 1, time: T });
  const image = sm.snapshot();
  // magic, version, now, lastSeq, quotas, 1 user, "a", 1 queued, seq, hasClientId.
  const idAt = 4 + 2 + 8 + 8 + 40 + 4 + 3 + 4 + 8 + 1;
  assert.deepEqual([...image.subarray(idAt, idAt + 5)], [3, 0, 0x78, 0xc3, 0xa9], 'u16 length, then the UTF-8 bytes of "xé"');
  const copy = new MailboxStateMachine();
  copy.restore(image);
  assert.deepEqual(copy.snapshot(), image);
  const taken = copy.apply(encodeCommand({ op: 'consume', user: 'a' }), { index: 2, term: 1, time: T + 1 });
  assert.equal(taken.kind === 'message' ? taken.message.id : taken.kind, 'xé');
  assert.deepEqual(taken.kind === 'message' ? [...taken.message.body] : [], [5]);
  const emptyId = new Uint8Array(image.length - 3);
  emptyId.set(image.subarray(0, idAt));
  emptyId.set(image.subarray(idAt + 5), idAt + 2); // length 0, no bytes
  assert.throws(() => new MailboxStateMachine().restore(emptyId), (e: unknown) => e instanceof WireError && e.code === 'INVALID');
});

test('a remembered id travels as user, principal and id, read back from its key; a NUL in any of them is refused', () => {
  // A remembered entry keeps only its key (user, principal and id joined by NULs): the image must
  // still carry the three apart, exactly, UTF-8 included, and the reader must refuse a part that
  // would make the key split back wrongly.
  const sm = new MailboxStateMachine();
  sm.apply(encodeCommand({ op: 'put', user: 'u', body: Uint8Array.from([5]), id: 'xé', principal: 'p' }), { index: 1, term: 1, time: T });
  sm.apply(encodeCommand({ op: 'consume', user: 'u', requestId: 'ré', principal: 'p' }), { index: 2, term: 1, time: T + 1 });
  const image = sm.snapshot();
  // magic, version, now, lastSeq, quotas, 0 users (the consume emptied "u"), 1 put: "u", principal "p", "xé".
  const putAt = 4 + 2 + 8 + 8 + 40 + 4 + 4;
  assert.deepEqual([...image.subarray(putAt, putAt + 11)], [1, 0, 0x75, 1, 0, 0x70, 3, 0, 0x78, 0xc3, 0xa9], 'u16-prefixed "u", "p", "xé"');
  const consumeAt = putAt + 11 + 16 + 4; // after the put's strings, seq and expiresAt, and the consumes' count
  assert.deepEqual([...image.subarray(consumeAt, consumeAt + 11)], [1, 0, 0x75, 1, 0, 0x70, 3, 0, 0x72, 0xc3, 0xa9]);
  const copy = new MailboxStateMachine();
  copy.restore(image);
  assert.deepEqual(copy.snapshot(), image);
  const again = copy.apply(encodeCommand({ op: 'put', user: 'u', body: Uint8Array.from([6]), id: 'xé', principal: 'p' }), { index: 3, term: 1, time: T + 2 });
  assert.deepEqual(again, { kind: 'put', id: 'xé', seq: 1, duplicate: true });
  for (const at of [putAt + 2, putAt + 5, putAt + 8, consumeAt + 2, consumeAt + 5, consumeAt + 8]) {
    const b = image.slice();
    b[at] = 0; // "u", "p", "x" or "r" becomes a NUL
    assert.throws(() => new MailboxStateMachine().restore(b), (e: unknown) => e instanceof WireError && e.code === 'INVALID', `NUL at ${at}`);
  }
});
