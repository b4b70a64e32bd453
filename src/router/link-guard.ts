// The link guard: a WebSocket relay between the nodes and their router's remote-api WebSocket,
// run next to the router, that cuts the router link of a node which stops answering pings.
//
// Why. Every remote-api client's declarations live in the router's own runtime session: no
// transport, no lease, and the plugin sends no WebSocket pings. A node whose process is frozen
// (SIGSTOP, a long GC pause, a stalled VM or disk) keeps its TCP connection (the kernel still
// ACKs) and so keeps its queryables declared; the router's default query target (BEST_MATCHING)
// can keep choosing them, and the client's default consolidation waits for every queryable it
// routed to. Nothing inside the frozen process can act, so something beside the router must.
//
// How. Each node connection gets its own upstream WebSocket to the router; frames are relayed
// both ways unchanged. The connections a node process opens name its link group (../link-group.ts)
// and are watched as one: one event loop answers for all of them. A group heard from (a pong or
// any frame on any of its connections) within the last `pingIntervalMs` needs no ping; otherwise
// the guard pings one of its connections, each in turn. The `ws` library answers pings by itself,
// but only while the node's event loop runs. A group that has answered nothing
// for `deadAfterMs` AND through that many of the guard's ticks is cut: the upstream sockets of all
// its connections are destroyed (the router drops their sessions and queryables at once) and so
// are its own (when the node wakes it sees the closes, reconnects, and declares only what its role
// then calls for). Counting the guard's ticks as well as time keeps a guard that was itself
// stalled (busy machine) from blaming the nodes for its own silence. A connection that names no
// group is a group of its own.
//
// The router side is opened first: a node's WebSocket upgrade is answered (101) only once the
// guard's own WebSocket to the router is open, so nothing a node sends ever waits in the guard.
// While the router is down (or does not answer within UPSTREAM_OPEN_TIMEOUT_MS) the upgrade is
// refused with HTTP 502: the node's open fails and its reconnect loop tries again shortly.

import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { CorkedWebSocket } from '../corked-websocket.js';
import { LINK_GROUP_HEADER, linkGroupOf } from '../link-group.js';
import type { LoggerPort } from '../logger-port.js';

export interface LinkGuardOptions {
  /** Where the nodes connect (host of the router's machine or network namespace). */
  listenHost: string;
  /** 0 picks a free port (see `port`). */
  listenPort: number;
  /** The router's private remote-api WebSocket, e.g. ws://127.0.0.1:10000. */
  upstream: string;
  /** Ping period towards the nodes. */
  pingIntervalMs?: number;
  /** A node silent this long (and for as many pings) loses its router link. About an election timeout. */
  deadAfterMs?: number;
  logger: LoggerPort;
}

export const DEFAULT_PING_INTERVAL_MS = 100;
export const DEFAULT_DEAD_AFTER_MS = 400;
/** Largest frame relayed (the remote-api's own frames are far smaller). */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** A router that has not completed its WebSocket handshake within this long counts as down (502). */
const UPSTREAM_OPEN_TIMEOUT_MS = 3000;

interface Link {
  id: number;
  remote: string;
  node: WebSocket;
  router: WebSocket;
  group: Group;
  /** When the guard last pinged this connection (its group's are pinged in turn). */
  pingedAt: number;
  closed: boolean;
}

/** The connections of one node process (or one connection that names no group). */
interface Group {
  /** The name the connections gave, or null for a connection alone. */
  name: string | null;
  links: Set<Link>;
  /** When any of its connections was last heard from. */
  lastHeard: number;
  /** Ticks of the guard since then. */
  quietTicks: number;
}

export class LinkGuard {
  private readonly links = new Set<Link>();
  private readonly groups = new Set<Group>();
  private readonly named = new Map<string, Group>();
  /** Router sockets being opened for node upgrades not yet answered. */
  private readonly opening = new Set<WebSocket>();
  private readonly timer: NodeJS.Timeout;
  private readonly pingIntervalMs: number;
  private readonly deadAfterMs: number;
  private nextId = 1;
  /** Links cut for silence since start (for tests and logs). */
  cutCount = 0;
  /** Pings sent since start (for tests). */
  pingCount = 0;

  private constructor(
    private readonly http: HttpServer,
    private readonly wss: WebSocketServer,
    private readonly opts: LinkGuardOptions,
  ) {
    this.pingIntervalMs = opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    this.deadAfterMs = opts.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
    if (!(this.pingIntervalMs > 0) || !(this.deadAfterMs >= this.pingIntervalMs)) {
      throw new RangeError(`link guard: need 0 < pingIntervalMs <= deadAfterMs, got ${this.pingIntervalMs}, ${this.deadAfterMs}`);
    }
    http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.timer = setInterval(() => this.tick(), this.pingIntervalMs);
  }

