import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidUser } from '../../src/identifiers.js';
import { encodeBatchPut, encodeConsumes, encodePuts, MAX_CONSUMES_PER_REQUEST, MAX_PUTS_PER_REQUEST } from '../../src/bridge/batch-framing.js';
import { accessOf, parseAttachment, parseGet, parseParameters, parsePut, type BridgeRequest, type Parsed } from '../../src/bridge/key-space.js';

const P = 'forge/mailbox';
const limits = { maxBodyBytes: 16 };
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function get(key: string, params = '', payload?: Uint8Array): Parsed<BridgeRequest> {
  return parseGet(P, key, params, payload, limits);
}

function value<T>(p: Parsed<T>): T {
  assert.ok(p.ok, p.ok ? '' : `${p.error.code}: ${p.error.message}`);
  return p.value;
}

function code<T>(p: Parsed<T>): string {
  assert.ok(!p.ok, 'expected an error');
  return p.error.code;
}

test('bare user key consumes, like /consume', () => {
  assert.deepEqual(value(get(`${P}/alice`)), { kind: 'command', command: { op: 'consume', user: 'alice' } });
  assert.deepEqual(value(get(`${P}/alice/consume`)), { kind: 'command', command: { op: 'consume', user: 'alice' } });
});

test('consume parameters: rid, lease, dlq', () => {
  assert.deepEqual(value(get(`${P}/bob/consume`, 'rid=r-1;lease=30000;dlq=1')), {
    kind: 'command',
    command: { op: 'consume', user: 'bob', requestId: 'r-1', leaseMs: 30000, deadLetter: true },
  });
  assert.deepEqual(value(get(`${P}/bob`, 'dlq')), { kind: 'command', command: { op: 'consume', user: 'bob', deadLetter: true } });
  assert.deepEqual(value(get(`${P}/bob`, 'dlq=0')), { kind: 'command', command: { op: 'consume', user: 'bob' } });
  assert.deepEqual(value(get(`${P}/bob`, 'lease=5&rid=x')), {
    kind: 'command',
    command: { op: 'consume', user: 'bob', requestId: 'x', leaseMs: 5 },
  });
});

test('put takes the payload as body, with id and ttl', () => {
  const body = new Uint8Array([0, 255, 10, 13]);
  assert.deepEqual(value(get(`${P}/carol/put`, 'id=m-1;ttl=60000', body)), {
    kind: 'command',
    command: { op: 'put', user: 'carol', body, id: 'm-1', ttlMs: 60000 },
  });
  assert.deepEqual(value(get(`${P}/carol/put`)), { kind: 'command', command: { op: 'put', user: 'carol', body: new Uint8Array(0) } });
});

test('put over the body limit is TOO_LARGE; at the limit it passes', () => {
  assert.equal(code(get(`${P}/carol/put`, '', new Uint8Array(17))), 'TOO_LARGE');
  assert.ok(get(`${P}/carol/put`, '', new Uint8Array(16)).ok);
});

test('peek, len, purge, ack, nack', () => {
  assert.deepEqual(value(get(`${P}/d/peek`)), { kind: 'query', query: { op: 'peek', user: 'd' } });
  assert.deepEqual(value(get(`${P}/d/peek`, 'dlq=true')), { kind: 'query', query: { op: 'peek', user: 'd', deadLetter: true } });
  assert.deepEqual(value(get(`${P}/d/len`)), { kind: 'query', query: { op: 'len', user: 'd' } });
  assert.deepEqual(value(get(`${P}/d/purge`, 'dlq')), { kind: 'command', command: { op: 'purge', user: 'd', deadLetter: true } });
  assert.deepEqual(value(get(`${P}/d/ack`, 'receipt=abc:1')), { kind: 'command', command: { op: 'ack', user: 'd', receipt: 'abc:1' } });
  assert.deepEqual(value(get(`${P}/d/nack`, 'receipt=abc:1')), { kind: 'command', command: { op: 'nack', user: 'd', receipt: 'abc:1' } });
});

