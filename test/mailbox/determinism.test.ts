// Replicas that apply the same log end byte-identical, whether they applied all of it or
// restored a snapshot part-way; snapshots are versioned, re-snapshot to the same bytes, and a
// damaged image is refused with a typed error without touching the state.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeCommand } from '../../src/mailbox/codec.js';
import type { MailboxResult } from '../../src/mailbox/commands.js';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import { snapshotSize } from '../../src/mailbox/snapshot.js';
import { WireError } from '../../src/wire/wire-error.js';
import { NONCES, log, options } from '../support/mailbox-log.js';

/** A result as plain data, body bytes included (a delivered message's body is an accessor). */
function plain(r: MailboxResult | undefined): unknown {
  return r?.kind === 'message' ? { ...r, message: { ...r.message, body: Array.from(r.message.body) } } : r;
}

test('three replicas applying the same log produce identical results and byte-identical snapshots', () => {
  fc.assert(
    fc.property(log, fc.nat(), (entries, cut) => {
      const replicas = [new MailboxStateMachine(options), new MailboxStateMachine(options), new MailboxStateMachine(options)];
      const split = cut % (entries.length + 1);
      for (const [i, e] of entries.entries()) {
        if (i === split) {
          // The third replica catches up from the first one's snapshot, as a lagging follower would.
          replicas[2] = new MailboxStateMachine(options);
          replicas[2].restore(replicas[0]!.snapshot());
        }
        const results = replicas.map((r) => r.apply(e.data, e.meta));
        assert.deepEqual(plain(results[1]), plain(results[0]), `entry ${i}`);
        assert.deepEqual(plain(results[2]), plain(results[0]), `entry ${i}`);
      }
      // The running totals the quotas count agree with each other and with a recount from the mailboxes.
      const recount = { messages: 0, bytes: 0, mailboxes: replicas[0]!.mailbox.state.users.size };
      for (const box of replicas[0]!.mailbox.state.users.values()) {
        recount.messages += box.held;
        recount.bytes += box.heldBytes;
      }
      for (const r of replicas) assert.deepEqual(r.mailbox.usage(), recount);
      const [a, b, c] = replicas.map((r) => r.snapshot());
      assert.equal(snapshotSize(replicas[0]!.mailbox.state), a!.length, 'size computed ahead of writing');
      assert.deepEqual(b, a);
      assert.deepEqual(c, a);
      const again = new MailboxStateMachine(options);
      again.restore(a!);
      assert.deepEqual(again.snapshot(), a);
    }),
    { numRuns: 60 },
  );
});

test('snapshot carries magic and version, and damaged images are refused without touching state', () => {
  const sm = new MailboxStateMachine();
  sm.apply(encodeCommand({ op: 'put', user: 'ann', body: new Uint8Array([1, 2, 3]), id: 'm' }), { index: 1, term: 1, time: 5 });
  sm.apply(encodeCommand({ op: 'consume', user: 'ann', leaseMs: 100, requestId: 'r', principal: 'p1', receiptNonce: NONCES[0] }), { index: 2, term: 1, time: 6 });
  sm.apply(encodeCommand({ op: 'put', user: 'bo', body: new Uint8Array([4]) }), { index: 3, term: 1, time: 7 });
  const image = sm.snapshot();
  assert.deepEqual(Array.from(image.subarray(0, 6)), [0x46, 0x4d, 0x42, 0x58, 5, 0]);

  const target = new MailboxStateMachine();
  target.apply(encodeCommand({ op: 'put', user: 'cy', body: new Uint8Array([9]) }), { index: 1, term: 1, time: 1 });
  const before = target.snapshot();
  const refuse = (data: Uint8Array) => {
    assert.throws(() => target.restore(data), WireError);
    assert.deepEqual(target.snapshot(), before);
  };
  for (let n = 0; n < image.length; n++) refuse(image.subarray(0, n));
  refuse(new Uint8Array([...image, 0]));
  const badMagic = image.slice();
  badMagic[0] = 0x47;
  refuse(badMagic);
  const badVersion = image.slice();
  badVersion[4] = 6;
  refuse(badVersion);
  const hugeCount = image.slice();
  hugeCount.set([0xff, 0xff, 0xff, 0xff], 62); // user count (after now, lastSeq, five quotas) claims 4 billion entries
  refuse(hugeCount);

  target.restore(image);
  assert.deepEqual(target.snapshot(), image);
});
