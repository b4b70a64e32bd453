// A CorkedWebSocket's sends of one turn of the event loop leave in one gathered write, in order,
// and its socket is uncorked once the turn is over; `ws` alone writes each frame at once.
import { strict as assert } from 'node:assert';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { WebSocket as NodeWebSocket } from 'ws';
import { CorkedWebSocket } from '../src/corked-websocket.js';
import { wsServer } from './support/ws-server.js';

/** A server that collects what each client sends, as text. */
async function collector(): Promise<{ url: string; got: string[]; close: () => Promise<void> }> {
  const got: string[] = [];
  const srv = await wsServer((ws) => ws.on('message', (m) => got.push(String(m))));
  return { ...srv, got };
}

/** Sends `count` messages in one synchronous stretch and a microtask after it; the socket writes they took, and what arrived. */
async function sendBurst(Ctor: typeof NodeWebSocket, count: number): Promise<{ writes: number; got: string[] }> {
  const srv = await collector();
  const ws = new Ctor(srv.url);
  try {
    await new Promise<void>((r) => (ws.onopen = () => r()));
    // Stream-level writes of the socket: one per `_write` or `_writev` (each one system call, or an attempt at one).
    const socket = (ws as unknown as { _socket: Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void } })._socket;
    let writes = 0;
    for (const name of ['_write', '_writev'] as const) {
      const original = socket[name].bind(socket);
      socket[name] = (...a: unknown[]) => {
        writes++;
        original(...a);
      };
    }
    for (let i = 0; i < count / 2; i++) ws.send(`s${i}`);
    await Promise.resolve();
    for (let i = count / 2; i < count; i++) ws.send(`s${i}`);
    const deadline = Date.now() + 5000;
    while (srv.got.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return { writes, got: [...srv.got] };
  } finally {
    ws.terminate();
    await srv.close();
  }
}

test('what one turn sends leaves in one gathered write, in order', async (t) => {
  const plain = await sendBurst(NodeWebSocket, 100);
  const corked = await sendBurst(CorkedWebSocket, 100);
  t.diagnostic(`socket writes for 100 sends: plain ${plain.writes}, corked ${corked.writes}`);
  const sent = Array.from({ length: 100 }, (_, i) => `s${i}`);
  assert.deepEqual(plain.got, sent);
  assert.deepEqual(corked.got, sent);
  assert.ok(plain.writes >= 100, `plain: ${plain.writes} writes`);
  assert.equal(corked.writes, 1);
});

test('a socket corked by a send is uncorked once the turn is over, and sends of later turns go out too', async () => {
  const srv = await collector();
  const ws = new CorkedWebSocket(srv.url);
  try {
    await new Promise<void>((r) => (ws.onopen = () => r()));
    const socket = (ws as unknown as { _socket: Socket })._socket;
    ws.send('a');
    assert.equal(socket.writableCorked, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(socket.writableCorked, 0);
    await new Promise((r) => setTimeout(r, 5));
    ws.send('b');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(srv.got, ['a', 'b']);
    assert.equal(socket.writableCorked, 0);
  } finally {
    ws.terminate();
    await srv.close();
  }
});
