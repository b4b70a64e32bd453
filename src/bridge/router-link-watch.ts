// Watches a group of WebSockets to one router for silence, as one. A node keeps 17 sessions to its
// router (the bridge's and 16 wait lanes), over one path from one event loop: a router or path
// that goes silent goes silent for all of them, so the group shares one liveness: any frame or
// pong on any of its sockets counts as hearing the router. A ping is sent only when the group has
// heard nothing for a ping period (under load, the traffic itself is the proof), to each socket of
// the group in turn. When the group has heard nothing for `silenceMs`, every socket in it is
// reported silent. One socket dead while the others talk (which one path makes unlikely) is left
// to each session's health checks (router-connection.ts).
//
// Our own lag must never count as the router's silence. So the group is silent only when, besides
// nothing heard for `silenceMs`, a ping has gone unanswered for half that: after a stall of this
// event loop with no ping out (traffic had just been heard), the first ping after it gets that
// long for its answer. And silence is judged only after the turn's I/O has been read: a lagging
// loop runs its timers before reading its sockets, where an answer may wait.

import type { WebSocket as NodeWebSocket } from 'ws';

export interface LinkWatchTuning {
  /** The group pings when it has heard nothing for this long. */
  pingIntervalMs: number;
  /** The group's sockets are reported silent after this long with nothing heard. */
  silenceMs: number;
}

interface Member {
  /** When the watch last pinged this socket (they are pinged in turn). */
  pingedAt: number;
  silent: (silentMs: number) => void;
  forget: () => void;
}

export class RouterLinkWatch {
  private readonly members = new Map<NodeWebSocket, Member>();
  /** When any socket of the group last heard from the router. */
  private heardAt = Date.now();
  /** When the oldest ping not answered yet (nothing heard since) went out; null when none is out. */
  private pingedSince: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private judging: NodeJS.Immediate | null = null;
  /** Pings sent since start (for tests). */
  pingsSent = 0;

  constructor(private readonly tuning: LinkWatchTuning) {}

  /**
   * Watches `ws`, just opened, with the group: `silent` is called once, with how long the group has
   * heard nothing, when that passes `silenceMs` (the socket is then no longer watched). Returns
   * what stops the watch of this socket.
   */
  watch(ws: NodeWebSocket, silent: (silentMs: number) => void): () => void {
    const now = Date.now();
    const member: Member = {
      pingedAt: 0,
      silent,
      forget: () => {
        ws.off('pong', hear);
        ws.off('message', hear);
        this.members.delete(ws);
        if (this.members.size === 0 && this.timer !== null) {
          clearInterval(this.timer);
          this.timer = null;
          if (this.judging !== null) clearImmediate(this.judging);
          this.judging = null;
        }
      },
    };
    const hear = () => {
      this.heardAt = Date.now();
      this.pingedSince = null;
    };
    // A socket that has just opened has just been heard, and so has the path the group shares.
    this.heardAt = now;
    this.pingedSince = null;
    ws.on('pong', hear);
    ws.on('message', hear);
    this.members.set(ws, member);
    this.timer ??= setInterval(() => this.tick(), this.tuning.pingIntervalMs);
    return () => {
      if (this.members.get(ws) === member) member.forget();
    };
  }

  /** Since when the group has heard nothing (Date.now() ms). */
  lastHeard(): number {
    return this.heardAt;
  }

  /** How long the group has heard nothing, if that makes it silent at `now`; null otherwise. */
  private silentFor(now: number): number | null {
    if (this.pingedSince === null || now - this.pingedSince < this.tuning.silenceMs / 2) return null;
    const quietMs = now - this.heardAt;
    return quietMs > this.tuning.silenceMs ? quietMs : null;
  }

  private tick(): void {
    const now = Date.now();
    if (this.silentFor(now) !== null) {
      this.judging ??= setImmediate(() => {
        this.judging = null;
        const silentMs = this.silentFor(Date.now());
        if (silentMs === null) return;
        for (const member of [...this.members.values()]) {
          member.forget();
          member.silent(silentMs);
        }
      });
      return;
    }
    if (now - this.heardAt < this.tuning.pingIntervalMs) return;
    let next: [NodeWebSocket, Member] | null = null;
    for (const entry of this.members) {
      // A socket closing is on its way out: its session hears of the close and stops watching it.
      if (entry[0].readyState === entry[0].OPEN && (next === null || entry[1].pingedAt < next[1].pingedAt)) next = entry;
    }
    if (next === null) return;
    next[1].pingedAt = now;
    next[0].ping();
    this.pingedSince ??= now;
    this.pingsSent++;
  }
}
