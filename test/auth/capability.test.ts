import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_USERS, AuthError, authorize, type Capability, type Operation } from '../../src/auth/capability.js';

const cap = (users: string[] | '*', ops: Operation[]): Capability => ({
  principal: 'p',
  users: users === ALL_USERS ? ALL_USERS : new Set(users),
  ops: new Set(ops),
  expiresAt: Number.MAX_SAFE_INTEGER,
  keyId: 'k',
});

const forbidden = (fn: () => void, reason: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof AuthError && e.code === 'FORBIDDEN' && reason.test(e.message));

test('a consumer of one mailbox may consume it and nothing else', () => {
  const alice = cap(['alice'], ['consume', 'peek', 'ack']);
  authorize(alice, { op: 'consume', user: 'alice' });
  authorize(alice, { op: 'ack', user: 'alice' });
  forbidden(() => authorize(alice, { op: 'consume', user: 'bob' }), /mailbox bob/);
  forbidden(() => authorize(alice, { op: 'purge', user: 'alice' }), /may not purge/);
  forbidden(() => authorize(alice, { op: 'put', user: 'alice' }), /may not put/);
  forbidden(() => authorize(alice, { op: 'admin', user: null }), /may not admin/);
  forbidden(() => authorize(alice, { op: 'status', user: null }), /may not status/);
});

test('a producer may put into every mailbox but not read any', () => {
  const svc = cap('*', ['put']);
  authorize(svc, { op: 'put', user: 'alice' });
  authorize(svc, { op: 'put', user: 'bob' });
  forbidden(() => authorize(svc, { op: 'consume', user: 'alice' }), /may not consume/);
  forbidden(() => authorize(svc, { op: 'peek', user: 'alice' }), /may not peek/);
});

test('admin implies status; nothing else implies anything', () => {
  const ops = cap([], ['admin']);
  authorize(ops, { op: 'admin', user: null });
  authorize(ops, { op: 'status', user: null });
  forbidden(() => authorize(ops, { op: 'consume', user: 'alice' }), /may not consume/);
});
