// One watch over several real WebSockets to one loopback server, which answers pings only while
// told to: the group pings one socket per quiet period (rotating), not every socket; traffic on
// any socket keeps all of them from being pinged or judged silent; when the server stops
// answering, every socket is reported silent once, after the bound and not before; a stall of the
// watching process itself, begun just after the router was heard, is not taken for silence.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { RouterLinkWatch } from '../../src/bridge/router-link-watch.js';
import { busy } from '../support/busy.js';

const PING_MS = 50;
const SILENCE_MS = 300;

let server: WebSocketServer;
let url: string;
/** Whether the server answers pings now. */
let answering = true;
/** Pings the server received, per connection in order of arrival. */
const pingsPerConnection: number[] = [];
const serverSide: WebSocket[] = [];

before(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false });
  await once(server, 'listening');
  server.on('connection', (ws) => {
    const index = pingsPerConnection.push(0) - 1;
    serverSide.push(ws);
    ws.on('ping', (data) => {
      pingsPerConnection[index]!++;
      if (answering) ws.pong(data);
    });
  });
  url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  for (const ws of server.clients) ws.terminate();
  await new Promise<void>((r) => server.close(() => r()));
});

async function open(count: number): Promise<{ sockets: WebSocket[]; first: number }> {
  const first = pingsPerConnection.length;
  const sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const ws = new WebSocket(url);
      await once(ws, 'open');
      return ws;
    }),
  );
  while (pingsPerConnection.length < first + count) await sleep(5);
  return { sockets, first };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` sockets watched as one group; `silent` lists the sockets reported silent, in order. */
async function watchedGroup(count: number) {
  const { sockets, first } = await open(count);
  const watch = new RouterLinkWatch({ pingIntervalMs: PING_MS, silenceMs: SILENCE_MS });
  const silent: number[] = [];
  const stops = sockets.map((ws, i) => watch.watch(ws, () => silent.push(i)));
  const close = () => {
    for (const stop of stops) stop();
    for (const ws of sockets) ws.terminate();
  };
  return { first, watch, silent, close };
}

test('a quiet group answering pings gets one ping per period in all, rotating over its sockets, and is never judged silent', async () => {
  answering = true;
  const { first, watch, silent, close } = await watchedGroup(4);
  await sleep(1200);
  close();
  const pings = pingsPerConnection.slice(first, first + 4);
  const total = pings.reduce((a, b) => a + b, 0);
  const report = `pings per socket ${JSON.stringify(pings)}, sent ${watch.pingsSent}`;
  assert.deepEqual(silent, [], report);
  // A watch per socket would have sent about 4 × 1200 / 50 = 96; one for the group at most 24.
  assert.ok(total >= 4 && total <= 26, report);
  assert.equal(total, watch.pingsSent, report);
  assert.ok(pings.every((n) => n >= 1), `every socket is pinged in turn: ${report}`);
});

test('traffic on one socket of the group counts for all: no pings, no silence, while the server pongs nothing', async () => {
  answering = false;
  const { first, watch, silent, close } = await watchedGroup(3);
  const talker = serverSide[first]!;
  const talking = setInterval(() => talker.send('tick'), PING_MS / 2);
  await sleep(4 * SILENCE_MS);
  clearInterval(talking);
  close();
  assert.deepEqual(silent, []);
  // A timer tick may land just before a message is read (a loaded machine delays the sends): a few
  // pings at most, where a watch per socket would have pinged the two quiet ones about 48 times each.
  assert.ok(watch.pingsSent <= 8, `sent ${watch.pingsSent} pings while the group was heard every ${PING_MS / 2} ms`);
});

test('a group whose server stops answering is reported silent, each socket once, after the bound', async () => {
  answering = true;
  const { sockets } = await open(3);
  const watch = new RouterLinkWatch({ pingIntervalMs: PING_MS, silenceMs: SILENCE_MS });
  const silent: Array<{ socket: number; silentMs: number; at: number }> = [];
  sockets.forEach((ws, i) => watch.watch(ws, (silentMs) => silent.push({ socket: i, silentMs, at: Date.now() })));
  await sleep(4 * PING_MS);
  assert.equal(silent.length, 0, 'answered pings are heard');
  answering = false;
  const stoppedAt = Date.now();
  while (silent.length < 3 && Date.now() - stoppedAt < 5000) await sleep(10);
  await sleep(3 * SILENCE_MS);
  const report = JSON.stringify(silent.map((s) => ({ ...s, at: s.at - stoppedAt })));
  assert.deepEqual(silent.map((s) => s.socket).sort(), [0, 1, 2], report);
  for (const s of silent) {
    assert.ok(s.silentMs > SILENCE_MS, report);
    // The last pong came at most two ping periods before the server stopped answering.
    assert.ok(s.at - stoppedAt >= SILENCE_MS - 2 * PING_MS - 5 && s.at - stoppedAt < SILENCE_MS + 1000, report);
  }
  for (const ws of sockets) ws.terminate();
});

test('a stall of the watching process begun just after the router was heard is not taken for silence', { timeout: 20_000 }, async () => {
  // The router is another process, so it answers while this one stalls; it echoes each message.
  const router = spawn(
    process.execPath,
    ['-e', "const s = new (require('ws').WebSocketServer)({ host: '127.0.0.1', port: 0 }); s.on('listening', () => console.log(s.address().port)); s.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const [portLine] = (await once(router.stdout!, 'data')) as [Buffer];
    const ws = new WebSocket(`ws://127.0.0.1:${Number(portLine.toString().trim())}`);
    await once(ws, 'open');
    const watch = new RouterLinkWatch({ pingIntervalMs: PING_MS, silenceMs: SILENCE_MS });
    const silent: number[] = [];
    const stop = watch.watch(ws, (silentMs) => silent.push(silentMs));
    await sleep(3 * PING_MS);
    // The echo is heard, and at once this process stalls for over three times the silence bound,
    // with no ping out: nothing arrives meanwhile, and the first ping after the stall is answered.
    const stalled = new Promise<void>((resolve) =>
      ws.once('message', () => {
        busy(4 * SILENCE_MS);
        resolve();
      }),
    );
    ws.send('echo');
    await stalled;
    await sleep(2 * SILENCE_MS);
    stop();
    ws.terminate();
    assert.deepEqual(silent, [], `judged silent after ${JSON.stringify(silent)} ms`);
    assert.ok(watch.pingsSent >= 1);
  } finally {
    router.kill();
  }
});
