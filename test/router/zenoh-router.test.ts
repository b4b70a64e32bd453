// The managed router that the test clusters and `npm start` run (src/router/zenoh-router.ts).

import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { freePort, ZenohRouter } from '../../src/router/zenoh-router.js';

test('a router whose port was taken before it bound it starts again on other ports', { timeout: 60_000 }, async () => {
  // A port held by someone else, handed out as the router's native (Zenoh TCP) port, as freePort
  // can when another process takes its port in between: the router cannot listen and exits.
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const taken = (holder.address() as { port: number }).port;
  let picks = 0;
  const router = await ZenohRouter.start({ pickPort: () => (++picks === 2 ? Promise.resolve(taken) : freePort()) });
  try {
    assert.notEqual(router.zenohPort, taken);
    assert.equal(picks, 4, 'two ports for the failed start, two for the next');
    assert.equal(router.running, true);
  } finally {
    await router.stop();
    holder.close();
  }
});

test('a router whose WebSocket port another server answers on is not taken for started: it starts again on other ports', { timeout: 60_000 }, async () => {
  // The handshake the start waits for would succeed on this server, not on the router.
  const holder = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(holder, 'listening');
  const taken = (holder.address() as { port: number }).port;
  let picks = 0;
  const router = await ZenohRouter.start({ pickPort: () => (++picks === 1 ? Promise.resolve(taken) : freePort()) });
  try {
    assert.notEqual(router.wsPort, taken);
    assert.equal(picks, 4, 'two ports for the failed start, two for the next');
    assert.equal(router.running, true);
  } finally {
    await router.stop();
    holder.close();
  }
});
