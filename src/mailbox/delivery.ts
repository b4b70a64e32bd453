// A delivered message as the state machine hands it out (consume, peek): the message's metadata
// as of this delivery and its body, read from the body store at that moment. Read then, not
// later: a consume removes the message and frees its body in the same apply, and whoever holds
// the result (a client reply, a remembered request id) may read it long after.

import type { DeliveredMessage } from './commands.js';
import type { StoredMessage } from './seq-queue.js';

export function deliveryOf(m: StoredMessage, body: Uint8Array): DeliveredMessage {
  return { id: m.id, seq: m.seq, body, enqueuedAt: m.enqueuedAt, expiresAt: m.expiresAt, deliveries: m.deliveries };
}
