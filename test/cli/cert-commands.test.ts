// `forge-mailbox certs ca` / `certs issue`, run as the real CLI (bin/forge-mailbox over dist).

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { certificateNodeId } from '../../src/raft/peer-tls.js';
import { cliPath, runProgram } from '../support/e2e.js';

const cli = (...args: string[]) => runProgram(cliPath, args);

test('certs ca then certs issue: a private CA and node certificates naming their node, signed by it; mistakes exit 3', async () => {
  const root = mkdtempSync(join(tmpdir(), 'forge-certs-cli-'));
  const dir = join(root, 'peer-tls');
  try {
    assert.equal((await cli('certs', 'issue', '--dir', dir, '--node', 'n1')).code, 3, 'no CA yet');
    const ca = await cli('certs', 'ca', '--dir', dir);
    assert.equal(ca.code, 0, ca.stderr);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
    assert.equal((await cli('certs', 'ca', '--dir', dir)).code, 3, 'an existing CA is never replaced');

    const issued = await cli('certs', 'issue', '--dir', dir, '--node', 'n1', '--node', 'n2');
    assert.equal(issued.code, 0, issued.stderr);
    const lines = issued.stdout.trim().split('\n').map((l) => JSON.parse(l) as { node: string; peerTls: { caFile: string; certFile: string; keyFile: string } });
    assert.deepEqual(lines.map((l) => l.node), ['n1', 'n2']);
    const caCert = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    for (const { node, peerTls } of lines) {
      assert.equal(statSync(peerTls.keyFile).mode & 0o777, 0o600);
      const cert = new X509Certificate(readFileSync(peerTls.certFile));
      assert.equal(certificateNodeId(cert), node);
      assert.ok(cert.verify(caCert.publicKey), `${node}'s certificate is signed by the CA`);
      assert.equal(cert.ca, false);
    }
    const before = readFileSync(lines[0]!.peerTls.certFile, 'utf8');
    assert.equal((await cli('certs', 'issue', '--dir', dir, '--node', 'n1')).code, 0);
    assert.equal(readFileSync(lines[0]!.peerTls.certFile, 'utf8'), before, 'kept without --renew');
    assert.equal((await cli('certs', 'issue', '--dir', dir, '--node', 'n1', '--renew')).code, 0);
    assert.notEqual(readFileSync(lines[0]!.peerTls.certFile, 'utf8'), before, 'replaced with --renew');
    const bad = await cli('certs', 'issue', '--dir', dir, '--node', 'n1/../x');
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /not a node id/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
