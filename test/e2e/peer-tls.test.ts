// End-to-end attacks on the Raft peer links of a real cluster (mutual TLS, as in production): a
// node with a certificate of another CA cannot join; garbage, forged frames and lying dialers on
// the peer ports change nothing (same leader, same term, committed data intact, still serving);
// and 500 idle sockets held open on the Raft ports do not stop a restarted node from rejoining.

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe } from 'node:test';
import { ensurePeerCerts, issuePeerCert } from '../../src/peer-certs.js';
import { encodeMessage } from '../../src/raft/codec.js';
import { encodeFrame, FRAME } from '../../src/raft/frames.js';
import type { Message } from '../../src/raft/types.js';
import { sleep, useCluster } from '../support/e2e.js';
import { claimIdentity, closedByListener, dialTls, within } from '../support/peer-intruder.js';

interface NodeStatus {
  node: string;
  role: string;
  term: number;
  commitIndex: number;
  members: { voters: string[]; learners: string[] };
  followers?: Record<string, { lag: number }>;
  transport: Record<string, { connected: boolean }>;
}

const USER = 'tls-alice';
const COMMITTED = 30;
/** The attacker's own address: another host, as far as the nodes can tell (they dial from 127.0.0.1). */
const ATTACKER = '127.0.0.2';

