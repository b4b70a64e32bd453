// A `ws` WebSocket whose sends of one turn of the event loop leave in one write.
//
// `ws` writes each frame to the socket as it is sent. Where frames come in bursts (a node
// answering a batch of committed requests: each reply is two remote-api messages, the reply and
// its final; the link guard relaying a read of many frames) that is a write system call per
// frame, and as many reads for the peer. The first send of a turn corks the socket; the check
// phase of the event loop uncorks it, so a turn's frames leave in one gathered write. Latency is
// unchanged: nothing waits past the turn it was sent in.
//
// Used by the WebSocket class the bridge installs for zenoh-ts (websocket-polyfill.ts) and by
// both sides of the link guard's relay.

import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

/** Sockets corked by a send of this turn, uncorked together at its check phase. */
const corked = new Set<Socket>();

function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.clear();
}

export class CorkedWebSocket extends WebSocket {
  override send(data: unknown, optionsOrCallback?: unknown, callback?: unknown): void {
    // `_socket` is ws's own (not in its types): null until the handshake is done, when ws sends nothing anyway.
    const socket = (this as unknown as { _socket: Socket | null })._socket;
    if (socket !== null && this.readyState === WebSocket.OPEN && !corked.has(socket)) {
      if (corked.size === 0) setImmediate(uncorkAll);
      socket.cork();
      corked.add(socket);
    }
    (WebSocket.prototype.send as (d: unknown, o?: unknown, c?: unknown) => void).call(this, data, optionsOrCallback, callback);
  }
}
