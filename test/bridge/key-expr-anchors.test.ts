import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nonWildPrefix } from '../../src/bridge/key-expr-anchors.js';
import { adminKeyExpr, clusterStatusKey, mailboxKeyExpr, waitLaneKeyExpr } from '../../src/bridge/key-space.js';

test("the prefix anchored is zenoh's non-wild prefix: all chunks before the first one holding a wildcard", () => {
  assert.equal(nonWildPrefix(mailboxKeyExpr('forge/mailbox')), 'forge/mailbox');
  assert.equal(nonWildPrefix(clusterStatusKey('forge/mailbox')), 'forge/mailbox/@cluster/status');
  assert.equal(nonWildPrefix(adminKeyExpr('forge/mailbox')), 'forge/mailbox/@cluster/admin');
  assert.equal(nonWildPrefix(waitLaneKeyExpr('forge/mailbox', 3)), 'forge/mailbox/@wait/3');
  assert.equal(nonWildPrefix('a/b$*/c'), 'a');
  assert.equal(nonWildPrefix('**/c'), null);
  assert.equal(nonWildPrefix('a*/c'), null);
});
