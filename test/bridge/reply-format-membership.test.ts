// Replies of the cluster administration keys: the membership after a change, and the admin error codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminError } from '../../src/bridge/cluster-admin.js';
import { serviceErrorToBody } from '../../src/bridge/mailbox-service.js';
import { decodeError, decodeReply, encodeError, encodeMembership, ReplyDecodeError } from '../../src/bridge/reply-format.js';
import { RaftError } from '../../src/raft/types.js';

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

test('admin refusals keep their codes on the wire; a change in progress is not "unavailable"', () => {
  for (const [err, code] of [
    [new AdminError('UNKNOWN_NODE', 'n9 is not a member'), 'UNKNOWN_NODE'],
    [new AdminError('ALREADY_MEMBER', 'n2 is already a voter'), 'ALREADY_MEMBER'],
    [new RaftError('CONF_CHANGE_IN_PROGRESS', 'change at 12 not committed yet'), 'CONF_CHANGE_IN_PROGRESS'],
    [new RaftError('INVALID_REQUEST', 'cannot remove the last voter'), 'BAD_REQUEST'],
  ] as const) {
    const body = serviceErrorToBody(err);
    assert.equal(body.code, code);
    assert.deepEqual(decodeError(encodeError(body)), body);
  }
});
