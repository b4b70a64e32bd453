// The managed router that the test clusters and `npm start` run (src/router/zenoh-router.ts).

import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { ephemeralRangeStart, freePort, ZenohRouter } from '../../src/router/zenoh-router.js';

test('freePort picks ports below the ephemeral range, where no outgoing connection takes one, and a listener can bind them', async () => {
  const rangeStart = ephemeralRangeStart();
  if (process.platform === 'linux') assert.ok(rangeStart !== null, 'Linux gives its ephemeral range');
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    if (rangeStart !== null) assert.ok(port >= 20_000 && port < rangeStart, `${port} below ${rangeStart}`);
    const server = createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    server.close();
    await once(server, 'close');
  }
});

/**
 * Starts a managed router whose `which` port is first picked as `taken`, held by someone else, and
 * checks that it started on other ports instead.
 */
async function startsElsewhere(which: 'wsPort' | 'zenohPort', taken: number): Promise<void> {
  // The ports are picked in this order: the WebSocket's, then the native one.
  const takenPick = which === 'wsPort' ? 1 : 2;
  let picks = 0;
  const router = await ZenohRouter.start({ pickPort: () => (++picks === takenPick ? Promise.resolve(taken) : freePort()) });
  try {
    assert.notEqual(router[which], taken);
    assert.equal(picks, 4, 'two ports for the failed start, two for the next');
    assert.equal(router.running, true);
  } finally {
    await router.stop();
  }
}

test('a router whose port was taken before it bound it starts again on other ports', { timeout: 60_000 }, async () => {
  // A port held by someone else, handed out as the router's native (Zenoh TCP) port, as freePort
  // can when another process takes its port in between: the router cannot listen and exits.
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  try {
    await startsElsewhere('zenohPort', (holder.address() as { port: number }).port);
  } finally {
    holder.close();
  }
});

test('a router whose WebSocket port another server answers on is not taken for started: it starts again on other ports', { timeout: 60_000 }, async () => {
  // The handshake the start waits for would succeed on this server, not on the router.
  const holder = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(holder, 'listening');
  try {
    await startsElsewhere('wsPort', (holder.address() as { port: number }).port);
  } finally {
    holder.close();
  }
});

test('a stopped router leaves no files behind: its directory held the Zenoh users\' passwords', { timeout: 60_000 }, async () => {
  const router = await ZenohRouter.start({ gateway: true });
  const { dir, routerConfig, clientConfig } = router.files;
  assert.match(readFileSync(clientConfig, 'utf8'), /password/, 'the client configuration holds a password');
  assert.equal(existsSync(routerConfig), true);
  await router.stop();
  assert.equal(existsSync(dir), false, `${dir} removed`);
  assert.equal(router.running, false);
});
