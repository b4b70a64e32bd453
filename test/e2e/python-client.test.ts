// End-to-end: the Python client module (clients/python/forge_mailbox.py, on eclipse-zenoh) against
// three real nodes behind the real, secured Zenoh router, driven by test/support/python_client_driver.py.
// Bounds are generous: the CI machine is a busy 2-core box.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'node:test';
import { eventually, metricValue, repoRoot, runPython, sleep, useCluster, venvPython } from '../support/e2e.js';

const DRIVER = 'test/support/python_client_driver.py';

describe('the Python client module against a real cluster', { timeout: 300_000 }, () => {
  const e2e = useCluster({ nodes: 3, metrics: true });
  const { step } = e2e;

  /** The driver as a child process, for steps that act while it runs. */
  const spawnDriver = (scenario: string, user: string) => {
    const python = venvPython;
    assert.ok(existsSync(python), `${python} missing: run scripts/setup-python.sh`);
    const child = spawn(python, [join(repoRoot, DRIVER), e2e.cluster.router.clientConfig, scenario, user], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
      env: { ...process.env, FORGE_TOKEN: e2e.cluster.adminToken },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    return {
      stdout: () => stdout,
      /** Its last line, once it exited 0. */
      result: async (): Promise<Record<string, unknown>> => {
        assert.equal(await exited, 0, `${stdout}\n${stderr}`);
        return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      },
    };
  };

  const drive = async (scenario: string, user: string): Promise<Record<string, unknown>> => {
    const stdout = await runPython(DRIVER, [e2e.cluster.router.clientConfig, scenario, user], 120_000, { FORGE_TOKEN: e2e.cluster.adminToken });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  };

  step('put, consume, receive and ack round-trip through the module, bytes intact', async () => {
    assert.deepEqual(await drive('round-trip', 'py-rt'), {
      put: { id: 'rt-1', duplicate: false },
      consumed: { id: 'rt-1', body: 'from python é', receipt: null },
      received: { id: 'rt-2', body_hex: '0001ff', has_receipt: true },
      in_flight_before_ack: 1,
      count_after: 0,
      in_flight_after: 0,
      empty: true,
    });
  });

  step('a Python long poll is woken by a put made 1 s later from TypeScript', async () => {
    const driver = spawnDriver('long-poll', 'py-late');
    await eventually('the Python consumer parked on the leader', async () => {
      if (!driver.stdout().includes('"parked"')) return undefined;
      const leader = ((await e2e.client.status()) as { node: string }).node;
      const page = await (await fetch(e2e.cluster.metricsUrl(leader))).text();
      return metricValue(page, 'forge_parked_consumers') === 1 ? true : undefined;
    }, 60_000);
    await sleep(1000);
    await e2e.client.put('py-late', 'wake up', { id: 'late-1' });
    const got = (await driver.result()) as { id: string; body: string; elapsed_ms: number };
    assert.equal(got.id, 'late-1');
    assert.equal(got.body, 'wake up');
    assert.ok(got.elapsed_ms >= 1000 && got.elapsed_ms < 9000, `answered after ${got.elapsed_ms} ms of a 10 s wait`);
  });

  step('batches through the module: put_batch all at once and its retry all duplicates, consume_batch in order, receive_batch with receipts', async () => {
    assert.deepEqual(await drive('batches', 'py-batch'), {
      first: [['b-1', false], ['b-2', false], ['b-3', false]],
      again: [['b-1', true], ['b-2', true], ['b-3', true]],
      seqs_in_order: true,
      same_seqs: true,
      two: [['b-1', 'b1'], ['b-2', 'b2']],
      leased: [['b-3', true]],
      in_flight: 1,
      empty: [],
      count: 0,
    });
  });

  step('lease control through the module: delayed put woken in a long poll, touch, nack with delay 0, redrive', async () => {
    const got = (await drive('lease-control', 'py-lease')) as { woken_ms: number } & Record<string, unknown>;
    console.log(`Python long poll got a delay=1500 put ${got.woken_ms} ms after the put`);
    assert.ok(got.woken_ms >= 1400 && got.woken_ms < 8000, `${got.woken_ms} ms`);
    const { woken_ms: _, ...rest } = got;
    assert.deepEqual(rest, {
      delayed: 1,
      invisible: true,
      woken: 'd-1',
      in_flight_after_first_end: 1,
      deliveries: 5,
      dead: 1,
      redriven: 1,
      back: ['t-1', 1],
    });
  });

  step('the same put id sent twice enqueues once', async () => {
    assert.deepEqual(await drive('same-id', 'py-dup'), { first: false, second: true, same_seq: true, count: 1 });
    const m = await e2e.client.consume('py-dup');
    assert.equal(m?.id, 'dup-1');
    assert.equal(await e2e.client.consume('py-dup'), null);
  });

  step('messages() yields leased messages to ack, long-polls, and stops soon after the client is closed', async () => {
    const got = (await drive('messages', 'py-loop')) as { bodies: string[]; count: number; in_flight: number; stop_ms: number };
    assert.deepEqual(got.bodies, ['one', 'two']);
    assert.equal(got.count, 0, 'both acked');
    assert.equal(got.in_flight, 0);
    assert.ok(got.stop_ms < 5000, `the loop stopped ${got.stop_ms} ms after close, while a 20 s long poll was parked`);
  });

  step('refusals are typed MailboxErrors: BAD_REQUEST, and UNAUTHORIZED for a bad token', async () => {
    assert.deepEqual(await drive('errors', 'py-err'), { bad_request: 'BAD_REQUEST', bad_token: 'UNAUTHORIZED' });
    assert.equal((await e2e.client.len('py-err')).count, 0);
  });

  step('puts and consumes of 16 threads go out together, and a kill -9 of the leader among the consumes takes each message once', async () => {
    const { node: leader } = (await e2e.client.status()) as { node: string };
    const driver = spawnDriver('together', 'py-tg');
    const consumed = () => Math.max(0, ...[...driver.stdout().matchAll(/"consumed": (\d+)/g)].map((m) => Number(m[1])));
    // Polled often: the consumes of 4,800 messages take a few seconds, and the kill must land among them.
    const deadline = Date.now() + 120_000;
    while (consumed() < 300) {
      assert.ok(Date.now() < deadline, `no consumes after 120 s: ${driver.stdout().slice(-500)}`);
      await sleep(10);
    }
    await e2e.cluster.signal(leader, 'SIGKILL');
    const got = (await driver.result()) as { taken: string[]; requests: number; many: Record<string, number>; carried: number };
    const expected = Array.from({ length: 16 * 300 }, (_, k) => `tg-${Math.floor(k / 300)}-${k % 300}`).sort();
    assert.deepEqual([...got.taken].sort(), expected, 'each message taken exactly once');
    assert.ok(got.many['@puts']! > 0 && got.many['@consumes']! > 0, `sent together: ${JSON.stringify(got.many)}`);
    assert.ok(got.carried > got.requests, `${got.carried} requests carried for ${got.requests} made: the kill should have made some be sent again`);
    console.log(`16 Python threads: ${got.requests} requests made, ${got.carried} carried (retries included), ${got.many['@puts']} @puts and ${got.many['@consumes']} @consumes queries`);
    // Back to three nodes for the last step.
    e2e.cluster.startNode(leader);
    await eventually(`${leader} ready again`, async () => ((await fetch(e2e.cluster.healthUrl(leader, 'readyz'))).ok ? true : undefined), 60_000);
  });

  // Last: it leaves the cluster a node short.
  step('puts retried through a kill -9 of the leader land exactly once each, in order', async () => {
    const { node: leader } = (await e2e.client.status()) as { node: string };
    const driver = spawnDriver('kill', 'py-kill');
    await eventually('20 Python puts acknowledged', async () => ((driver.stdout().match(/"put"/g) ?? []).length >= 20 ? true : undefined), 60_000);
    await e2e.cluster.signal(leader, 'SIGKILL');
    const got = (await driver.result()) as { gets: number; duplicates: number; slowest_put_ms: number };
    assert.ok(got.gets > 300, `${got.gets} GETs for 300 puts: the kill should have made the client retry`);
    await e2e.cluster.waitForLeader(e2e.client, 30_000, leader);
    const ids: string[] = [];
    for (let m = await e2e.client.consume('py-kill'); m !== null; m = await e2e.client.consume('py-kill')) ids.push(m.id);
    assert.deepEqual(ids, Array.from({ length: 300 }, (_, i) => `k-${i}`), `${got.duplicates} puts answered duplicate`);
  });
});
