// Replies of the cluster administration keys: the membership after a change (the admin error
// codes are mapped by the node's port adapter, test/node/bridge-port.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReply, encodeMembership, ReplyDecodeError } from '../../src/bridge/reply-format.js';

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

test('a membership reply round-trips', () => {
  const parts = encodeMembership({ voters: ['n2', 'n3', 'n4'], learners: ['n5'] });
  assert.deepEqual(decodeReply(parts.payload, parts.attachment), { status: 'membership', membership: { voters: ['n2', 'n3', 'n4'], learners: ['n5'] } });
});

test('a membership reply without lists of ids is refused', () => {
  const attachment = json({ status: 'membership' });
  for (const payload of [{ voters: ['n1'] }, { voters: 'n1', learners: [] }, { voters: [1], learners: [] }]) {
    assert.throws(() => decodeReply(json(payload), attachment), ReplyDecodeError);
  }
});
