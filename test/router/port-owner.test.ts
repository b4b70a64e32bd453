// Which process listens on a port, from /proc: this process's own listener is its own; a port a
// child process listens on, or nobody does, is not; the kernel's table lines are read by state and port.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { listeningInodes, listensOn } from '../../src/router/port-owner.js';
import { freePort } from '../../src/router/zenoh-router.js';

test('a port this process listens on is its own; one a child listens on, or a free one, is not', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const own = (server.address() as { port: number }).port;
  const childPort = await freePort();
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${childPort}, '127.0.0.1', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(child.stdout!, 'data');
    assert.equal(listensOn(process.pid, own), true);
    assert.equal(listensOn(process.pid, childPort), false);
    assert.equal(listensOn(child.pid!, childPort), true);
    assert.equal(listensOn(process.pid, await freePort()), false);
  } finally {
    child.kill();
    server.close();
  }
});

test('listening sockets are told by state and port, on IPv4 and IPv6 tables', () => {
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const v4 = [
    header,
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 20 4 30 10 -1',
    '   2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0',
  ].join('\n');
  const v6 = [header, '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1 0 100 0 0 10 0'].join('\n');
  assert.deepEqual([...listeningInodes([v4, v6], 8080)].sort(), ['111', '444']);
  assert.deepEqual([...listeningInodes([v4, ''], 8081)], ['333']);
  assert.deepEqual([...listeningInodes([v4], 80)], []);
});
