import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { MailboxStateMachine } from '../../src/mailbox/replicated.js';
import {
  ClusterStateMachine,
  directoryRefusalOf,
  encodeDirectoryEntry,
  encodeMailboxEntry,
  mailboxResultOf,
  MAX_DIRECTORY_PEERS,
  type ClusterResult,
  type DirectoryCommand,
} from '../../src/node/cluster-state-machine.js';
import type { PeerAddress } from '../../src/identifiers.js';
import { MAX_LEARNERS, MAX_VOTERS } from '../../src/raft/membership.js';
import { WireError } from '../../src/wire/wire-error.js';

const meta = (index: number) => ({ index, term: 1, time: 1_700_000_000_000 + index });
const text = (s: string) => new TextEncoder().encode(s);

/** A result as plain data, body bytes included (a delivered message's body is an accessor). */
function plain(r: ClusterResult): unknown {
  if (r.entry !== 'mailbox' || r.result.kind !== 'message') return r;
  return { ...r, result: { ...r.result, message: { ...r.result.message, body: Array.from(r.result.message.body) } } };
}

function machine() {
  const changes: Record<string, PeerAddress>[] = [];
  const sm = new ClusterStateMachine(new MailboxStateMachine(), (peers) => changes.push(peers));
  return { sm, changes };
}

test('mailbox entries reach the mailbox; directory entries change only the directory', () => {
  const { sm, changes } = machine();
  const put = mailboxResultOf(sm.apply(encodeMailboxEntry({ op: 'put', user: 'u1', body: text('hello') }), meta(1)));
  assert.equal(put.kind, 'put');
  assert.deepEqual(sm.apply(encodeDirectoryEntry({ op: 'set', node: 'n4', host: '10.0.0.4', port: 7004 }), meta(2)), { entry: 'directory', refused: null });
  assert.deepEqual(sm.peers(), { n4: { host: '10.0.0.4', port: 7004 } });
  assert.deepEqual(changes, [{ n4: { host: '10.0.0.4', port: 7004 } }]);
  // Setting the same address again is no change; deleting an unknown node neither.
  sm.apply(encodeDirectoryEntry({ op: 'set', node: 'n4', host: '10.0.0.4', port: 7004 }), meta(3));
  sm.apply(encodeDirectoryEntry({ op: 'delete', node: 'n9' }), meta(4));
  assert.equal(changes.length, 1);
  sm.apply(encodeDirectoryEntry({ op: 'delete', node: 'n4' }), meta(5));
  assert.deepEqual(sm.peers(), {});
  assert.equal(changes.length, 2);
  const consumed = mailboxResultOf(sm.apply(encodeMailboxEntry({ op: 'consume', user: 'u1' }), meta(6)));
  assert.equal(consumed.kind, 'message');
});

test('garbage entries yield a typed undecodable result and change nothing', () => {
  const { sm, changes } = machine();
  sm.apply(encodeDirectoryEntry({ op: 'set', node: 'n4', host: 'h4', port: 4 }), meta(1));
  const before = sm.snapshot();
  const bad: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([7, 1, 2]),
    new Uint8Array([1]),
    new Uint8Array([1, 9, 2, 0, 0x6e, 0x31]),
    new Uint8Array([1, 2, 2, 0, 0x6e]), // truncated node id
    new Uint8Array([1, 2, 1, 0, 0x2a]), // node id "*"
    new Uint8Array([...encodeDirectoryEntry({ op: 'delete', node: 'n4' }), 0]), // trailing byte
    new Uint8Array([1, 1, 2, 0, 0x6e, 0x35, 1, 0, 0x3b, 1, 0]), // host ";"
    new Uint8Array([1, 1, 2, 0, 0x6e, 0x35, 1, 0, 0x68, 0, 0]), // port 0
  ];
  const codes = bad.map((data) => {
    const result = sm.apply(data, meta(2));
    assert.equal(result.entry, 'undecodable', Buffer.from(data).toString('hex'));
    assert.ok(result.entry === 'undecodable' && result.error instanceof WireError);
    return result.entry === 'undecodable' && result.error.code;
  });
  assert.deepEqual(codes, ['TRUNCATED', 'UNKNOWN_TAG', 'TRUNCATED', 'UNKNOWN_TAG', 'TRUNCATED', 'INVALID', 'TRAILING_BYTES', 'INVALID', 'INVALID']);
  // The proposer sees them as refusals with the reason.
  assert.match(directoryRefusalOf(sm.apply(new Uint8Array([1, 9]), meta(3)))!, /^undecodable directory command: /);
  const asMailbox = mailboxResultOf(sm.apply(new Uint8Array([7]), meta(3)));
  assert.equal(asMailbox.kind === 'error' && asMailbox.code, 'BAD_REQUEST');
  const badCommand = mailboxResultOf(sm.apply(new Uint8Array([0, 1, 99]), meta(3)));
  assert.equal(badCommand.kind === 'error' && badCommand.code, 'BAD_REQUEST');
  assert.deepEqual(sm.snapshot(), before);
  assert.equal(changes.length, 1);
  const invalid = (e: unknown) => e instanceof WireError && e.code === 'INVALID';
  assert.throws(() => encodeDirectoryEntry({ op: 'set', node: 'a/b', host: 'h', port: 1 }), invalid);
  assert.throws(() => encodeDirectoryEntry({ op: 'set', node: 'n1', host: 'h', port: 70000 }), invalid);
});