describe('peer links under attack on a mutual-TLS cluster', { timeout: 300_000 }, () => {
  const e2e = useCluster({ nodes: 3 });
  const { step, cli } = e2e;
  let before: NodeStatus;

  async function leaderStatus(): Promise<NodeStatus> {
    return (await e2e.client.status()) as NodeStatus;
  }

  async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await probe();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
      await sleep(200);
    }
  }

  /** The leader, its term and the committed data are what they were, and the cluster still commits. */
  async function nothingChanged(): Promise<void> {
    const now = await leaderStatus();
    assert.equal(now.node, before.node, 'same leader');
    assert.equal(now.term, before.term, 'same term');
    assert.equal((await e2e.client.len(USER)).count, COMMITTED);
    const first = await e2e.client.peek(USER);
    assert.ok(first);
    assert.equal(Buffer.from(first.body).toString(), 'm0');
    const put = await e2e.client.put('tls-bob', 'still serving');
    assert.ok(put.seq >= 1);
  }

  step('the cluster runs over mutual TLS and commits data', async () => {
    for (let i = 0; i < COMMITTED; i++) await e2e.client.put(USER, `m${i}`, { id: `m${i}` });
    before = await leaderStatus();
    for (const id of e2e.cluster.ids) {
      assert.match(e2e.cluster.logs(id), /"tls":true[^\n]*accepted peer connection|accepted peer connection[^\n]*"tls":true/, `${id} accepts TLS peers`);
      assert.doesNotMatch(e2e.cluster.logs(id), /development-only shared secret/);
    }
  });

  step('a node with a certificate of another CA cannot join: it never catches up, and the members refuse its certificate', async () => {
    const foreign = ensurePeerCerts(join(e2e.cluster.dir, 'foreign-ca'), ['n4']).get('n4')!;
    // It even trusts the cluster's CA (public): only its own certificate is wrong.
    const port = await e2e.cluster.addJoiningNode('n4', { ...foreign, caFile: join(e2e.cluster.peerTlsDir, 'ca.crt') });
    const added = await cli('add-node', 'n4', `127.0.0.1:${port}`, '--wait', '4000');
    assert.notEqual(added.code, 0, 'add-node must not succeed');
    assert.match(added.stderr, /reached index 0 of/);
    await eventually('a refusal of n4 in the members\' logs', async () =>
      e2e.cluster.ids.filter((id) => id !== 'n4').some((id) => /certificate refused/.test(e2e.cluster.logs(id))) ? true : undefined,
    );
    assert.doesNotMatch(e2e.cluster.logs('n4'), /"msg":"(accepted peer connection|connected to peer)"/);
    const removed = await cli('remove-node', 'n4');
    assert.equal(removed.code, 0, removed.stderr);
    await e2e.cluster.signal('n4', 'SIGTERM');
    await nothingChanged();
  });

  step('garbage, forged frames and lying dialers on every peer port change nothing', async () => {
    const leader = before.node;
    // A certificate of the cluster's CA for a node that is no member (say, a leaked one).
    const insider = issuePeerCert(e2e.cluster.peerTlsDir, 'n9');
    const material = { ca: readFileSync(insider.caFile, 'utf8'), cert: readFileSync(insider.certFile, 'utf8'), key: readFileSync(insider.keyFile, 'utf8') };
    const forged = (to: string): Message => ({ type: 'heartbeat', from: to === leader ? e2e.cluster.ids.find((n) => n !== to)! : leader, to, term: 2 ** 52, commit: 10_000, round: 1 });
    for (const id of e2e.cluster.ids.filter((n) => n !== 'n4')) {
      const port = e2e.cluster.nodes.get(id)!.port;
      // Plain TCP: random bytes, and a forged frame as the old unprotected protocol would carry it.
      for (const bytes of [randomBytes(4096), encodeFrame(FRAME.message, encodeMessage(forged(id)))]) {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: ATTACKER });
        s.on('error', () => {});
        s.write(bytes);
        await within(new Promise((r) => s.once('close', r)), 20_000, `${id} closing a plain TCP connection`);
      }
      // TLS with a valid certificate of n9: claiming to be another node is refused at HELLO...
      const liar = await dialTls(port, material, ATTACKER);
      assert.equal((await claimIdentity(liar, 'e2e', 'n1' === id ? 'n2' : 'n1', id)).kind, FRAME.reject);
      liar.socket.destroy();
      // ...and as itself, a frame speaking for the leader with a huge term is dropped and the link closed.
      const spoofer = await dialTls(port, material, ATTACKER);
      assert.equal((await claimIdentity(spoofer, 'e2e', 'n9', id)).kind, FRAME.welcome);
      spoofer.socket.write(encodeFrame(FRAME.message, encodeMessage(forged(id))));
      await closedByListener(spoofer);
      // ...and garbage inside TLS closes the link too.
      const babbler = await dialTls(port, material, ATTACKER);
      assert.equal((await claimIdentity(babbler, 'e2e', 'n9', id)).kind, FRAME.welcome);
      babbler.socket.write(randomBytes(1000));
      await closedByListener(babbler);
    }
    await sleep(1000);
    await nothingChanged();
    // Had a forged heartbeat been delivered, its node would have taken term 2^52.
    const statuses = (await e2e.client.nodeStatuses()) as NodeStatus[];
    assert.deepEqual(statuses.filter((st) => st.node !== 'n4').map((st) => st.term), [before.term, before.term, before.term]);
  });

  step('500 idle sockets held open on the Raft ports do not stop a restarted node from rejoining', async () => {
    const leader = (await leaderStatus()).node;
    const victim = e2e.cluster.ids.find((id) => id !== leader && id !== 'n4')!;
    await e2e.cluster.signal(victim, 'SIGKILL');
    for (let i = 0; i < 20; i++) await e2e.client.put('tls-carol', `while down ${i}`);
    // The attacker keeps 250 sockets open on the leader's port and 250 on the victim's, reopening
    // each one the node closes: a listener that refused newcomers while 64 were pending (this
    // transport before it evicted the oldest) stays full and never lets the victim back in.
    const siege = new Siege();
    siege.open(e2e.cluster.nodes.get(leader)!.port, 250);
    siege.open(e2e.cluster.nodes.get(victim)!.port, 250);
    try {
      await eventually('the siege in place', async () => (siege.opened >= 500 ? true : undefined), 20_000);
      e2e.cluster.startNode(victim);
      await eventually(`${victim} caught up with the leader`, async () => {
        const st = await leaderStatus();
        return st.followers?.[victim]?.lag === 0 && st.transport[victim]?.connected ? st : undefined;
      }, 60_000);
      assert.ok(siege.held > 0, 'the siege was still holding sockets on the nodes');
    } finally {
      siege.stop();
    }
    await nothingLost();
  });

  // Leadership may move during the siege: 500 sockets churning on a busy 2-core machine can starve
  // a heartbeat for an election timeout. What the siege must not do is keep the victim out or lose data.
  async function nothingLost(): Promise<void> {
    assert.equal((await e2e.client.len(USER)).count, COMMITTED);
    assert.equal((await e2e.client.len('tls-carol')).count, 20);
    const put = await e2e.client.put('tls-carol', 'after the siege');
    assert.ok(put.seq >= 1);
  }
});

/** A socket closed after this long was held until the node's handshake deadline (2 s). */
const HELD_MS = 1000;

/** Idle TCP sockets from the attacker's address, each reopened when the node closes it. */
class Siege {
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Connections established so far, and those of them not closed yet. */
  opened = 0;
  held = 0;

  open(port: number, count: number): void {
    for (let i = 0; i < count; i++) this.one(port);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
  }

  private one(port: number): void {
    if (this.stopped) return;
    const s = net.connect({ port, host: '127.0.0.1', localAddress: ATTACKER });
    this.sockets.add(s);
    let since = Infinity;
    s.on('connect', () => {
      this.opened++;
      this.held++;
      since = Date.now();
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (since !== Infinity) this.held--;
      this.sockets.delete(s);
      // A socket the node held until its deadline is replaced at once, so that a listener that
      // refuses newcomers when full stays full; one refused or pushed out soon retries after a
      // pause (this keeps the siege from becoming a CPU benchmark).
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.one(port);
      }, Date.now() - since >= HELD_MS ? 0 : 1000);
      this.timers.add(t);
    });
  }
}
