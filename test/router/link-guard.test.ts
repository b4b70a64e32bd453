// The link guard on loopback with a plain WebSocket echo server as its "router": frames relayed
// both ways unchanged; a node that stops answering pings loses both sockets within the bound;
// one that answers keeps its link however long it stays quiet; the connections of one process
// (one link group) are pinged and cut as one; a node is let in only once the router side is open,
// and refused with 502 while the router is down.

import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { LINK_GROUP_HEADER } from '../../src/link-group.js';
import { SILENT_LOGGER } from '../../src/logger-port.js';
import { LinkGuard, parseListen } from '../../src/router/link-guard.js';
import { freePort } from '../../src/router/zenoh-router.js';

let upstream: WebSocketServer;
let guard: LinkGuard;
/** The router side of every relayed link, in order, with when it closed. */
const routerSide: Array<{ ws: WebSocket; closedAt: number | null }> = [];

before(async () => {
  upstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(upstream, 'listening');
  upstream.on('connection', (ws) => {
    const entry = { ws, closedAt: null as number | null };
    routerSide.push(entry);
    ws.on('message', (data, binary) => ws.send(data, { binary }));
    ws.on('close', () => (entry.closedAt = Date.now()));
  });
  const port = (upstream.address() as { port: number }).port;
  guard = await LinkGuard.start({ listenHost: '127.0.0.1', listenPort: 0, upstream: `ws://127.0.0.1:${port}`, pingIntervalMs: 50, deadAfterMs: 200, logger: SILENT_LOGGER });
});

after(async () => {
  await guard.close();
  await new Promise<void>((r) => upstream.close(() => r()));
});

