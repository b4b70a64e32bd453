// The cluster administration keys of the key space: add-node, remove-node and set-quotas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessOf, adminKey, DEFAULT_CATCH_UP_MS, parseGet, type BridgeRequest, type Parsed } from '../../src/bridge/key-space.js';
import { QUOTA_CEILINGS } from '../../src/mailbox/quotas.js';

const P = 'forge/mailbox';
const get = (key: string, params = ''): Parsed<BridgeRequest> => parseGet(P, key, params, undefined, { maxBodyBytes: 16 });

function value<T>(p: Parsed<T>): T {
  assert.ok(p.ok, p.ok ? '' : `${p.error.code}: ${p.error.message}`);
  return p.value;
}

function error<T>(p: Parsed<T>): string {
  assert.ok(!p.ok, 'expected an error');
  return `${p.error.code}: ${p.error.message}`;
}

test('add-node takes node, host, port and an optional catch-up wait', () => {
  assert.equal(adminKey(P, 'add-node'), `${P}/@cluster/admin/add-node`);
  assert.deepEqual(value(get(adminKey(P, 'add-node'), 'node=n4;host=10.0.0.4;port=7004')), {
    kind: 'admin',
    op: { op: 'addNode', node: 'n4', host: '10.0.0.4', port: 7004, catchUpMs: DEFAULT_CATCH_UP_MS },
  });
  assert.deepEqual(value(get(adminKey(P, 'add-node'), 'node=db_5&host=db-5.internal&port=1&wait=120000')), {
    kind: 'admin',
    op: { op: 'addNode', node: 'db_5', host: 'db-5.internal', port: 1, catchUpMs: 120_000 },
  });
  assert.deepEqual(value(get(adminKey(P, 'add-node'), 'node=n6;host=::1;port=65535')), {
    kind: 'admin',
    op: { op: 'addNode', node: 'n6', host: '::1', port: 65535, catchUpMs: DEFAULT_CATCH_UP_MS },
  });
});

test('add-node refuses a bad or missing node id, host, port or wait', () => {
  const key = adminKey(P, 'add-node');
  for (const [params, expected] of [
    ['host=h;port=1', /BAD_REQUEST: node must be/],
    ['node=;host=h;port=1', /BAD_REQUEST: node must be/],
    ['node=a.b;host=h;port=1', /BAD_REQUEST: node must be/],
    [`node=${'x'.repeat(33)};host=h;port=1`, /BAD_REQUEST: node must be/],
    ['node=n4;port=1', /BAD_REQUEST: add-node needs host/],
    ['node=n4;host=a/b;port=1', /BAD_REQUEST: add-node needs host/],
    [`node=n4;host=${'h'.repeat(254)};port=1`, /BAD_REQUEST: add-node needs host/],
    ['node=n4;host=h', /BAD_REQUEST: add-node needs port/],
    ['node=n4;host=h;port=0', /BAD_REQUEST: add-node needs port/],
    ['node=n4;host=h;port=65536', /BAD_REQUEST: add-node needs port/],
    ['node=n4;host=h;port=12x', /BAD_REQUEST: add-node needs port/],
    ['node=n4;host=h;port=1;wait=0', /BAD_REQUEST: wait must be between/],
    ['node=n4;host=h;port=1;wait=3600001', /BAD_REQUEST: wait must be between/],
    ['node=n4;host=h;port=1;voter=1', /BAD_REQUEST: unknown parameter "voter"/],
    ['node=n4;node=n5;host=h;port=1', /BAD_REQUEST: parameter "node" given twice/],
  ] as const) {
    assert.match(error(get(key, params)), expected, params);
  }
});

test('remove-node takes exactly a node id', () => {
  assert.deepEqual(value(get(adminKey(P, 'remove-node'), 'node=n1')), { kind: 'admin', op: { op: 'removeNode', node: 'n1' } });
  assert.match(error(get(adminKey(P, 'remove-node'))), /BAD_REQUEST: node must be/);
  assert.match(error(get(adminKey(P, 'remove-node'), 'node=n*')), /BAD_REQUEST: node must be/);
  assert.match(error(get(adminKey(P, 'remove-node'), 'node=n1;host=h')), /BAD_REQUEST: unknown parameter "host"/);
});

test('unknown admin operations are UNKNOWN_OP, and the admin keys are not mailboxes', () => {
  assert.match(error(get(`${P}/@cluster/admin/promote`, 'node=n1')), /UNKNOWN_OP: unknown admin operation "promote"/);
  assert.match(error(get(`${P}/@cluster/admin/`)), /UNKNOWN_OP/);
  // Without the admin prefix, "@cluster" is not a valid user id.
  assert.match(error(get(`${P}/@cluster/add-node`, 'node=n1')), /^BAD_USER/);
});

test('set-quotas takes any of the three quotas, needs the admin operation, and refuses bad values', () => {
  const key = adminKey(P, 'set-quotas');
  assert.equal(key, `${P}/@cluster/admin/set-quotas`);
  const all = value(get(key, 'maxMessages=1000;maxBytes=1048576;maxMailboxes=10'));
  assert.deepEqual(all, { kind: 'command', command: { op: 'setQuotas', maxMessages: 1000, maxBytes: 1_048_576, maxMailboxes: 10 } });
  assert.deepEqual(accessOf(all), { op: 'admin', user: null });
  assert.deepEqual(value(get(key, 'maxBytes=5')), { kind: 'command', command: { op: 'setQuotas', maxBytes: 5 } });
  assert.deepEqual(value(get(key)), { kind: 'command', command: { op: 'setQuotas' } });
  for (const [params, expected] of [
    ['maxMessages=0', /BAD_REQUEST: maxMessages must be an integer between 1 and/],
    ['maxMessages=-1', /BAD_REQUEST: maxMessages must be/],
    ['maxBytes=1.5', /BAD_REQUEST: maxBytes must be/],
    ['maxBytes=1e9', /BAD_REQUEST: maxBytes must be/],
    [`maxMailboxes=${QUOTA_CEILINGS.maxMailboxes + 1}`, /BAD_REQUEST: maxMailboxes must be/],
    ['messages=5', /BAD_REQUEST: unknown parameter "messages"/],
  ] as const) {
    assert.match(error(get(key, params)), expected, params);
  }
});