test('cluster status key', () => {
  assert.deepEqual(value(get(`${P}/@cluster/status`)), { kind: 'clusterStatus' });
  assert.equal(code(get(`${P}/@cluster/status`, 'x=1')), 'BAD_REQUEST');
});

test('bad users: wildcards, verbatim chunks, bad characters, too long, empty', () => {
  for (const user of ['*', '**', '$*', 'a$*', '@cluster', '@x', '.', '..', 'a b', 'é', 'a?b', 'x'.repeat(129), '']) {
    assert.equal(code(get(`${P}/${user}/len`)), 'BAD_USER', user);
  }
  assert.ok(isValidUser('x'.repeat(128)));
  assert.ok(isValidUser('A.b_c-9'));
});

test('unknown operations and deeper keys are UNKNOWN_OP', () => {
  assert.equal(code(get(`${P}/alice/frobnicate`)), 'UNKNOWN_OP');
  assert.equal(code(get(`${P}/alice/consume/extra`)), 'UNKNOWN_OP');
  assert.equal(code(get(`${P}/alice/*`)), 'UNKNOWN_OP');
  assert.equal(code(get(`${P}/alice/`)), 'UNKNOWN_OP');
});

test('keys outside the prefix are BAD_REQUEST', () => {
  assert.equal(code(get('other/alice')), 'BAD_REQUEST');
  assert.equal(code(get('forge/mailboxes/alice')), 'BAD_REQUEST');
  assert.equal(code(get(P)), 'BAD_REQUEST');
});

test('malformed parameters are BAD_REQUEST', () => {
  const cases: [string, string][] = [
    [`${P}/a/consume`, 'lease=abc'],
    [`${P}/a/consume`, 'lease=0'],
    [`${P}/a/consume`, 'lease=-5'],
    [`${P}/a/consume`, 'lease=1.5'],
    [`${P}/a/consume`, `lease=${24 * 3600 * 1000 + 1}`],
    [`${P}/a/consume`, 'lease=1;lease=2'],
    [`${P}/a/consume`, 'rid='],
    [`${P}/a/consume`, 'rid=has space'],
    [`${P}/a/consume`, `rid=${'r'.repeat(129)}`],
    [`${P}/a/consume`, 'dlq=maybe'],
    [`${P}/a/consume`, 'receipt=x'],
    [`${P}/a/put`, 'ttl=1e3'],
    [`${P}/a/put`, 'id=a|b'],
    [`${P}/a/put`, 'id=@derived'],
    [`${P}/a/len`, 'dlq=1'],
    [`${P}/a/ack`, ''],
    [`${P}/a/nack`, 'receipt='],
    [`${P}/a/peek`, '=1'],
    [`${P}/a`, 'x'.repeat(3000)],
  ];
  for (const [key, params] of cases) assert.equal(code(get(key, params)), 'BAD_REQUEST', `${key}?${params}`);
});

test('reserved underscore parameters are ignored', () => {
  assert.deepEqual(value(get(`${P}/a/len`, '_time=[..]')), { kind: 'query', query: { op: 'len', user: 'a' } });
});

test('parseParameters splits on ; & and newlines, trims, keeps bare names as empty values', () => {
  const p = value(parseParameters(' a = 1 ;b&c=x=y\nd'));
  assert.deepEqual([...p], [['a', '1'], ['b', ''], ['c', 'x=y'], ['d', '']]);
});

test('plain PUT: user key, attachment with token, id and ttl', () => {
  const body = bytes('hello');
  assert.deepEqual(value(parsePut(P, `${P}/eve`, body, undefined, limits)), { command: { op: 'put', user: 'eve', body } });
  assert.deepEqual(value(parsePut(P, `${P}/eve`, body, bytes('{"id":"m-9","ttl":1000,"token":"t.o.k"}'), limits)), {
    command: { op: 'put', user: 'eve', body, id: 'm-9', ttlMs: 1000 },
    token: 't.o.k',
  });
  assert.deepEqual(value(parsePut(P, `${P}/eve`, body, new Uint8Array(0), limits)), { command: { op: 'put', user: 'eve', body } });
});

