// zenoh-ts opens its link with the browser `WebSocket` global, which Node 20 does not have.
// Importing this module installs the `ws` implementation under that name, before any zenoh-ts
// session is opened. Also over Node 22's own WebSocket: RouterConnection pings the session's
// socket to notice a silent router, which only `ws` can do (the browser API has no ping).
//
// The installed class paces what arrives (loop-pacer.ts). `ws` parses every frame of a socket
// read at once and zenoh-ts decodes and dispatches each message as it is handed over, so one read
// holding hundreds of queries was handled in one turn of the event loop: at 3,000,000 queued, the
// leader's remaining stalls (200-250 ms) were such reads, after a pause had let queries pile up
// in the socket. Messages now reach zenoh-ts within a budget per turn, in order; the rest wait
// for later turns, with timers and I/O between.
//
// It is a CorkedWebSocket (../corked-websocket.ts): what it sends in one turn leaves in one write.
// Every upgrade it makes names this process's link group (../link-group.ts), so that the link
// guard watches all of a node's sockets as one.

import { WebSocket as NodeWebSocket } from 'ws';
import { CorkedWebSocket } from '../corked-websocket.js';
import { LINK_GROUP_HEADER, PROCESS_LINK_GROUP } from '../link-group.js';
import { LoopPacer } from './loop-pacer.js';

/**
 * Message handling per turn of the event loop, all sockets together. Far below an election
 * timeout (300 ms) and the 50 ms pause target, and above what a usual read holds (a 64 KiB read
 * of small queries at about 0.1 ms each): a turn's queries are proposed together, in one append.
 */
export const INGRESS_TURN_BUDGET_MS = 20;

const ingress = new LoopPacer(INGRESS_TURN_BUDGET_MS);
const onmessage = Object.getOwnPropertyDescriptor(NodeWebSocket.prototype, 'onmessage');
if (onmessage?.set === undefined) throw new Error('ws no longer defines WebSocket.prototype.onmessage');
const setOnmessage = onmessage.set;

type Handler = (this: NodeWebSocket, event: NodeWebSocket.MessageEvent) => void;
const handlers = new WeakMap<NodeWebSocket, Handler>();

/**
 * `ws`'s WebSocket, whose `onmessage` handler is called through the ingress pacer, whose sends of
 * one turn of the event loop leave in one write, and whose upgrade names the process's link group.
 */
export class PacedWebSocket extends CorkedWebSocket {
  constructor(address: string | URL, protocols?: string | string[] | NodeWebSocket.ClientOptions, options?: NodeWebSocket.ClientOptions) {
    // ws takes (address, options) as well as (address, protocols, options).
    const [list, given] = typeof protocols === 'object' && !Array.isArray(protocols) ? [undefined, protocols] : [protocols, options];
    super(address, list, { ...given, headers: { ...given?.headers, [LINK_GROUP_HEADER]: PROCESS_LINK_GROUP } });
  }
}

Object.defineProperty(PacedWebSocket.prototype, 'onmessage', {
  enumerable: true,
  get(this: NodeWebSocket): Handler | null {
    return handlers.get(this) ?? null;
  },
  set(this: NodeWebSocket, handler: unknown): void {
    if (typeof handler !== 'function') {
      handlers.delete(this);
      setOnmessage.call(this, null);
      return;
    }
    const h = handler as Handler;
    handlers.set(this, h);
    // A message still waiting when the handler is replaced or removed (zenoh-ts clears it on
    // close) is not handed to it: unpaced, it would have arrived before.
    setOnmessage.call(this, (event: NodeWebSocket.MessageEvent) => ingress.run(() => handlers.get(this) === h && h.call(this, event)));
  },
});

(globalThis as { WebSocket?: unknown }).WebSocket = PacedWebSocket;
