// The smallest StateMachine: counts applied commands. For the Raft driver tests and the Raft
// benchmark, which exercise consensus and storage, not a real state machine.

import type { RestoreSink, SnapshotSource, StateMachine } from '../raft/types.js';

export class CounterMachine implements StateMachine<number> {
  count = 0;
  /** Images made live (a leader's installed, or a stored one loaded). */
  restores = 0;

  /** `imageBytes`: the image is padded with spaces to this size, for tests of transfers that take time. */
  constructor(private readonly imageBytes = 0) {}

  apply(): number {
    return ++this.count;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.count).padEnd(this.imageBytes));
  }
  /** One piece: the count when the snapshot began. */
  snapshotSource(): SnapshotSource {
    const image = this.snapshot();
    let done = false;
    return {
      next: () => {
        if (done) return null;
        done = true;
        return image;
      },
      close: () => {},
    };
  }
  /** The image is a few digits (and padding): kept until the end, then parsed. */
  restoreSink(): RestoreSink {
    let text = '';
    const utf8 = new TextDecoder();
    return {
      write: (piece) => {
        text += utf8.decode(piece, { stream: true });
      },
      finish: () => {
        this.count = Number(text + utf8.decode());
        this.restores++;
      },
      abort: () => {},
    };
  }
}
