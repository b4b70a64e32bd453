import { strict as assert } from 'node:assert';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FaultProxy } from '../../src/verify/fault-proxy.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An upstream that echoes every byte back, prefixed by nothing. */
async function echoServer(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
}

function portOf(server: net.Server): number {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

interface Conn {
  socket: net.Socket;
  received: () => string;
  closed: () => boolean;
}

function connect(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    let data = '';
    let closed = false;
    const socket = net.createConnection({ host: '127.0.0.1', port }, () =>
      resolve({ socket, received: () => data, closed: () => closed }),
    );
    socket.on('data', (c: Buffer) => (data += c.toString()));
    socket.on('close', () => (closed = true));
    socket.on('error', (e) => {
      closed = true;
      reject(e);
    });
  });
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await sleep(10);
  }
}

describe('FaultProxy', () => {
  let upstream: net.Server;
  let proxy: FaultProxy;

  before(async () => {
    upstream = await echoServer();
    proxy = await FaultProxy.start(portOf(upstream));
  });
  after(async () => {
    await proxy.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  test('pass forwards both ways', async () => {
    proxy.setMode('pass');
    const c = await connect(proxy.port);
    c.socket.write('hello');
    await until(() => c.received() === 'hello');
    c.socket.destroy();
  });

  test('stall holds data in both directions and delivers it, in order, on heal', async () => {
    proxy.setMode('pass');
    const c = await connect(proxy.port);
    c.socket.write('a');
    await until(() => c.received() === 'a');
    proxy.setMode('stall');
    c.socket.write('b');
    c.socket.write('c');
    await sleep(200);
    assert.equal(c.received(), 'a', 'nothing crosses a stalled link');
    assert.equal(c.closed(), false, 'a stall keeps the connection open');
    proxy.setMode('pass');
    await until(() => c.received() === 'abc');
    c.socket.destroy();
  });

  test('a connection made during a stall reaches upstream only after the heal', async () => {
    proxy.setMode('stall');
    const c = await connect(proxy.port);
    c.socket.write('late');
    await sleep(200);
    assert.equal(c.received(), '');
    proxy.setMode('pass');
    await until(() => c.received() === 'late');
    c.socket.destroy();
  });

  test('drop black-holes connections for good: they stay dead after the heal and never learn the other end closed', async () => {
    proxy.setMode('pass');
    const open = await connect(proxy.port);
    open.socket.write('a');
    await until(() => open.received() === 'a');
    const upstreamBefore = await new Promise<number>((r) => upstream.getConnections((_, n) => r(n)));
    proxy.setMode('drop');
    open.socket.write('b');
    const during = await connect(proxy.port);
    during.socket.write('c');
    await sleep(200);
    proxy.setMode('pass');
    open.socket.write('d');
    during.socket.write('e');
    await sleep(200);
    assert.deepEqual([open.received(), during.received()], ['a', ''], 'nothing crosses, during the drop or after the heal');
    assert.equal(open.closed() || during.closed(), false, 'a drop closes nothing');

    const after = await connect(proxy.port);
    after.socket.write('f');
    await until(() => after.received() === 'f');
    after.socket.destroy();

    // The client closing its side of the dropped connection is not passed upstream.
    open.socket.destroy();
    during.socket.destroy();
    await sleep(200);
    assert.equal(await new Promise<number>((r) => upstream.getConnections((_, n) => r(n))), upstreamBefore);
    assert.equal(proxy.connections, 1, 'the upstream end of the dropped connection is held until it closes');
  });

  test('reset destroys open connections and refuses new ones until healed', async () => {
    proxy.setMode('pass');
    const c = await connect(proxy.port);
    c.socket.write('x');
    await until(() => c.received() === 'x');
    proxy.setMode('reset');
    await until(() => c.closed());
    const refused = await connect(proxy.port).catch(() => null);
    if (refused !== null) await until(() => refused.closed());
    assert.equal(proxy.connections, 0);
    proxy.setMode('pass');
    const again = await connect(proxy.port);
    again.socket.write('y');
    await until(() => again.received() === 'y');
    again.socket.destroy();
  });
});
