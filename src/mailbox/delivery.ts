// A delivered message as the state machine hands it out. The body bytes are made on first read:
// a follower applying the same consume never reads them, and the snapshot writes the stored
// Latin-1 body straight into the image, which saves a typed-array allocation per consume.
// `body` is an accessor on the prototype, so object spread and JSON.stringify do not copy it;
// the stored forms are private (#) fields, so they do not leak into either.

import type { DeliveredMessage } from './commands.js';
import type { StoredMessage } from './seq-queue.js';
import { latin1ToBytes } from '../wire/text.js';

export class StoredDelivery implements DeliveredMessage {
  readonly id: string;
  readonly seq: number;
  readonly enqueuedAt: number;
  readonly expiresAt: number;
  /** Deliveries as of this delivery (the stored count moves on with later ones). */
  readonly deliveries: number;
  declare receipt?: string;
  declare leaseExpiresAt?: number;
  readonly #latin1Body: string;
  #bytes: Uint8Array | undefined = undefined;

  constructor(m: StoredMessage) {
    this.id = m.id;
    this.seq = m.seq;
    this.#latin1Body = m.body;
    this.enqueuedAt = m.enqueuedAt;
    this.expiresAt = m.expiresAt;
    this.deliveries = m.deliveries;
  }

  get body(): Uint8Array {
    return (this.#bytes ??= latin1ToBytes(this.#latin1Body));
  }

  /** The body as stored: one char per byte. */
  latin1Body(): string {
    return this.#latin1Body;
  }
}
