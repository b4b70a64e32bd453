// The link group: a process names itself in every WebSocket upgrade the bridge's WebSocket makes,
// and the guard reads back only well-formed names.
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { PacedWebSocket } from '../src/bridge/websocket-polyfill.js';
import { LINK_GROUP_HEADER, linkGroupOf, PROCESS_LINK_GROUP } from '../src/link-group.js';

test('every upgrade of the installed WebSocket names the process link group, with or without options', async () => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const seen: Array<string | string[] | undefined> = [];
  server.on('connection', (_ws, req: IncomingMessage) => seen.push(req.headers[LINK_GROUP_HEADER], req.headers['x-other']));
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    for (const ws of [new PacedWebSocket(url), new PacedWebSocket(url, { headers: { 'x-other': 'kept' } }), new PacedWebSocket(url, [], { headers: { 'x-other': 'kept' } })]) {
      await once(ws, 'open');
      ws.close();
    }
    assert.deepEqual(seen, [PROCESS_LINK_GROUP, undefined, PROCESS_LINK_GROUP, 'kept', PROCESS_LINK_GROUP, 'kept']);
    assert.equal(linkGroupOf(PROCESS_LINK_GROUP), PROCESS_LINK_GROUP);
  } finally {
    for (const c of server.clients) c.terminate();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('only a well-formed link group is read back; anything else watches the connection alone', () => {
  assert.equal(linkGroupOf('0b9c-AZ'), '0b9c-AZ');
  for (const bad of [undefined, '', 'a'.repeat(65), 'a b', 'a/b', 'ä', ['a', 'b']]) assert.equal(linkGroupOf(bad), null, String(bad));
});
