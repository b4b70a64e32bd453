// Admission of inbound Raft connections that have not authenticated yet (TLS handshake included).
// Each one holds a socket and buffers until it authenticates or its deadline passes, so their
// number is capped, per source address and in total. A cap that refused newcomers would let a few
// idle sockets (slowloris) lock every peer out until their deadline, again and again; here a
// newcomer is always admitted and the *oldest* pending connection of its address (when that
// address is at its cap), else the oldest of all (when the total is), is evicted instead. An
// attacker's sockets then only push out each other, and a peer's reconnect gets its turn.
//
// No sockets here: an entry is whatever the caller wants evicted, and `evict` is its callback.

export interface PendingLimits {
  /** Pending connections one source address may hold. */
  perAddress: number;
  /** Pending connections in all. */
  total: number;
}

export interface PendingEntry {
  readonly address: string;
  /** Called once when the entry is pushed out by a newer one; the entry is already removed. */
  readonly evict: () => void;
}

export class PendingHandshakes {
  /** In admission order: the first is the oldest. */
  private readonly all = new Set<PendingEntry>();
  private readonly byAddress = new Map<string, Set<PendingEntry>>();
  /** Entries pushed out since the start. */
  evicted = 0;

  constructor(private readonly limits: PendingLimits) {
    if (!(limits.perAddress >= 1 && limits.total >= limits.perAddress)) throw new RangeError('need 1 <= perAddress <= total');
  }

  get size(): number {
    return this.all.size;
  }

  /** Admits `entry`, evicting the oldest of its address or of all when a cap is reached. */
  admit(entry: PendingEntry): void {
    const mine = this.byAddress.get(entry.address);
    if (mine !== undefined && mine.size >= this.limits.perAddress) this.evictOne(mine.values().next().value!);
    else if (this.all.size >= this.limits.total) this.evictOne(this.all.values().next().value!);
    this.all.add(entry);
    const set = this.byAddress.get(entry.address) ?? new Set<PendingEntry>();
    set.add(entry);
    this.byAddress.set(entry.address, set);
  }

  /** The entry authenticated or closed: it no longer counts. Idempotent. */
  release(entry: PendingEntry): void {
    if (!this.all.delete(entry)) return;
    const set = this.byAddress.get(entry.address)!;
    set.delete(entry);
    if (set.size === 0) this.byAddress.delete(entry.address);
  }

  private evictOne(entry: PendingEntry): void {
    this.release(entry);
    this.evicted++;
    entry.evict();
  }
}
