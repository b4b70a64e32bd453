// zenoh-ts opens its link with the browser `WebSocket` global, which Node 20 does not have.
// Importing this module installs the `ws` implementation under that name (once, and only when
// absent), before any zenoh-ts session is opened.

import { WebSocket as NodeWebSocket } from 'ws';

const scope = globalThis as { WebSocket?: unknown };
if (scope.WebSocket === undefined) scope.WebSocket = NodeWebSocket;