test('the directory refuses new peers beyond its bound', () => {
  const { sm } = machine();
  for (let i = 0; i < MAX_DIRECTORY_PEERS; i++) sm.apply(encodeDirectoryEntry({ op: 'set', node: `n${i}`, host: 'h', port: 1 }), meta(i + 1));
  const refused = directoryRefusalOf(sm.apply(encodeDirectoryEntry({ op: 'set', node: 'extra', host: 'h', port: 1 }), meta(9999)));
  assert.match(refused ?? '', /full/);
  // Moving a known peer is still allowed.
  assert.equal(directoryRefusalOf(sm.apply(encodeDirectoryEntry({ op: 'set', node: 'n0', host: 'h2', port: 2 }), meta(10_000))), null);
  assert.equal(Object.keys(sm.peers()).length, MAX_DIRECTORY_PEERS);
});

test('a full directory of the longest ids and hosts snapshots and restores; it has room for every member', () => {
  assert.ok(MAX_DIRECTORY_PEERS >= MAX_VOTERS + MAX_LEARNERS);
  const { sm } = machine();
  for (let i = 0; i < MAX_DIRECTORY_PEERS; i++) {
    const cmd = { op: 'set' as const, node: `${i}`.padStart(32, 'n'), host: `${i}`.padStart(253, 'h'), port: 65535 };
    assert.equal(directoryRefusalOf(sm.apply(encodeDirectoryEntry(cmd), meta(i + 1))), null);
  }
  const copy = machine().sm;
  copy.restore(sm.snapshot());
  assert.deepEqual(copy.peers(), sm.peers());
  assert.equal(Object.keys(copy.peers()).length, MAX_DIRECTORY_PEERS);
});

const directoryCommand: fc.Arbitrary<DirectoryCommand> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    node: fc.constantFrom('n1', 'n2', 'n3', 'n4', 'node_5'),
    host: fc.constantFrom('127.0.0.1', 'db-1.example', '::1'),
    port: fc.integer({ min: 1, max: 65535 }),
  }),
  fc.record({ op: fc.constant('delete' as const), node: fc.constantFrom('n1', 'n2', 'n3', 'n4', 'node_5') }),
);
const entry = fc.oneof(
  directoryCommand.map(encodeDirectoryEntry),
  fc.record({ user: fc.constantFrom('a', 'b'), body: fc.uint8Array({ maxLength: 8 }) }).map(({ user, body }) =>
    encodeMailboxEntry({ op: 'put', user, body }),
  ),
  fc.constantFrom('a', 'b').map((user) => encodeMailboxEntry({ op: 'consume', user })),
);

test('determinism and snapshot round trip: replicas applying the same entries agree, a restored copy continues identically', () => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 40 }), fc.array(entry, { maxLength: 20 }), (prefix, suffix) => {
      const a = machine().sm;
      const b = machine().sm;
      prefix.forEach((e, i) => assert.deepEqual(plain(a.apply(e, meta(i + 1))), plain(b.apply(e, meta(i + 1)))));
      const image = a.snapshot();
      assert.deepEqual(image, b.snapshot());
      const { sm: c, changes } = machine();
      c.restore(image);
      assert.deepEqual(c.peers(), a.peers());
      assert.deepEqual(changes, [a.peers()]);
      assert.deepEqual(c.snapshot(), image);
      suffix.forEach((e, i) => assert.deepEqual(plain(c.apply(e, meta(100 + i))), plain(a.apply(e, meta(100 + i)))));
      assert.deepEqual(c.snapshot(), a.snapshot());
    }),
    { numRuns: 150 },
  );
});

