// A WebSocket server on a free loopback port for tests of WebSocket clients: `onConnection` gets
// each client's socket; `close` drops the clients and stops it.
import { WebSocketServer, type WebSocket } from 'ws';

export async function wsServer(onConnection: (ws: WebSocket) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', onConnection);
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}
