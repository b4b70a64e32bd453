// Forge Mailbox from TypeScript with the package's client, through the gateway's WebSocket (`npm start`
// serves it on ws://127.0.0.1:10000; the nodes' own router WebSocket is private to them):
//   npm run build && node --experimental-wasm-modules dist/examples/ts-client.js [ws://127.0.0.1:10000] [user]
// The capability token comes from $FORGE_TOKEN, else the file $FORGE_TOKEN_FILE, else the operator
// token `npm start` writes (data/local/auth/admin.token).

import { MailboxClient } from 'forge-mailbox/client';

const router = process.argv[2] ?? 'ws://127.0.0.1:10000';
const user = process.argv[3] ?? 'user123';
const token = process.env.FORGE_TOKEN;
const client = await MailboxClient.open(router, token !== undefined ? { token } : { tokenFile: process.env.FORGE_TOKEN_FILE ?? 'data/local/auth/admin.token' });
try {
  // Acknowledged put: answered once committed on a majority; retried with the same id if need be.
  console.log(`put acknowledged: ${JSON.stringify(await client.put(user, 'hello from TypeScript', { id: 'ts-1' }))}`);
  // Leased consume: the message comes back unless acked before the lease runs out.
  const message = await client.receive(user, { leaseMs: 30_000 });
  if (message === null) console.log('mailbox empty');
  else {
    console.log(`got ${message.id} ${new TextDecoder().decode(message.body)}`);
    await client.ack(user, message.receipt);
  }
  // A consumer loop: long polls, yielding messages with ack/nack helpers, until aborted.
  const stop = AbortSignal.timeout(1500);
  for await (const m of client.messages(user, { waitMs: 1000, signal: stop })) {
    console.log(`streamed ${m.id} ${m.text()}`);
    await m.ack();
  }
  console.log('stream ended');
} finally {
  await client.close();
}
