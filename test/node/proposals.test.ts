// The proposer's part of a leased consume: fresh receipt randomness, drawn here (the mailbox is
// pure) and carried in the log entry. Proposing itself is covered with a real driver by the
// cluster tests; this pins what goes into the entry.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MailboxCommand } from '../../src/mailbox/commands.js';
import { RECEIPT_NONCE_PATTERN } from '../../src/mailbox/validate.js';
import { RECEIPT_NONCE_BYTES, withReceiptNonce } from '../../src/node/proposals.js';

test('every leased consume gets 96 fresh bits of base64url, replacing any nonce it came with', () => {
  const cmd: MailboxCommand = { op: 'consume', user: 'u', leaseMs: 1000, requestId: 'r', principal: 'alice', receiptNonce: 'AAAAAAAAAAAAAAAA' };
  const nonces = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const stamped = withReceiptNonce(cmd);
    assert.equal(stamped.op, 'consume');
    const { receiptNonce, ...rest } = stamped as Extract<MailboxCommand, { op: 'consume' }>;
    assert.deepEqual(rest, { op: 'consume', user: 'u', leaseMs: 1000, requestId: 'r', principal: 'alice' });
    assert.match(receiptNonce!, RECEIPT_NONCE_PATTERN);
    assert.equal(Buffer.from(receiptNonce!, 'base64url').length, RECEIPT_NONCE_BYTES);
    nonces.add(receiptNonce!);
  }
  assert.equal(nonces.size, 1000, 'no nonce repeats');
  assert.equal(cmd.receiptNonce, 'AAAAAAAAAAAAAAAA', 'the command passed in is not changed');
});

test('commands other than a leased consume go unchanged', () => {
  const unchanged: MailboxCommand[] = [
    { op: 'consume', user: 'u', requestId: 'r' },
    { op: 'put', user: 'u', body: new Uint8Array([1]), id: 'x', principal: 'svc' },
    { op: 'ack', user: 'u', receipt: '1.1.AAAAAAAAAAAAAAAA' },
    { op: 'expire' },
  ];
  for (const cmd of unchanged) assert.equal(withReceiptNonce(cmd), cmd);
});
