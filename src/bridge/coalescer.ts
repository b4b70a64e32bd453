// Requests made in the same turn of the event loop, sent together: the first waits for the loop's
// next turn (setImmediate), and every one made until then joins it, up to a count and a byte
// bound (reaching either sends at once). The client uses one for acknowledged puts (`@puts`) and
// one for consumes (`@consumes`): many callers then share the per-request costs of every hop,
// while each still gets its own result or error.

/** One request waiting to be sent, with how its caller is answered. */
export interface Waiting<I, R> {
  item: I;
  resolve(result: R): void;
  reject(e: unknown): void;
}

export interface CoalescerLimits {
  /** Most requests sent together. */
  maxItems: number;
  /** Most bytes (as the caller counts them) sent together. */
  maxBytes: number;
}

export class Coalescer<I, R> {
  private waiting: Waiting<I, R>[] = [];
  private bytes = 0;
  private scheduled = false;

  /** `send` gets every batch, of one request or more, and answers each of them. */
  constructor(
    private readonly limits: CoalescerLimits,
    private readonly send: (batch: Waiting<I, R>[]) => void,
  ) {}

  add(item: I, bytes: number): Promise<R> {
    if (this.bytes + bytes > this.limits.maxBytes) this.flush();
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.bytes += bytes;
      if (this.waiting.length >= this.limits.maxItems) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    this.bytes = 0;
    try {
      this.send(batch);
    } catch (e) {
      for (const w of batch) w.reject(e);
    }
  }
}