test('query attachments carry only a token; PUT attachments also id and ttl; both bounded', () => {
  assert.deepEqual(value(parseAttachment(undefined, 'query')), {});
  assert.deepEqual(value(parseAttachment(bytes('{"token":"abc"}'), 'query')), { token: 'abc' });
  for (const att of ['{"id":"x"}', '{"ttl":5}', '{"token":5}', 'not json', '[]', 'null']) {
    assert.equal(code(parseAttachment(bytes(att), 'query')), 'BAD_REQUEST', att);
  }
  assert.equal(code(parseAttachment(bytes(JSON.stringify({ token: 'x'.repeat(17_000) })), 'query')), 'BAD_REQUEST');
  assert.deepEqual(value(parseAttachment(bytes(JSON.stringify({ token: 'x'.repeat(8000) })), 'put')), { token: 'x'.repeat(8000) });
});

test('each request needs its operation on its mailbox; cluster keys need status or admin', () => {
  const access = (key: string, params = '') => accessOf(value(parseGet(P, `${P}/${key}`, params, bytes('b'), limits)));
  assert.deepEqual(access('alice'), { op: 'consume', user: 'alice' });
  assert.deepEqual(access('alice/put'), { op: 'put', user: 'alice' });
  assert.deepEqual(access('alice/peek', 'dlq'), { op: 'peek', user: 'alice' });
  assert.deepEqual(access('alice/len'), { op: 'peek', user: 'alice' });
  assert.deepEqual(access('alice/ack', 'receipt=1.1'), { op: 'ack', user: 'alice' });
  assert.deepEqual(access('alice/nack', 'receipt=1.1'), { op: 'ack', user: 'alice' });
  assert.deepEqual(access('alice/purge', 'dlq'), { op: 'purge', user: 'alice' });
  assert.deepEqual(access('alice/touch', 'receipt=1.1&lease=5'), { op: 'ack', user: 'alice' });
  assert.deepEqual(access('alice/redrive'), { op: 'purge', user: 'alice' });
  assert.deepEqual(access('@cluster/status'), { op: 'status', user: null });
  assert.deepEqual(access('@cluster/admin/remove-node', 'node=n2'), { op: 'admin', user: null });
});

test('plain PUT errors', () => {
  assert.equal(code(parsePut(P, `${P}/eve/put`, bytes('x'), undefined, limits)), 'UNKNOWN_OP');
  assert.equal(code(parsePut(P, `${P}/@cluster`, bytes('x'), undefined, limits)), 'BAD_USER');
  assert.equal(code(parsePut(P, 'elsewhere/eve', bytes('x'), undefined, limits)), 'BAD_REQUEST');
  assert.equal(code(parsePut(P, `${P}/eve`, new Uint8Array(17), undefined, limits)), 'TOO_LARGE');
  for (const att of ['not json', '[1]', 'null', '{"id":5}', '{"ttl":"5"}', '{"ttl":1.5}', '{"other":1}', '{"id":""}']) {
    assert.equal(code(parsePut(P, `${P}/eve`, bytes('x'), bytes(att), limits)), 'BAD_REQUEST', att);
  }
  assert.equal(code(parsePut(P, `${P}/eve`, bytes('x'), new Uint8Array([0xff, 0xfe]), limits)), 'BAD_REQUEST');
  assert.equal(code(parsePut(P, `${P}/eve`, bytes('x'), new Uint8Array(20_000).fill(32), limits)), 'BAD_REQUEST');
});


