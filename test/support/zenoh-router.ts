// The managed router lives beside the router launcher in src/router/zenoh-router.ts (the
// fault-injection runner uses it too); tests keep importing it from here.

export { freePort, ZenohRouter } from '../../src/router/zenoh-router.js';
