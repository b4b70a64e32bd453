// zenoh-ts opens its link with the browser `WebSocket` global, which Node 20 does not have.
// Importing this module installs the `ws` implementation under that name, before any zenoh-ts
// session is opened. Also over Node 22's own WebSocket: RouterConnection pings the session's
// socket to notice a silent router, which only `ws` can do (the browser API has no ping).

import { WebSocket as NodeWebSocket } from 'ws';

(globalThis as { WebSocket?: unknown }).WebSocket = NodeWebSocket;