test('a bad snapshot image is refused with a typed error and leaves the state as it was', () => {
  const { sm } = machine();
  sm.apply(encodeDirectoryEntry({ op: 'set', node: 'n4', host: 'h4', port: 4 }), meta(1));
  sm.apply(encodeMailboxEntry({ op: 'put', user: 'u', body: text('x') }), meta(2));
  const good = sm.snapshot();
  const before = sm.snapshot();
  const corrupt = (f: (b: Uint8Array) => void) => {
    const b = good.slice();
    f(b);
    return b;
  };
  const images = [
    new Uint8Array(0),
    good.subarray(0, good.length - 1),
    new Uint8Array([...good, 0]),
    corrupt((b) => (b[0] = 0x58)), // magic
    corrupt((b) => (b[4] = 3)), // version
    corrupt((b) => (b[5] = 0xff)), // impossible peer count
  ];
  for (const image of images) {
    assert.throws(() => sm.restore(image), (err: Error) => err instanceof WireError, Buffer.from(image.subarray(0, 12)).toString('hex'));
    assert.deepEqual(sm.snapshot(), before);
  }
  // Peers out of order (two entries swapped) are not the canonical encoding.
  const two = machine().sm;
  two.apply(encodeDirectoryEntry({ op: 'set', node: 'a1', host: 'h', port: 1 }), meta(1));
  two.apply(encodeDirectoryEntry({ op: 'set', node: 'b1', host: 'h', port: 1 }), meta(2));
  const swapped = two.snapshot();
  swapped[11] = 0x62; // first node id "a1" → "b1": now a duplicate
  assert.throws(() => machine().sm.restore(swapped), /increasing/);
  // A version-1 image whose u32 mailbox snapshot length does not say the rest of the image.
  const mailbox = sm.mailbox.snapshot();
  const v1 = (length: number) => {
    const head = good.slice(0, good.length - mailbox.length);
    head[4] = 1;
    const n = new Uint8Array(4);
    new DataView(n.buffer).setUint32(0, length, true);
    return new Uint8Array([...head, ...n, ...mailbox]);
  };
  machine().sm.restore(v1(mailbox.length));
  for (const [length, code] of [
    [mailbox.length + 1, 'TRUNCATED'],
    [mailbox.length - 1, 'TRAILING_BYTES'],
    [0xffffffff, 'TRUNCATED'],
  ] as const) {
    assert.throws(() => sm.restore(v1(length)), (err: Error) => err instanceof WireError && err.code === code, `length ${length}`);
    assert.deepEqual(sm.snapshot(), before);
  }
});

