import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeError, decodeReply, encodeClusterStatus, encodeConsumeOutcomes, encodeError, encodePutOutcomes, encodeResult, encodeResults, ReplyDecodeError } from '../../src/bridge/reply-format.js';
import { ServiceError, serviceErrorToBody } from '../../src/bridge/mailbox-service.js';
import type { MailboxResult } from '../../src/mailbox/commands.js';

function roundTrip(result: MailboxResult) {
  const encoded = encodeResult(result);
  assert.ok(encoded.ok);
  return decodeReply(encoded.parts.payload, encoded.parts.attachment);
}

test('a delivered message keeps its body bytes exactly and its metadata', () => {
  const body = new Uint8Array(256).map((_, i) => i);
  const message = { id: 'm1', seq: 7, body, enqueuedAt: 1000, expiresAt: 2000, deliveries: 2, receipt: 'r:1', leaseExpiresAt: 1500 };
  const encoded = encodeResult({ kind: 'message', message });
  assert.ok(encoded.ok);
  assert.equal(encoded.parts.payload, body, 'the body is sent as is, not re-encoded');
  assert.deepEqual(decodeReply(encoded.parts.payload, encoded.parts.attachment), { status: 'message', message });
});

test('other results round-trip', () => {
  assert.deepEqual(roundTrip({ kind: 'empty' }), { status: 'empty' });
  assert.deepEqual(roundTrip({ kind: 'put', id: 'a', seq: 3, duplicate: true }), { status: 'put', id: 'a', seq: 3, duplicate: true });
  assert.deepEqual(roundTrip({ kind: 'ok' }), { status: 'ok' });
  assert.deepEqual(roundTrip({ kind: 'purged', count: 4 }), { status: 'purged', count: 4 });
  assert.deepEqual(roundTrip({ kind: 'redriven', count: 3 }), { status: 'redriven', count: 3 });
  const delayed = { count: 1, bytes: 2, oldestAgeMs: 3, inFlight: 0, deadLetterCount: 0, delayed: 5 };
  assert.deepEqual(roundTrip({ kind: 'stats', stats: delayed }), { status: 'stats', stats: delayed });
  const stats = { count: 1, bytes: 2, oldestAgeMs: 3, inFlight: 4, deadLetterCount: 5 };
  assert.deepEqual(roundTrip({ kind: 'stats', stats }), { status: 'stats', stats });
  const quotas = { maxMessages: 10, maxBytes: 2048, maxMailboxes: 3, maxPutIds: 4, maxConsumeResults: 5 };
  const usage = { messages: 4, bytes: 100, mailboxes: 2 };
  assert.deepEqual(roundTrip({ kind: 'quotas', quotas, usage }), { status: 'quotas', quotas, usage });
  const status = encodeClusterStatus({ leader: 'n1', term: 3 });
  assert.deepEqual(decodeReply(status.payload, status.attachment), { status: 'status', cluster: { leader: 'n1', term: 3 } });
});

test('state machine errors become error bodies; expire results are INTERNAL', () => {
  assert.deepEqual(encodeResult({ kind: 'error', code: 'MAILBOX_FULL', message: 'full' }), { ok: false, error: { code: 'MAILBOX_FULL', message: 'full' } });
  assert.deepEqual(encodeResult({ kind: 'error', code: 'QUOTA_EXCEEDED', message: 'q' }), { ok: false, error: { code: 'QUOTA_EXCEEDED', message: 'q' } });
  assert.deepEqual(decodeError(encodeError({ code: 'BUSY', message: 'b' })), { code: 'BUSY', message: 'b' });
  const expired = encodeResult({ kind: 'expired', expired: 1, deadLettered: 0, leasesReturned: 0 });
  assert.ok(!expired.ok && expired.error.code === 'INTERNAL');
});

test('error bodies round-trip; foreign error text is INTERNAL', () => {
  assert.deepEqual(decodeError(encodeError({ code: 'NOT_LEADER', message: 'no', leader: 'n2' })), { code: 'NOT_LEADER', message: 'no', leader: 'n2' });
  assert.deepEqual(decodeError(new TextEncoder().encode('router said no')), { code: 'INTERNAL', message: 'router said no' });
  assert.equal(decodeError(new TextEncoder().encode('{"code":"WHATEVER","message":"x"}')).code, 'INTERNAL');
  assert.equal(decodeError(new Uint8Array(5000)).code, 'INTERNAL');
});

test("Zenoh's own query timeout is TIMEOUT (outcome unknown), not INTERNAL", () => {
  assert.equal(decodeError(new TextEncoder().encode('Timeout')).code, 'TIMEOUT');
  assert.equal(decodeError(new TextEncoder().encode('Timeout!')).code, 'INTERNAL', 'only the exact text zenoh sends');
});

test('malformed replies are refused with ReplyDecodeError', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.throws(() => decodeReply(enc('x'), undefined), ReplyDecodeError);
  assert.throws(() => decodeReply(enc('x'), enc('nope')), ReplyDecodeError);
  assert.throws(() => decodeReply(enc('x'), enc('{"status":"weird"}')), ReplyDecodeError);
  assert.throws(() => decodeReply(enc('x'), enc('{"status":"message","id":"a"}')), ReplyDecodeError);
  assert.throws(() => decodeReply(enc('{"id":"a","seq":1}'), enc('{"status":"put"}')), ReplyDecodeError);
  assert.throws(() => decodeReply(enc('x'), new Uint8Array(5000)), ReplyDecodeError);
});