async function connect(autoPong: boolean, group?: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${guard.port}`, { autoPong, ...(group === undefined ? {} : { headers: { [LINK_GROUP_HEADER]: group } }) });
  await once(ws, 'open');
  return ws;
}

/** Counts the pings each socket receives. */
function countPings(sockets: WebSocket[]): number[] {
  const counts = sockets.map(() => 0);
  sockets.forEach((ws, i) => ws.on('ping', () => counts[i]!++));
  return counts;
}

test('frames go through unchanged, binary and text, both ways', async () => {
  const ws = await connect(true);
  const bytes = Uint8Array.from([0, 1, 2, 255]);
  ws.send(bytes);
  const [echo, binary] = (await once(ws, 'message')) as [Buffer, boolean];
  assert.deepEqual([...echo], [...bytes]);
  assert.equal(binary, true);
  ws.send('hello');
  const [text, isBinary] = (await once(ws, 'message')) as [Buffer, boolean];
  assert.deepEqual([text.toString(), isBinary], ['hello', false]);
  ws.close();
  await once(ws, 'close');
});

test('a node that answers pings keeps its link through a long silence', async () => {
  const ws = await connect(true);
  const cutsBefore = guard.cutCount;
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(ws.readyState, WebSocket.OPEN);
  assert.equal(guard.cutCount, cutsBefore);
  ws.close();
  await once(ws, 'close');
});

test('a node that stops answering loses its router link and its own socket within the bound', async () => {
  const ws = await connect(false);
  const linked = routerSide.length;
  // One frame through, so the router side of this link is known.
  ws.send('x');
  await once(ws, 'message');
  const router = routerSide[linked - 1]!;
  const silentFrom = Date.now();
  await once(ws, 'close');
  const closedAfter = Date.now() - silentFrom;
  assert.ok(closedAfter >= 190 && closedAfter < 1000, `cut after ${closedAfter} ms`);
  for (let i = 0; router.closedAt === null && i < 50; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(router.closedAt !== null, 'the router side closed too');
  assert.equal(guard.linkCount, 0);
});

test('the connections of one link group are pinged in turn, one ping per period in all', async () => {
  const sockets = [await connect(true, 'group-a'), await connect(true, 'group-a'), await connect(true, 'group-a')];
  const pings = countPings(sockets);
  const cutsBefore = guard.cutCount;
  const pingsBefore = guard.pingCount;
  await new Promise((r) => setTimeout(r, 1000));
  const report = `pings per socket ${JSON.stringify(pings)}, guard sent ${guard.pingCount - pingsBefore}`;
  assert.ok(sockets.every((ws) => ws.readyState === WebSocket.OPEN), report);
  assert.equal(guard.cutCount, cutsBefore, report);
  // One at a time, in turn: about 1000 / 50 = 20 in all (60 if each were pinged).
  const total = pings.reduce((a, b) => a + b, 0);
  assert.ok(total >= 5 && total <= 24, report);
  assert.ok(pings.every((n) => n >= 1), report);
  for (const ws of sockets) ws.close();
  await Promise.all(sockets.map((ws) => once(ws, 'close')));
});

test('a link group heard from through the frames of one connection is not pinged, and none of its connections is cut', async () => {
  // Neither answers pings: watched alone, the first (which sends nothing) would be cut after 200 ms.
  const sockets = [await connect(false, 'group-b'), await connect(false, 'group-b')];
  const pings = countPings(sockets);
  const cutsBefore = guard.cutCount;
  const talking = setInterval(() => sockets[1]!.send('x'), 20);
  await new Promise((r) => setTimeout(r, 800));
  clearInterval(talking);
  const report = `pings per socket ${JSON.stringify(pings)}`;
  assert.equal(guard.cutCount, cutsBefore, report);
  assert.ok(sockets.every((ws) => ws.readyState === WebSocket.OPEN), report);
  // A tick may land just before a frame is read (a loaded machine): a few pings at most, against 32.
  assert.ok(pings[0]! + pings[1]! <= 4, report);
  for (const ws of sockets) ws.close();
  await Promise.all(sockets.map((ws) => once(ws, 'close')));
});

test('a link group that stops answering loses all its links together, and another group keeps its own', async () => {
  const silent = [await connect(false, 'group-c'), await connect(false, 'group-c')];
  const alive = await connect(true, 'group-d');
  const linksBefore = guard.linkCount;
  const silentFrom = Date.now();
  const closedAt = await Promise.all(silent.map(async (ws) => (await once(ws, 'close'), Date.now() - silentFrom)));
  const report = `closed after ${JSON.stringify(closedAt)} ms`;
  assert.ok(closedAt.every((ms) => ms >= 190 && ms < 1000), report);
  assert.ok(Math.abs(closedAt[0]! - closedAt[1]!) < 50, `cut together: ${report}`);
  assert.equal(guard.linkCount, linksBefore - 2);
  assert.equal(alive.readyState, WebSocket.OPEN);
  alive.close();
  await once(alive, 'close');
});

test('a node is let in only once its router link is open', async () => {
  const before = routerSide.length;
  const ws = await connect(true);
  // The router accepted the guard's connection before the node's upgrade was answered.
  assert.equal(routerSide.length, before + 1);
  assert.equal(guard.linkCount, 1);
  ws.close();
  await once(ws, 'close');
});

test('while the router is down a node is refused with 502, and let in once it is back', async () => {
  const port = await freePort();
  const down = await LinkGuard.start({ listenHost: '127.0.0.1', listenPort: 0, upstream: `ws://127.0.0.1:${port}`, logger: SILENT_LOGGER });
  try {
    const refused = new WebSocket(`ws://127.0.0.1:${down.port}`);
    const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(res.statusCode, 502);
    refused.on('error', () => {});
    refused.terminate();
    assert.equal(down.linkCount, 0);

    const router = new WebSocketServer({ host: '127.0.0.1', port });
    await once(router, 'listening');
    router.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${down.port}`);
      await once(ws, 'open');
      ws.send('back');
      const [echo] = (await once(ws, 'message')) as [Buffer];
      assert.equal(echo.toString(), 'back');
      ws.close();
      await once(ws, 'close');
    } finally {
      await new Promise<void>((r) => router.close(() => r()));
    }
  } finally {
    await down.close();
  }
});

test('listen addresses parse, bad ones are refused', () => {
  assert.deepEqual(parseListen('0.0.0.0:10001'), { host: '0.0.0.0', port: 10001 });
  assert.deepEqual(parseListen('[::1]:7'), { host: '::1', port: 7 });
  for (const bad of ['10001', 'host:', 'host:99999', 'a b:1']) assert.throws(() => parseListen(bad), RangeError, bad);
});
