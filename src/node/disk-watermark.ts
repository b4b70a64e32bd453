// Admission control on free disk space, like RabbitMQ's disk free limit: the leader measures the
// free space of its data directory's file system every `checkIntervalMs` (fs.statfs, never per
// request) and, while it is below `minFreeBytes`, refuses puts before proposing them (NOSPACE,
// retry later). Consumes, acks, nacks, purges and the expiry sweep still commit: they are log
// writes too, but they are what drains the backlog, and the watermark is the reserve they write
// into. If the disk fills all the same (another tenant, a follower's smaller disk), a write fails,
// the Raft loop halts and the node exits (fail-stop, see forge-node.ts).

import { statfs } from 'node:fs/promises';
import type { Logger } from '../logging.js';

/** A put refused because the disk is below the watermark: nothing was proposed; retry later. */
export class DiskSpaceError extends Error {
  readonly code = 'NOSPACE';
  constructor(message: string) {
    super(message);
    this.name = 'DiskSpaceError';
  }
}

export interface DiskWatermarkOptions {
  dir: string;
  minFreeBytes: number;
  checkIntervalMs: number;
  log: Logger;
  /** Free bytes available to this process on the file system of `dir` (fs.statfs by default). */
  freeBytes?: (dir: string) => Promise<number>;
}

async function statfsFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

export class DiskWatermark {
  private free: number | null = null;
  private low = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly measure: (dir: string) => Promise<number>;

  constructor(private readonly opts: DiskWatermarkOptions) {
    this.measure = opts.freeBytes ?? statfsFreeBytes;
  }

  /** Measures now (so that the first put is already judged), then every checkIntervalMs. */
  async start(): Promise<void> {
    if (this.opts.minFreeBytes === 0) return;
    await this.check();
    this.timer = setInterval(() => void this.check(), this.opts.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Throws DiskSpaceError while the last measure was below the watermark. */
  admitPut(): void {
    if (this.low) {
      throw new DiskSpaceError(`the leader's disk has ${this.free} bytes free, below the ${this.opts.minFreeBytes}-byte watermark (disk.minFreeBytes); retry later`);
    }
  }

  status(): { freeBytes: number | null; minFreeBytes: number; low: boolean } {
    return { freeBytes: this.free, minFreeBytes: this.opts.minFreeBytes, low: this.low };
  }

  private async check(): Promise<void> {
    let free: number;
    try {
      free = await this.measure(this.opts.dir);
    } catch (err) {
      // Keep the last verdict: a failing statfs says nothing about the space left.
      this.opts.log.warn({ err, dir: this.opts.dir }, 'could not measure free disk space');
      return;
    }
    this.free = free;
    const low = free < this.opts.minFreeBytes;
    if (low === this.low) return;
    this.low = low;
    if (low) this.opts.log.warn({ freeBytes: free, minFreeBytes: this.opts.minFreeBytes }, 'disk below the free-space watermark: refusing puts (NOSPACE)');
    else this.opts.log.info({ freeBytes: free, minFreeBytes: this.opts.minFreeBytes }, 'disk back above the free-space watermark: accepting puts');
  }
}
