// The installed WebSocket paces what arrives: a socket read holding hundreds of messages no
// longer holds the event loop for all of them, messages keep their order, and a handler removed
// (as zenoh-ts does on close) gets none of the messages still waiting. It is a CorkedWebSocket
// (test/corked-websocket.test.ts has what that does).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { WebSocket as NodeWebSocket } from 'ws';
import { PacedWebSocket } from '../../src/bridge/websocket-polyfill.js';
import { CorkedWebSocket } from '../../src/corked-websocket.js';
import { EventLoopGaps } from '../../src/verify/event-loop-gaps.js';
import { busy } from '../support/busy.js';
import { wsServer } from '../support/ws-server.js';

/** A server that, once a client connects, writes `count` small messages in one corked write. */
function server(count: number): Promise<{ url: string; close: () => Promise<void> }> {
  return wsServer((ws) => {
    ws.once('message', () => {
      const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
      socket.cork();
      for (let i = 0; i < count; i++) ws.send(Buffer.from(String(i)));
      socket.uncork();
    });
  });
}

/** Receives `count` messages at 1 ms of handling each; the longest event-loop gap meanwhile, and their order. */
async function receive(Ctor: new (url: string) => NodeWebSocket, count: number): Promise<{ gapMs: number; order: number[] }> {
  const srv = await server(count);
  const ws = new Ctor(srv.url);
  try {
    await new Promise<void>((r, j) => {
      ws.onopen = () => r();
      ws.onerror = (e) => j(e.error as Error);
    });
    const order: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    ws.onmessage = (event) => {
      busy(1);
      order.push(Number(String(event.data)));
      if (order.length === count) done();
    };
    await new Promise((r) => setTimeout(r, 20));
    const gaps = new EventLoopGaps(undefined, 1);
    ws.send('go');
    await all;
    return { gapMs: gaps.stop(), order };
  } finally {
    ws.terminate();
    await srv.close();
  }
}

test('300 messages in one socket read, 1 ms each: unpaced one turn, paced timers run between', async (t) => {
  const unpaced = await receive(NodeWebSocket, 300);
  const paced = await receive(PacedWebSocket, 300);
  const report = `longest gap unpaced ${unpaced.gapMs.toFixed(0)} ms, paced ${paced.gapMs.toFixed(0)} ms`;
  t.diagnostic(report);
  assert.ok(unpaced.gapMs >= 250, report);
  assert.ok(paced.gapMs < 100, report);
  const inOrder = Array.from({ length: 300 }, (_, i) => i);
  assert.deepEqual(unpaced.order, inOrder);
  assert.deepEqual(paced.order, inOrder);
  assert.equal((globalThis as { WebSocket?: unknown }).WebSocket, PacedWebSocket);
  assert.ok(PacedWebSocket.prototype instanceof CorkedWebSocket);
});

test('a handler removed while messages wait gets none of them; the attribute reads back what was set', async () => {
  const srv = await server(100);
  const ws = new PacedWebSocket(srv.url);
  try {
    await new Promise<void>((r) => (ws.onopen = () => r()));
    const got: number[] = [];
    const handler = () => {
      busy(1);
      got.push(got.length);
      if (got.length === 20) ws.onmessage = null;
    };
    ws.onmessage = handler;
    assert.equal(ws.onmessage, handler);
    ws.send('go');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(got.length, 20);
    assert.equal(ws.onmessage, null);
  } finally {
    ws.terminate();
    await srv.close();
  }
});