  static async start(opts: LinkGuardOptions): Promise<LinkGuard> {
    const http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
    });
    // Both sides of the relay gather what one turn sends into one write: one read of many frames
    // from either side is relayed as one write, not a write per frame.
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, WebSocket: CorkedWebSocket });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(opts.listenPort, opts.listenHost, () => {
        http.off('error', reject);
        resolve();
      });
    });
    const guard = new LinkGuard(http, wss, opts);
    opts.logger.info(
      { listen: `${opts.listenHost}:${guard.port}`, upstream: opts.upstream, pingIntervalMs: guard.pingIntervalMs, deadAfterMs: guard.deadAfterMs },
      'link guard listening',
    );
    return guard;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** Node connections currently relayed. */
  get linkCount(): number {
    return this.links.size;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const link of [...this.links]) this.drop(link, 'guard closing');
    for (const router of this.opening) router.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  /** A node asks to connect: dial the router first, and answer the node only once that link is open. */
  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const router = new CorkedWebSocket(this.opts.upstream, { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    // Terminating a socket still connecting reports an error after the fact: nothing to do about it.
    router.on('error', () => {});
    this.opening.add(router);
    let settled = false;
    const refuse = (why: string) => {
      if (settled) return;
      settled = true;
      cleanup();
      router.terminate();
      if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nZenoh router is down.\n');
      socket.destroy();
      this.opts.logger.debug({ node: remote, reason: why }, 'router unreachable: node refused (502)');
    };
    const timer = setTimeout(() => refuse(`no WebSocket handshake within ${UPSTREAM_OPEN_TIMEOUT_MS} ms`), UPSTREAM_OPEN_TIMEOUT_MS);
    const routerFailed = (e: Error) => refuse(e.message);
    const routerClosed = () => refuse('router closed the link');
    const nodeGone = () => {
      if (settled) return;
      settled = true;
      cleanup();
      router.terminate();
    };
    const cleanup = () => {
      clearTimeout(timer);
      this.opening.delete(router);
      router.off('error', routerFailed);
      router.off('close', routerClosed);
      socket.off('close', nodeGone);
    };
    router.on('error', routerFailed);
    router.on('close', routerClosed);
    socket.on('close', nodeGone);
    router.once('open', () => {
      if (settled) return;
      settled = true;
      cleanup();
      // handleUpgrade answers synchronously (no verifyClient, no extensions): the router's first
      // frame cannot arrive before accept() listens for it. A request it refuses (bad headers, a
      // node already gone) never calls back: the router side is dropped then.
      let accepted = false;
      this.wss.handleUpgrade(req, socket, head, (node) => {
        accepted = true;
        this.accept(node, router, remote, linkGroupOf(req.headers[LINK_GROUP_HEADER]));
      });
      if (!accepted) router.terminate();
    });
  }

  private accept(node: WebSocket, router: WebSocket, remote: string, groupName: string | null): void {
    const now = Date.now();
    let group = groupName === null ? undefined : this.named.get(groupName);
    if (group === undefined) {
      group = { name: groupName, links: new Set(), lastHeard: now, quietTicks: 0 };
      this.groups.add(group);
      if (groupName !== null) this.named.set(groupName, group);
    }
    const link: Link = { id: this.nextId++, remote, node, router, group, pingedAt: 0, closed: false };
    this.links.add(link);
    group.links.add(link);
    // A new connection does not count as hearing from its group: its upgrade may have waited for
    // the router up to UPSTREAM_OPEN_TIMEOUT_MS, and the process may have frozen meanwhile. (A new
    // group starts as heard now.)
    const heard = () => {
      group.lastHeard = Date.now();
      group.quietTicks = 0;
    };
    node.on('pong', heard);
    node.on('message', (data, binary) => {
      heard();
      if (router.readyState === WebSocket.OPEN) router.send(data, { binary });
    });
    router.on('message', (data, binary) => {
      if (node.readyState === WebSocket.OPEN) node.send(data, { binary });
    });
    node.on('close', () => this.drop(link, 'node closed'));
    router.on('close', () => this.drop(link, 'router closed'));
    node.on('error', (e) => this.drop(link, `node link error: ${e.message}`));
    router.on('error', (e) => this.drop(link, `router link error: ${e.message}`));
    this.opts.logger.debug({ link: link.id, node: remote, group: groupName }, 'node connected');
  }

  private tick(): void {
    const now = Date.now();
    const ticksNeeded = Math.ceil(this.deadAfterMs / this.pingIntervalMs);
    for (const group of [...this.groups]) {
      const quietMs = now - group.lastHeard;
      if (group.quietTicks >= ticksNeeded && quietMs >= this.deadAfterMs) {
        const links = [...group.links];
        this.cutCount += links.length;
        this.opts.logger.warn({ links: links.map((l) => l.id), node: links[0]?.remote, silentMs: quietMs }, 'node stopped answering: its router links cut');
        for (const link of links) this.drop(link, 'silent');
        continue;
      }
      group.quietTicks++;
      if (quietMs < this.pingIntervalMs) continue;
      let next: Link | null = null;
      for (const link of group.links) {
        if (link.node.readyState === WebSocket.OPEN && (next === null || link.pingedAt < next.pingedAt)) next = link;
      }
      if (next === null) continue;
      next.pingedAt = now;
      next.node.ping();
      this.pingCount++;
    }
  }

  /** Ends both sides at once (no closing handshake: the router must drop the session now). */
  private drop(link: Link, reason: string): void {
    if (link.closed) return;
    link.closed = true;
    this.links.delete(link);
    const group = link.group;
    group.links.delete(link);
    if (group.links.size === 0) {
      this.groups.delete(group);
      if (group.name !== null) this.named.delete(group.name);
    }
    link.router.terminate();
    link.node.terminate();
    if (reason !== 'silent') this.opts.logger.debug({ link: link.id, node: link.remote, reason }, 'link closed');
  }
}

/** Parses `host:port` (IPv6 hosts in brackets). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new RangeError(`expected host:port, got "${text}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
