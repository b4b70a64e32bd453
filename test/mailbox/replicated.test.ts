// The log-entry adapter: it is a Raft StateMachine by shape, returns typed results, never throws
// on a bad entry, and serves queries from the applied state.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { MailboxResult } from '../../src/mailbox/commands.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import type { StateMachine } from '../../src/raft/types.js';

test('structurally a Raft StateMachine', () => {
  const sm: StateMachine<MailboxResult> = new MailboxStateMachine();
  assert.equal(typeof sm.apply, 'function');
});

test('an undecodable entry yields a BAD_REQUEST result naming the problem and changes nothing', () => {
  const sm = new MailboxStateMachine();
  sm.apply(encodeCommand({ op: 'put', user: 'ann', body: new Uint8Array([1]) }), { index: 1, term: 1, time: 10 });
  const before = sm.snapshot();
  for (const junk of [new Uint8Array(), new Uint8Array([1, 99]), new Uint8Array([7, 7, 7, 7])]) {
    const res = sm.apply(junk, { index: 2, term: 1, time: 20 });
    assert.equal(res.kind, 'error');
    assert.equal(res.kind === 'error' && res.code, 'BAD_REQUEST');
    assert.match(res.kind === 'error' ? res.message : '', /^undecodable command: /);
    assert.deepEqual(sm.snapshot(), before);
  }
});

test('applies encoded commands and answers queries from the applied state', () => {
  const sm = new MailboxStateMachine({ defaultTtlMs: 1000 });
  const put = sm.apply(encodeCommand({ op: 'put', user: 'ann', body: new Uint8Array([4, 5]) }), { index: 1, term: 1, time: 10 });
  assert.deepEqual(put, { kind: 'put', id: '@1', seq: 1, duplicate: false });
  const peek = sm.query({ op: 'peek', user: 'ann' }, 500);
  assert.equal(peek.kind, 'message');
  assert.deepEqual(peek.kind === 'message' && Array.from(peek.message.body), [4, 5]);
  assert.deepEqual(sm.query({ op: 'len', user: 'ann' }, 500), {
    kind: 'stats',
    stats: { count: 1, bytes: 2, oldestAgeMs: 490, inFlight: 0, deadLetterCount: 0 },
  });
  assert.deepEqual(sm.query({ op: 'peek', user: 'ann' }, 1010), { kind: 'empty' });
  const got = sm.apply(encodeCommand({ op: 'consume', user: 'ann' }), { index: 2, term: 1, time: 20 });
  assert.equal(got.kind, 'message');
  assert.deepEqual(got.kind === 'message' && Array.from(got.message.body), [4, 5]);
});