// Golden bytes: directory entries live in the Raft log and the image in snapshots on disk, so a
// refactor must leave every byte as it is (a change of format bumps the version instead).
test('golden bytes: directory and mailbox entries and the snapshot image encode exactly as before', () => {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const entries = [
    encodeDirectoryEntry({ op: 'set', node: 'n2', host: '10.0.0.2', port: 7002 }),
    encodeDirectoryEntry({ op: 'set', node: 'n1', host: 'db-1.example', port: 65535 }),
    encodeDirectoryEntry({ op: 'delete', node: 'n9' }),
    encodeMailboxEntry({ op: 'put', user: 'ann', body: Uint8Array.from([0xfe]), id: 'x' }),
  ];
  assert.deepEqual(entries.map(hex), [
    '010102006e32080031302e302e302e325a1b',
    '010102006e310c0064622d312e6578616d706c65ffff',
    '010202006e39',
    '0002010300616e6e0101007801000000fe',
  ]);
  const { sm } = machine();
  entries.forEach((e, i) => sm.apply(e, { index: i + 1, term: 2, time: 1_700_000_000_000 + 10 * i }));
  const golden =
    'RkNTTQICAAAAAgBuMQwAZGItMS5leGFtcGxl//8CAG4yCAAxMC4wLjAuMlobRk1CWAUAAOCBVv68eEIAAAAAAADwPwAAAACAhD5BAAAAAAAA0EEAAAAAgIQuQQAAAACAhC5BAAAAAABq+EABAAAAAwBhbm4BAAAAAAAAAAAA8D8BAQB4AOCBVv68eEIA4EG8UL14QgAAAAABAAAA/gAAAAAAAAAAAAAAAAEAAAADAGFubgAAAQB4AAAAAAAA8D8A4P3o/rx4QgAAAAA=';
  assert.equal(Buffer.from(sm.snapshot()).toString('base64'), golden);
  const copy = machine().sm;
  copy.restore(Buffer.from(golden, 'base64'));
  assert.equal(Buffer.from(copy.snapshot()).toString('base64'), golden);
  // The same state in the image written before the id tables' quotas (mailbox snapshot version
  // 4): they get the bounds that were fixed then, which are their defaults.
  const goldenV4 =
    'RkNTTQICAAAAAgBuMQwAZGItMS5leGFtcGxl//8CAG4yCAAxMC4wLjAuMlobRk1CWAQAAOCBVv68eEIAAAAAAADwPwAAAACAhD5BAAAAAAAA0EEAAAAAgIQuQQEAAAADAGFubgEAAAAAAAAAAADwPwEBAHgA4IFW/rx4QgDgQbxQvXhCAAAAAAEAAAD+AAAAAAAAAAAAAAAAAQAAAAMAYW5uAAABAHgAAAAAAADwPwDg/ej+vHhCAAAAAA==';
  const v4 = machine().sm;
  v4.restore(Buffer.from(goldenV4, 'base64'));
  assert.equal(Buffer.from(v4.snapshot()).toString('base64'), golden);
  // The same state in the cluster snapshot version 1 (a u32 length in front of the mailbox
  // snapshot), which the images below are in as well.
  const goldenClusterV1 =
    'RkNTTQECAAAAAgBuMQwAZGItMS5leGFtcGxl//8CAG4yCAAxMC4wLjAuMlobjgAAAEZNQlgEAADggVb+vHhCAAAAAAAA8D8AAAAAgIQ+QQAAAAAAANBBAAAAAICELkEBAAAAAwBhbm4BAAAAAAAAAAAA8D8BAQB4AOCBVv68eEIA4EG8UL14QgAAAAABAAAA/gAAAAAAAAAAAAAAAAEAAAADAGFubgAAAQB4AAAAAAAA8D8A4P3o/rx4QgAAAAA=';
  const clusterV1 = machine().sm;
  clusterV1.restore(Buffer.from(goldenClusterV1, 'base64'));
  assert.equal(Buffer.from(clusterV1.snapshot()).toString('base64'), golden);
  // The same state in the image written before delayed delivery (mailbox snapshot version 3).
  const goldenV3 =
    'RkNTTQECAAAAAgBuMQwAZGItMS5leGFtcGxl//8CAG4yCAAxMC4wLjAuMlobigAAAEZNQlgDAADggVb+vHhCAAAAAAAA8D8AAAAAgIQ+QQAAAAAAANBBAAAAAICELkEBAAAAAwBhbm4BAAAAAAAAAAAA8D8BAQB4AOCBVv68eEIA4EG8UL14QgAAAAABAAAA/gAAAAAAAAAAAQAAAAMAYW5uAAABAHgAAAAAAADwPwDg/ej+vHhCAAAAAA==';
  const v3 = machine().sm;
  v3.restore(Buffer.from(goldenV3, 'base64'));
  assert.equal(Buffer.from(v3.snapshot()).toString('base64'), golden);
  // The same state in the images written before quotas (mailbox snapshot version 2) and before
  // principals (version 1) still restores, with the default quotas.
  const goldenV2 =
    'RkNTTQECAAAAAgBuMQwAZGItMS5leGFtcGxl//8CAG4yCAAxMC4wLjAuMlobcgAAAEZNQlgCAADggVb+vHhCAAAAAAAA8D8BAAAAAwBhbm4BAAAAAAAAAAAA8D8BAQB4AOCBVv68eEIA4EG8UL14QgAAAAABAAAA/gAAAAAAAAAAAQAAAAMAYW5uAAABAHgAAAAAAADwPwDg/ej+vHhCAAAAAA==';
  const v2 = machine().sm;
  v2.restore(Buffer.from(goldenV2, 'base64'));
  assert.equal(Buffer.from(v2.snapshot()).toString('base64'), golden);
  const goldenV1 =
    'RkNTTQECAAAAAgBuMQwAZGItMS5leGFtcGxl//8CAG4yCAAxMC4wLjAuMlobcAAAAEZNQlgBAADggVb+vHhCAAAAAAAA8D8BAAAAAwBhbm4BAAAAAAAAAAAA8D8BAQB4AOCBVv68eEIA4EG8UL14QgAAAAABAAAA/gAAAAAAAAAAAQAAAAMAYW5uAQB4AAAAAAAA8D8A4P3o/rx4QgAAAAA=';
  const old = machine().sm;
  old.restore(Buffer.from(goldenV1, 'base64'));
  assert.equal(Buffer.from(old.snapshot()).toString('base64'), golden);
});
