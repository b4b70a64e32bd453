// The public entry of the TypeScript client: `import { MailboxClient } from 'forge-mailbox/client'`
// (package.json `exports`). Re-exports only; the client itself, and its Zenoh and WebSocket
// set-up, live in src/bridge (the one importer of zenoh-ts).

export {
  MailboxClient,
  MailboxClientError,
  type BatchPutMessage,
  type ClientConsumeOptions,
  type ClientErrorCode,
  type ClientPutOptions,
  type MailboxClientOptions,
  type MailboxStats,
  type MailboxTransport,
  type MessagesOptions,
  type PutResult,
  type ReceivedMessage,
  type ReceiveOptions,
  type RetryTimings,
  type StreamedMessage,
} from '../bridge/mailbox-client.js';
export type { DeliveredMessage } from '../mailbox/commands.js';