test('a ServiceError reaches the client with its code and leader hint; anything else is INTERNAL', () => {
  assert.deepEqual(serviceErrorToBody(new ServiceError('NOT_LEADER', 'not me', 'n3')), { code: 'NOT_LEADER', message: 'not me', leader: 'n3' });
  assert.deepEqual(serviceErrorToBody(new ServiceError('TIMEOUT', 'slow')), { code: 'TIMEOUT', message: 'slow' });
  assert.equal(serviceErrorToBody({ code: 'TIMEOUT' }).code, 'INTERNAL', 'a look-alike is not trusted');
  assert.equal(serviceErrorToBody({ code: 'toString' }).code, 'INTERNAL');
  assert.deepEqual(serviceErrorToBody(new Error('boom')), { code: 'INTERNAL', message: 'boom' });
});

test('a batch result is one reply per message in order, each with its place i of n', () => {
  const message = (seq: number) => ({ id: `@${seq}`, seq, body: Uint8Array.from([seq]), enqueuedAt: 1, expiresAt: 2, deliveries: 1 });
  const encoded = encodeResults({ kind: 'messages', messages: [message(1), message(2)] });
  assert.ok(encoded.ok);
  const decoded = encoded.parts.map((p) => decodeReply(p.payload, p.attachment));
  assert.deepEqual(decoded, [
    { status: 'message', message: message(1), part: { index: 1, count: 2 } },
    { status: 'message', message: message(2), part: { index: 2, count: 2 } },
  ]);
  const puts = encodeResults({ kind: 'puts', puts: [{ id: 'a', seq: 3, duplicate: true }] });
  assert.ok(puts.ok);
  assert.deepEqual(decodeReply(puts.parts[0]!.payload, puts.parts[0]!.attachment), { status: 'put', id: 'a', seq: 3, duplicate: true, part: { index: 1, count: 1 } });
  const single = encodeResults({ kind: 'empty' });
  assert.ok(single.ok && single.parts.length === 1);
  assert.deepEqual(decodeReply(single.parts[0]!.payload, single.parts[0]!.attachment), { status: 'empty' });
});

test('a @puts reply lists each message in order: put, or refused with its code', () => {
  const parts = encodePutOutcomes([
    { kind: 'put', id: 'a', seq: 3, duplicate: false },
    { code: 'FORBIDDEN', message: 'principal svc may not touch mailbox bob' },
    { kind: 'error', code: 'MAILBOX_FULL', message: 'full' },
    { kind: 'put', id: 'd', seq: 1, duplicate: true },
    { kind: 'empty' },
  ]);
  assert.deepEqual(decodeReply(parts.payload, parts.attachment), {
    status: 'puts',
    puts: [
      { ok: true, id: 'a', seq: 3, duplicate: false },
      { ok: false, error: { code: 'FORBIDDEN', message: 'principal svc may not touch mailbox bob' } },
      { ok: false, error: { code: 'MAILBOX_FULL', message: 'full' } },
      { ok: true, id: 'd', seq: 1, duplicate: true },
      { ok: false, error: { code: 'INTERNAL', message: 'unexpected empty result for a put' } },
    ],
  });
  const attachment = new TextEncoder().encode('{"status":"puts"}');
  const bad = (json: string) => assert.throws(() => decodeReply(new TextEncoder().encode(json), attachment), ReplyDecodeError, json);
  bad('[]');
  bad('{}');
  bad('[{"id":"a","seq":1}]');
  bad('[{"code":"NOPE","message":"x"}]');
  bad('[{"code":"BUSY"}]');
  bad(JSON.stringify(Array.from({ length: 1025 }, () => ({ id: 'a', seq: 1, duplicate: false }))));
});

test('a @consumes reply lists each consume in order: a message with its exact body, empty, or refused', () => {
  const body = new Uint8Array(300).map((_, i) => i % 256);
  const leased = { id: 'm1', seq: 7, body, enqueuedAt: 1000, expiresAt: 2000, deliveries: 2, receipt: 'AbC_-12.1', leaseExpiresAt: 1500 };
  const plain = { id: '@3', seq: 3, body: new Uint8Array(0), enqueuedAt: 5, expiresAt: 6, deliveries: 1 };
  const parts = encodeConsumeOutcomes([
    { kind: 'message', message: leased },
    { kind: 'empty' },
    { code: 'FORBIDDEN', message: 'principal p may not touch mailbox bob' },
    { kind: 'message', message: plain },
    { kind: 'error', code: 'UNKNOWN_RECEIPT', message: 'no' },
    { kind: 'ok' },
  ]);
  assert.deepEqual(decodeReply(parts.payload, parts.attachment), {
    status: 'consumes',
    consumes: [
      { ok: true, message: leased },
      { ok: true, message: null },
      { ok: false, error: { code: 'FORBIDDEN', message: 'principal p may not touch mailbox bob' } },
      { ok: true, message: plain },
      { ok: false, error: { code: 'UNKNOWN_RECEIPT', message: 'no' } },
      { ok: false, error: { code: 'INTERNAL', message: 'unexpected ok result for a consume' } },
    ],
  });
  const attachment = new TextEncoder().encode('{"status":"consumes"}');
  const bad = (bytes: number[], why: string) => assert.throws(() => decodeReply(Uint8Array.from(bytes), attachment), ReplyDecodeError, why);
  bad([1, 0, 0], 'no outcome');
  bad([2, 1, 0, 0], 'another version');
  bad([1, 1, 0, 9], 'an unknown kind');
  bad([1, 1, 0, 0, 0], 'trailing bytes');
  bad([1, 2, 0, 0], 'fewer outcomes than counted');
  bad([1, 1, 0, 2, 4, 0, 78, 79, 80, 69, 0, 0], 'an unknown code');
  bad([...parts.payload.subarray(0, parts.payload.length - 1)], 'truncated');
});