test('consume wait (long poll): up to mailbox.maxConsumeWaitMs, refused beyond it (not clamped), 0 means no wait', () => {
  assert.deepEqual(value(get(`${P}/bob/consume`, 'wait=20000;rid=r')), {
    kind: 'command',
    command: { op: 'consume', user: 'bob', requestId: 'r' },
    waitMs: 20000,
  });
  assert.deepEqual(value(get(`${P}/bob`, 'wait=0')), { kind: 'command', command: { op: 'consume', user: 'bob' } });
  const tooLong = get(`${P}/bob`, 'wait=20001');
  assert.equal(code(tooLong), 'BAD_REQUEST');
  assert.match(tooLong.ok ? '' : tooLong.error.message, /between 0 and 20000 ms \(mailbox\.maxConsumeWaitMs\)/);
  assert.deepEqual(value(parseGet(P, `${P}/bob`, 'wait=45000', undefined, { ...limits, maxConsumeWaitMs: 60_000 })), {
    kind: 'command',
    command: { op: 'consume', user: 'bob' },
    waitMs: 45000,
  });
  assert.equal(code(parseGet(P, `${P}/bob`, 'wait=1', undefined, { ...limits, maxConsumeWaitMs: 0 })), 'BAD_REQUEST');
  for (const bad of ['wait=', 'wait=-1', 'wait=1.5', 'wait=abc', 'wait=10;dlq']) assert.equal(code(get(`${P}/bob`, bad)), 'BAD_REQUEST', bad);
});

test('wait lanes: <prefix>/@wait/<lane>/<user> is a consume of <user>, lanes 0..WAIT_LANES-1', () => {
  assert.deepEqual(value(get(`${P}/@wait/0/alice`, 'wait=1000;lease=5')), {
    kind: 'command',
    command: { op: 'consume', user: 'alice', leaseMs: 5 },
    waitMs: 1000,
  });
  assert.deepEqual(value(get(`${P}/@wait/15/bob`)), { kind: 'command', command: { op: 'consume', user: 'bob' } });
  for (const key of [`${P}/@wait/16/bob`, `${P}/@wait/01/bob`, `${P}/@wait/x/bob`, `${P}/@wait/1/bob/put`, `${P}/@wait/1`]) {
    assert.equal(code(get(key)), 'BAD_REQUEST', key);
  }
  assert.equal(code(get(`${P}/@wait/1/a*b`)), 'BAD_USER');
});

test('put delay, nack delay, touch and redrive parameters; malformed ones are BAD_REQUEST', () => {
  assert.deepEqual(value(get(`${P}/d/put`, 'delay=500', bytes('x'))), { kind: 'command', command: { op: 'put', user: 'd', body: bytes('x'), delayMs: 500 } });
  assert.deepEqual(value(get(`${P}/d/nack`, 'receipt=1.1&delay=0')), { kind: 'command', command: { op: 'nack', user: 'd', receipt: '1.1', delayMs: 0 } });
  assert.deepEqual(value(get(`${P}/d/nack`, 'receipt=1.1&delay=250')), { kind: 'command', command: { op: 'nack', user: 'd', receipt: '1.1', delayMs: 250 } });
  assert.deepEqual(value(get(`${P}/d/touch`, 'receipt=1.1&lease=30000')), { kind: 'command', command: { op: 'touch', user: 'd', receipt: '1.1', leaseMs: 30000 } });
  assert.deepEqual(value(get(`${P}/d/redrive`)), { kind: 'command', command: { op: 'redrive', user: 'd' } });
  assert.deepEqual(value(get(`${P}/d/redrive`, 'max=10')), { kind: 'command', command: { op: 'redrive', user: 'd', max: 10 } });
  for (const [key, params] of [
    ['d/put', 'delay=0'],
    ['d/put', 'delay=-1'],
    ['d/put', 'delay=1.5'],
    ['d/nack', 'receipt=1.1&delay=x'],
    ['d/touch', 'receipt=1.1'],
    ['d/touch', 'lease=5'],
    ['d/touch', 'receipt=1.1&lease=0'],
    ['d/redrive', 'max=0'],
    ['d/redrive', 'max=1e3'],
    ['d/ack', 'receipt=1.1&delay=5'],
    ['d/touch', 'receipt=1.1&lease=5&delay=1'],
  ] as const) {
    assert.equal(code(get(`${P}/${key}`, params, bytes('x'))), 'BAD_REQUEST', `${key}?${params}`);
  }
});

