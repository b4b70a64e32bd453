// Clients putting without pause beside a fault, so that some put is in flight whenever the fault
// strikes, with a record of how each put ended. Which puts were in flight at the fault is told by
// a flag set at the fault, not by comparing clock milliseconds: a loaded machine often ends one
// put and sends the next within the fault's own millisecond, which a `sent < faultAt` test misses.

import type { ForgeMailboxClient } from '../../src/bridge/client.js';
import { MailboxClientError } from '../../src/bridge/client.js';
import type { ProcessCluster } from '../../src/verify/process-cluster.js';
import { sleep } from '../../src/verify/process-cluster.js';

export interface PutRecord {
  id: string;
  /** Date.now() when the put was sent and when it ended. */
  sent: number;
  ended: number;
  /** Sent before `PutLoad.fault()` and ended after it. */
  inFlightAtFault: boolean;
  ok: boolean;
  /** The error code when it failed. */
  code: string | null;
}

export class PutLoad {
  readonly records: PutRecord[] = [];
  private running = true;
  private faulted = false;
  private stopped: Promise<void> | null = null;
  private readonly loops: Promise<void>[];

  private constructor(
    private readonly clients: ForgeMailboxClient[],
    prefix: string,
  ) {
    this.loops = clients.map((client, i) => this.loop(client, `${prefix}${i}`, `c${i}`));
  }

  /** `clients` clients (6 s request timeout) each putting to a mailbox of its own, `${prefix}${i}`. */
  static async start(cluster: ProcessCluster, prefix: string, clients = 3): Promise<PutLoad> {
    return new PutLoad(await Promise.all(Array.from({ length: clients }, () => cluster.client(6000))), prefix);
  }

  /** Marks the fault: call it right before the fault's first step. Returns Date.now(). */
  fault(): number {
    this.faulted = true;
    return Date.now();
  }

  /** The puts sent before the fault that ended after it. */
  inFlightAtFault(): PutRecord[] {
    return this.records.filter((r) => r.inFlightAtFault);
  }

  /** Stops putting once the puts in flight end, and closes the clients. Safe to call twice. */
  stop(): Promise<void> {
    this.running = false;
    this.stopped ??= Promise.all(this.loops).then(async () => {
      await Promise.all(this.clients.map((c) => c.close()));
    });
    return this.stopped;
  }

  private async loop(client: ForgeMailboxClient, user: string, idPrefix: string): Promise<void> {
    for (let n = 0; this.running; n++) {
      const id = `${idPrefix}-m${n}`;
      const sent = Date.now();
      const sentBeforeFault = !this.faulted;
      try {
        await client.put(user, id, { id });
        this.records.push({ id, sent, ended: Date.now(), inFlightAtFault: sentBeforeFault && this.faulted, ok: true, code: null });
      } catch (e) {
        const code = e instanceof MailboxClientError ? e.code : String(e);
        this.records.push({ id, sent, ended: Date.now(), inFlightAtFault: sentBeforeFault && this.faulted, ok: false, code });
        await sleep(20);
      }
    }
  }
}
