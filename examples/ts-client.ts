// Forge Mailbox from TypeScript with zenoh-ts, through the gateway's WebSocket (`npm start` serves it on
// ws://127.0.0.1:10000; the nodes' own router WebSocket is private to them).
// Node 20 needs `--experimental-wasm-modules` and a WebSocket global for zenoh-ts:
//   node --experimental-wasm-modules --import tsx examples/ts-client.ts [ws://127.0.0.1:10000] [user]
// The capability token comes from $FORGE_TOKEN, else the file $FORGE_TOKEN_FILE, else the operator
// token `npm start` writes (data/local/auth/admin.token).

import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
const { Config, Session, ReplyError } = await import('@eclipse-zenoh/zenoh-ts');

const router = process.argv[2] ?? 'ws://127.0.0.1:10000';
const user = process.argv[3] ?? 'user123';
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const token = process.env.FORGE_TOKEN ?? readFileSync(process.env.FORGE_TOKEN_FILE ?? 'data/local/auth/admin.token', 'utf8').trim();
// Every request carries the token in its attachment (never in the key or selector, which get logged).
const attachment = JSON.stringify({ token });

const session = await Session.open(new Config(router));
try {
  // Acknowledged put: answered once committed on a majority.
  for await (const reply of (await session.get(`forge/mailbox/${user}/put?id=ts-1`, { payload: 'hello from TypeScript', attachment }))!) {
    const r = reply.result();
    console.log(r instanceof ReplyError ? `put failed: ${text(r.payload().toBytes())}` : `put acknowledged: ${text(r.payload().toBytes())}`);
  }
  // Consume the next message.
  for await (const reply of (await session.get(`forge/mailbox/${user}`, { attachment }))!) {
    const r = reply.result();
    if (r instanceof ReplyError) {
      console.log(`error: ${text(r.payload().toBytes())}`);
      continue;
    }
    const meta = JSON.parse(text(r.attachment()!.toBytes())) as { status: string; id?: string };
    console.log(meta.status === 'empty' ? 'mailbox empty' : `got ${meta.id} ${text(r.payload().toBytes())}`);
  }
} finally {
  await session.close();
}
