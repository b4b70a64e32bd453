// A leader duty: propose the mailbox's expiry sweep periodically. Time inside the sweep comes
// from the log entry, so every replica expires the same messages; the timer only decides how
// often the leader asks.

import type { LoggerPort } from '../logger-port.js';
import { RaftError } from '../raft/types.js';

export class ExpirySweep {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    /** Proposes one sweep; resolves once it is applied. */
    private readonly sweep: () => Promise<unknown>,
    private readonly log: LoggerPort,
  ) {}

  /** Sweeps every `intervalMs` while `leading`. */
  setLeading(leading: boolean): void {
    if (leading && this.timer === null) {
      this.timer = setInterval(() => {
        this.sweep().catch((err: unknown) => {
          // Losing leadership or quorum mid-sweep is expected; the next leader sweeps.
          if (!(err instanceof RaftError)) this.log.warn({ err }, 'expiry sweep failed');
        });
      }, this.intervalMs);
    } else if (!leading && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  get running(): boolean {
    return this.timer !== null;
  }
}
