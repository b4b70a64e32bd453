// A TCP proxy on 127.0.0.1 that forwards to one upstream address and can be told to misbehave,
// so a fault-injection run can cut one directed link (a node's Raft connection to one peer, or a
// node's websocket to the Zenoh router) without touching the processes at either end.
//
// Modes:
//   pass   forward both ways; connections held by `stall` resume and deliver what they buffered.
//   stall  a partition as TCP lives it: nothing moves in either direction, existing connections
//          stay open (their kernel buffers fill), new connections are accepted and held without
//          reaching upstream. Nothing is lost: healing delivers everything late, like a network
//          that came back before the connection timed out.
//   reset  a partition that outlived the connections: every connection is destroyed, new ones are
//          accepted and destroyed at once.
//   drop   a partition that black-holes packets, as a firewall DROP rule does: nothing gets
//          through and nothing is closed, and the connections open during the drop (or accepted
//          during it) stay dead after the heal: neither end hears anything more from the other,
//          not even that it closed. That is what the kernel's backed-off retransmission makes of
//          them (retransmitting 0.2 s, then 0.4 s, 0.8 s... after the previous try, so a connection
//          comes back about as long after the heal as the partition lasted); the proxy takes it
//          to its limit. Only connections opened after the heal pass. The proxy reads and
//          discards what the ends of a dead connection send, to notice when each closes its side.

import net from 'node:net';

export type ProxyMode = 'pass' | 'stall' | 'reset' | 'drop';

interface Pair {
  client: net.Socket;
  /** Null while the connection is held (accepted during a stall, upstream not dialled yet). */
  upstream: net.Socket | null;
  /** Cut by a drop: its ends are never connected again, and each closes on its own. */
  dropped: boolean;
}

export class FaultProxy {
  private modeNow: ProxyMode = 'pass';
  private readonly pairs = new Set<Pair>();
  private closed = false;
  private refusedCount = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly upstreamPort: number,
    readonly upstreamHost: string,
  ) {}

  /** Listens on a free port of 127.0.0.1 (or `port`) and forwards to upstreamHost:upstreamPort. */
  static async start(upstreamPort: number, options: { upstreamHost?: string; port?: number } = {}): Promise<FaultProxy> {
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('fault proxy: no TCP address');
    const proxy = new FaultProxy(server, address.port, upstreamPort, options.upstreamHost ?? '127.0.0.1');
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  get mode(): ProxyMode {
    return this.modeNow;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Connections destroyed on arrival (reset mode): how the nemesis sees a cut-off node dial again. */
  get refused(): number {
    return this.refusedCount;
  }

  setMode(mode: ProxyMode): void {
    if (this.closed) throw new Error('fault proxy is closed');
    this.modeNow = mode;
    for (const pair of [...this.pairs]) {
      if (mode === 'reset') this.destroy(pair);
      else if (pair.dropped) continue;
      else if (mode === 'drop') this.drop(pair);
      else if (mode === 'stall') this.pause(pair);
      else this.resume(pair);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const pair of [...this.pairs]) this.destroy(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.closed || this.modeNow === 'reset') {
      if (!this.closed) this.refusedCount++;
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    const pair: Pair = { client, upstream: null, dropped: false };
    this.pairs.add(pair);
    // 'close' follows every 'error'.
    client.on('error', () => {});
    client.on('close', () => this.endClosed(pair));
    if (this.modeNow === 'pass') this.resume(pair);
    else if (this.modeNow === 'drop') this.drop(pair);
  }

  private dial(pair: Pair): net.Socket {
    const upstream = net.createConnection({ host: this.upstreamHost, port: this.upstreamPort });
    upstream.setNoDelay(true);
    upstream.on('error', () => {});
    upstream.on('close', () => this.endClosed(pair));
    // Data is forwarded by hand rather than with pipe() so that pausing one side really stops
    // the flow: pipe() would resume a paused source as soon as the destination drains.
    pair.client.on('data', (chunk: Buffer) => {
      if (!pair.dropped && !upstream.write(chunk)) pair.client.pause();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!pair.dropped && !pair.client.write(chunk)) upstream.pause();
    });
    upstream.on('drain', () => {
      if (this.modeNow === 'pass' && !pair.dropped) pair.client.resume();
    });
    pair.client.on('drain', () => {
      if (this.modeNow === 'pass' && !pair.dropped) upstream.resume();
    });
    return upstream;
  }

  /** Cuts the pair for good: each end's data is read and discarded, until that end closes. */
  private drop(pair: Pair): void {
    pair.dropped = true;
    pair.client.resume();
    pair.upstream?.resume();
  }

  /** One end closed: the other goes too, unless the pair was dropped (then it never learns of it). */
  private endClosed(pair: Pair): void {
    if (pair.dropped && !(pair.client.destroyed && (pair.upstream?.destroyed ?? true))) return;
    this.destroy(pair);
  }

  private pause(pair: Pair): void {
    pair.client.pause();
    pair.upstream?.pause();
  }

  private resume(pair: Pair): void {
    pair.upstream ??= this.dial(pair);
    pair.client.resume();
    pair.upstream.resume();
  }

  private destroy(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}
