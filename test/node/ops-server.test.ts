import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import type { HealthReport } from '../../src/node/health.js';
import { OpsServer } from '../../src/node/ops-server.js';

test('GET /livez and /readyz answer 200 with their checks, or 503 naming the failing ones; /metrics serves the registry', async (t) => {
  const registry = new Registry();
  new Counter({ name: 'forge_test_total', help: 'a test counter', registers: [registry] }).inc(2);
  const ok: HealthReport = { ok: true, checks: { not_halted: 'ok' }, failed: [] };
  let ready: HealthReport = ok;
  const server = new OpsServer({ registry, livez: () => ok, readyz: () => ready });
  const port = await server.listen('127.0.0.1', 0);
  t.after(() => server.close());
  const get = (path: string, method = 'GET') => fetch(`http://127.0.0.1:${port}${path}`, { method });

  const live = await get('/livez');
  assert.equal(live.status, 200);
  assert.equal(live.headers.get('content-type'), 'application/json');
  assert.deepEqual(await live.json(), { status: 'ok', checks: { not_halted: 'ok' } });

  ready = { ok: false, checks: { not_halted: 'ok', leader_known: 'no leader known in term 3' }, failed: ['leader_known'] };
  const notReady = await get('/readyz?verbose');
  assert.equal(notReady.status, 503);
  assert.deepEqual(await notReady.json(), { status: 'failing', failed: ['leader_known'], checks: ready.checks });

  const metrics = await get('/metrics');
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^forge_test_total 2$/m);
  assert.equal((await get('/other')).status, 404);
  assert.equal((await get('/livez', 'POST')).status, 405);
});
