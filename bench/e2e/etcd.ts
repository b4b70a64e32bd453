// etcd in the end-to-end benchmark: three members of Debian's etcd clustered on loopback (Raft,
// fsync on a majority before answering), each put a 100-byte value under its own key, sent as
// JSON to the members' gRPC gateway (`POST /v3/kv/put`, base64 key and value) over HTTP/1.1
// keep-alive connections, spread over the three members as etcd's own client balances them. The
// connections are closed before the members are stopped: a member waits for its clients' open
// connections before it exits.
// etcd has no queue: it has put rows only.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/router/zenoh-router.js';
import { sleep } from '../../src/verify/process-cluster.js';
import { closedLoop } from '../load.js';
import { runs, stopChild } from './processes.js';
import { rowLine, type Row } from './rows.js';
import { levelsOf, type Cleanups, type Workload } from './workload.js';

export const ETCD_INSTALL = 'apt-get update && apt-get install -y etcd-server';

/** Why etcd cannot run here, or null when it can. */
export async function etcdMissing(): Promise<string | null> {
  return runs('etcd', ['--version']) ? null : `etcd not on PATH (${ETCD_INSTALL})`;
}

/** The members' client URLs. */
async function startCluster(cleanups: Cleanups): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-bench-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const clientUrls: string[] = [];
  const peerUrls: string[] = [];
  for (let i = 0; i < 3; i++) {
    clientUrls.push(`http://127.0.0.1:${await freePort()}`);
    peerUrls.push(`http://127.0.0.1:${await freePort()}`);
  }
  const initialCluster = peerUrls.map((u, i) => `e${i + 1}=${u}`).join(',');
  const children: ChildProcess[] = [];
  cleanups.push(async () => {
    // One at a time: members stopped together hand the leadership to each other until the
    // last one gives up (seconds), while a member stopped beside running ones hands it over at once.
    for (const c of children) await stopChild(c);
  });
  for (let i = 0; i < 3; i++) {
    const log = openSync(join(dir, `e${i + 1}.log`), 'a');
    children.push(
      spawn(
        'etcd',
        [
          '--name', `e${i + 1}`,
          '--data-dir', join(dir, `e${i + 1}`),
          '--listen-client-urls', clientUrls[i]!,
          '--advertise-client-urls', clientUrls[i]!,
          '--listen-peer-urls', peerUrls[i]!,
          '--initial-advertise-peer-urls', peerUrls[i]!,
          '--initial-cluster', initialCluster,
          '--initial-cluster-state', 'new',
          '--initial-cluster-token', 'forge-bench',
        ],
        { stdio: ['ignore', log, log] },
      ),
    );
    closeSync(log);
  }
  return clientUrls;
}

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');

function put(agent: Agent, url: string, key: string, value: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v3/kv/put`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode === 200) resolve();
        else reject(new Error(`etcd put: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ key: b64(key), value }));
  });
}

export async function benchEtcd(work: Workload, cleanups: Cleanups): Promise<Row[]> {
  const urls = await startCluster(cleanups);
  const agent = new Agent({ keepAlive: true });
  cleanups.push(async () => agent.destroy());
  const value = b64(work.body);
  // A put answers once the members have elected a leader.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await put(agent, urls[0]!, 'bench/ready', value);
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(250);
    }
  }
  const version = spawnSync('etcd', ['--version']).stdout.toString().split('\n')[0]!.trim();
  console.log(`etcd: 3 members up (${version.replace('etcd Version: ', 'etcd ')}), puts through the JSON gRPC gateway`);
  const rows: Row[] = [];
  let seq = 0;
  for (const { inFlight, seconds, warmUp } of levelsOf(work)) {
    const figures = await closedLoop(inFlight, seconds, async (w) => {
      await put(agent, urls[w % urls.length]!, `bench/${work.users[w % work.users.length]}/${seq++}`, value);
      return true;
    });
    if (warmUp) continue;
    const row: Row = { system: 'etcd', phase: 'put', inFlight, figures, note: 'JSON gateway, spread over the 3 members' };
    rows.push(row);
    console.log(rowLine(row));
  }
  return rows;
}
