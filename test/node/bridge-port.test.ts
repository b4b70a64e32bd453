// The node's adapter for the bridge port: Raft and membership refusals become the error codes a
// client sees, with the leader hint; results and unknown failures pass through unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceError, serviceErrorToBody } from '../../src/bridge/mailbox-service.js';
import { decodeError, encodeError } from '../../src/bridge/reply-format.js';
import { bridgePort, toServiceError, type NodeOperations } from '../../src/node/bridge-port.js';
import { ParkingFullError } from '../../src/node/long-poll.js';
import { AdminError } from '../../src/node/membership-admin.js';
import { RaftError } from '../../src/raft/types.js';

const clientBody = (err: unknown) => serviceErrorToBody(toServiceError(err));

test('Raft refusals map to client error codes, keeping the message and the leader hint', () => {
  assert.deepEqual(clientBody(new RaftError('NOT_LEADER', 'not me', 'n3')), { code: 'NOT_LEADER', message: 'not me', leader: 'n3' });
  assert.deepEqual(clientBody(new RaftError('NOT_LEADER', 'no leader known')), { code: 'NOT_LEADER', message: 'no leader known' });
  for (const [code, client] of [
    ['NO_QUORUM', 'UNAVAILABLE'],
    ['TIMEOUT', 'TIMEOUT'],
    ['LEADERSHIP_LOST', 'LEADERSHIP_LOST'],
    ['BACKLOG_FULL', 'BACKLOG_FULL'],
    ['TRANSFER_IN_PROGRESS', 'UNAVAILABLE'],
    ['STOPPED', 'UNAVAILABLE'],
  ] as const) {
    assert.equal(clientBody(new RaftError(code, 'x')).code, client, code);
  }
});

test('admin refusals keep their codes on the wire; a change in progress is not "unavailable"', () => {
  for (const [err, code] of [
    [new AdminError('UNKNOWN_NODE', 'n9 is not a member'), 'UNKNOWN_NODE'],
    [new AdminError('ALREADY_MEMBER', 'n2 is already a voter'), 'ALREADY_MEMBER'],
    [new AdminError('MEMBERSHIP_FULL', 'already 7 voters (at most 7)'), 'MEMBERSHIP_FULL'],
    [new RaftError('MEMBERSHIP_FULL', 'already 2 learners (at most 2)'), 'MEMBERSHIP_FULL'],
    [new RaftError('CONF_CHANGE_IN_PROGRESS', 'change at 12 not committed yet'), 'CONF_CHANGE_IN_PROGRESS'],
    [new RaftError('INVALID_REQUEST', 'cannot remove the last voter'), 'BAD_REQUEST'],
  ] as const) {
    const body = clientBody(err);
    assert.equal(body.code, code);
    assert.deepEqual(decodeError(encodeError(body)), body);
  }
});

test('any other error is INTERNAL with its message', () => {
  assert.deepEqual(clientBody(new Error('boom')), { code: 'INTERNAL', message: 'boom' });
  assert.equal(clientBody({ code: 'NOT_LEADER' }).code, 'INTERNAL', 'only the node’s own error classes are mapped');
});

test('the port passes results through and rejects with ServiceErrors', async () => {
  const roles: Array<(leader: boolean) => void> = [];
  const node: NodeOperations = {
    isLeader: () => true,
    onRoleChange: (l) => {
      roles.push(l);
      return () => {};
    },
    command: async (cmd) => {
      if (cmd.op === 'expire') return { kind: 'expired', expired: 0, deadLettered: 0, leasesReturned: 0 };
      throw new RaftError('TIMEOUT', 'not committed in time');
    },
    consumeWaiting: async () => {
      throw new ParkingFullError(3);
    },
    query: async () => {
      throw new RaftError('NOT_LEADER', 'ask n2', 'n2');
    },
    status: async () => ({ node: 'n1' }),
    admin: async () => {
      throw new AdminError('UNKNOWN_NODE', 'n9 is not a member');
    },
  };
  const port = bridgePort(node);
  assert.equal(port.isLeader(), true);
  port.onRoleChange(() => {});
  assert.equal(roles.length, 1);
  assert.deepEqual(await port.command({ op: 'expire' }), { kind: 'expired', expired: 0, deadLettered: 0, leasesReturned: 0 });
  assert.deepEqual(await port.status(), { node: 'n1' });
  const rejection = async (p: Promise<unknown>) => p.then(() => assert.fail('resolved'), (e: unknown) => e);
  const timeout = await rejection(port.command({ op: 'purge', user: 'alice', deadLetter: false }));
  assert.ok(timeout instanceof ServiceError);
  assert.equal(timeout.code, 'TIMEOUT');
  const notLeader = await rejection(port.query({ op: 'len', user: 'alice' }));
  assert.ok(notLeader instanceof ServiceError);
  assert.deepEqual([notLeader.code, notLeader.leader], ['NOT_LEADER', 'n2']);
  const full = await rejection(port.consumeWaiting({ op: 'consume', user: 'alice' }, 1000));
  assert.ok(full instanceof ServiceError);
  assert.equal(full.code, 'BUSY', 'a node that holds as many waiting consumes as it may answers BUSY');
  const unknown = await rejection(port.admin({ op: 'removeNode', node: 'n9' }));
  assert.ok(unknown instanceof ServiceError);
  assert.equal(unknown.code, 'UNKNOWN_NODE');
});
