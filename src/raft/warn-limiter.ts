// A bound on how often one kind of warning is logged. What a remote party can trigger at will
// (refused connections, forged frames, idle sockets pushed out) must not let it flood the log:
// at most `burst` such lines per `windowMs`; the ones held back are counted and the count rides
// on the next line that is logged.

import type { LoggerPort } from '../logger-port.js';

export class WarnLimiter {
  private windowStart = -Infinity;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly log: LoggerPort,
    private readonly burst = 10,
    private readonly windowMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  warn(obj: Record<string, unknown>, msg: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.burst) {
      this.suppressed++;
      return;
    }
    this.inWindow++;
    const held = this.suppressed;
    this.suppressed = 0;
    this.log.warn(held > 0 ? { ...obj, suppressedSinceLast: held } : obj, msg);
  }
}