test('consume max: 1..maxBatch, carried in the command', () => {
  assert.deepEqual(value(get(`${P}/alice/consume`, 'max=16;lease=100')), { kind: 'command', command: { op: 'consume', user: 'alice', max: 16, leaseMs: 100 } });
  for (const bad of ['0', '257', '1.5', '', 'x', '-1']) assert.equal(code(get(`${P}/alice/consume`, `max=${bad}`)), 'BAD_REQUEST', `max=${bad}`);
  assert.equal(value(parseGet(P, `${P}/alice/consume`, 'max=4', undefined, { maxBodyBytes: 16, maxBatch: 4 })).kind, 'command');
  assert.equal(code(parseGet(P, `${P}/alice/consume`, 'max=5', undefined, { maxBodyBytes: 16, maxBatch: 4 })), 'BAD_REQUEST');
});

test('@puts: the framing decoded, each message a put checked on its own, a bad framing refusing them all', () => {
  const payload = encodePuts([
    { user: 'alice', body: bytes('one'), id: 'a', ttlMs: 500, delayMs: 20 },
    { user: 'bob', body: bytes('two') },
    { user: 'no/slash', body: bytes('x') },
    { user: 'carol', body: bytes('x'), id: '@reserved' },
    { user: 'carol', body: bytes('x'), ttlMs: 0.5 },
    { user: 'carol', body: bytes('x'), delayMs: 0 },
  ]);
  const request = value(get(`${P}/@puts`, '', payload));
  assert.equal(request.kind, 'puts');
  if (request.kind !== 'puts') return;
  assert.deepEqual(request.puts[0], { ok: true, value: { op: 'put', user: 'alice', body: bytes('one'), id: 'a', ttlMs: 500, delayMs: 20 } });
  assert.deepEqual(request.puts[1], { ok: true, value: { op: 'put', user: 'bob', body: bytes('two') } });
  assert.deepEqual(
    request.puts.slice(2).map((p) => (p.ok ? 'ok' : p.error.code)),
    ['BAD_USER', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST'],
  );
  // Each mailbox is authorized on its own by the bridge; the request as a whole needs `put`.
  assert.deepEqual(accessOf(request), { op: 'put', user: null });
  // 16 bytes in all (limits.maxBodyBytes), over every mailbox.
  assert.equal(code(get(`${P}/@puts`, '', encodePuts([{ user: 'a', body: new Uint8Array(9) }, { user: 'b', body: new Uint8Array(8) }]))), 'TOO_LARGE');
  assert.equal(code(get(`${P}/@puts`, '', encodePuts([]))), 'BAD_REQUEST');
  const most = Array.from({ length: MAX_PUTS_PER_REQUEST }, () => ({ user: 'a', body: new Uint8Array(0) }));
  assert.equal(value(get(`${P}/@puts`, '', encodePuts(most))).kind, 'puts');
  assert.equal(code(get(`${P}/@puts`, '', encodePuts([...most, { user: 'a', body: new Uint8Array(0) }]))), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/@puts`, '', Uint8Array.from([1, 1, 0, 8, 0, 0]))), 'BAD_REQUEST', 'an unknown flag');
  assert.equal(code(get(`${P}/@puts`, '', Uint8Array.from([...payload, 0]))), 'BAD_REQUEST', 'trailing bytes');
  assert.equal(code(get(`${P}/@puts`, '', undefined)), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/@puts`, 'id=x', payload)), 'BAD_REQUEST');
  // `@puts` is the one key there: not a user, not a prefix of one.
  assert.equal(code(get(`${P}/@puts/alice`, '', payload)), 'BAD_USER');
});

test('@consumes: the framing decoded, each a consume checked on its own, a bad framing refusing them all', () => {
  const payload = encodeConsumes([
    { user: 'alice' },
    { user: 'bob', requestId: 'r-1', leaseMs: 30_000, deadLetter: true },
    { user: '..' },
    { user: 'carol', requestId: 'has space' },
    { user: 'carol', leaseMs: 0 },
    { user: 'carol', leaseMs: 1.5 },
  ]);
  const request = value(get(`${P}/@consumes`, '', payload));
  assert.equal(request.kind, 'consumes');
  if (request.kind !== 'consumes') return;
  assert.deepEqual(request.consumes[0], { ok: true, value: { op: 'consume', user: 'alice' } });
  assert.deepEqual(request.consumes[1], { ok: true, value: { op: 'consume', user: 'bob', requestId: 'r-1', leaseMs: 30_000, deadLetter: true } });
  assert.deepEqual(
    request.consumes.slice(2).map((c) => (c.ok ? 'ok' : c.error.code)),
    ['BAD_USER', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST'],
  );
  assert.deepEqual(accessOf(request), { op: 'consume', user: null });
  const most = Array.from({ length: MAX_CONSUMES_PER_REQUEST }, () => ({ user: 'a' }));
  assert.equal(value(get(`${P}/@consumes`, '', encodeConsumes(most))).kind, 'consumes');
  assert.equal(code(get(`${P}/@consumes`, '', encodeConsumes([...most, { user: 'a' }]))), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/@consumes`, '', encodeConsumes([]))), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/@consumes`, '', Uint8Array.from([1, 1, 0, 8, 1, 0, 97]))), 'BAD_REQUEST', 'an unknown flag');
  assert.equal(code(get(`${P}/@consumes`, '', Uint8Array.from([...payload, 0]))), 'BAD_REQUEST', 'trailing bytes');
  assert.equal(code(get(`${P}/@consumes`, '', undefined)), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/@consumes`, 'wait=100', payload)), 'BAD_REQUEST', 'no long polls here');
});

test('put-batch: the framing decoded, each message checked like a put, the bodies bounded together', () => {
  const payload = encodeBatchPut([{ body: bytes('one'), id: 'a', ttlMs: 500 }, { body: bytes('two') }]);
  const request = value(get(`${P}/alice/put-batch`, '', payload));
  assert.deepEqual(request, {
    kind: 'command',
    command: { op: 'putBatch', user: 'alice', messages: [{ body: bytes('one'), id: 'a', ttlMs: 500 }, { body: bytes('two') }] },
  });
  assert.deepEqual(accessOf(request), { op: 'put', user: 'alice' });
  // 16 bytes in all (limits.maxBodyBytes): one body too large, or two together, are TOO_LARGE.
  assert.equal(code(get(`${P}/alice/put-batch`, '', encodeBatchPut([{ body: new Uint8Array(17) }]))), 'TOO_LARGE');
  assert.equal(code(get(`${P}/alice/put-batch`, '', encodeBatchPut([{ body: new Uint8Array(9) }, { body: new Uint8Array(8) }]))), 'TOO_LARGE');
  assert.equal(code(get(`${P}/alice/put-batch`, '', encodeBatchPut([{ body: bytes('x'), id: '@reserved' }]))), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/alice/put-batch`, '', encodeBatchPut([{ body: bytes('x'), ttlMs: 0.5 }]))), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/alice/put-batch`, '', encodeBatchPut([]))), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/alice/put-batch`, '', Uint8Array.from([2, 1, 0]))), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/alice/put-batch`, '', undefined)), 'BAD_REQUEST');
  assert.equal(code(get(`${P}/alice/put-batch`, 'id=x', payload)), 'BAD_REQUEST');
});
