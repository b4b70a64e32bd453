import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MailboxClientError } from '../../src/bridge/client.js';
import { HistoryWriter, readHistory } from '../../src/verify/history.js';
import { HistoryRecorder } from '../../src/verify/recorder.js';

const dir = mkdtempSync(join(tmpdir(), 'forge-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('outcomes: only answers proving nothing happened are definite failures', async () => {
  const path = join(dir, 'h.jsonl');
  const writer = new HistoryWriter(path);
  const rec = new HistoryRecorder(writer, 200);
  const head = (process: number) => ({ op: 'len' as const, client: 'c1', process, user: 'u', input: {} });
  const ok = await rec.run(head(rec.newProcess()), async () => ({ count: 1, inFlight: 0, deadLetterCount: 0 }));
  assert.deepEqual([ok.outcome, ok.value], ['ok', { count: 1, inFlight: 0, deadLetterCount: 0 }]);
  const cases: Array<[unknown, string]> = [
    [new MailboxClientError('NOT_LEADER', 'x'), 'fail'],
    [new MailboxClientError('LEASE_EXPIRED', 'x'), 'fail'],
    [new MailboxClientError('TIMEOUT', 'x'), 'info'],
    // The leader stepped down with the proposal pending: it may still commit under the next one.
    [new MailboxClientError('LEADERSHIP_LOST', 'x'), 'info'],
    [new MailboxClientError('UNAVAILABLE', 'x'), 'info'],
    [new MailboxClientError('INTERNAL', 'x'), 'info'],
    [new Error('socket closed'), 'info'],
  ];
  for (const [error, outcome] of cases) {
    const r = await rec.run(head(rec.newProcess()), () => Promise.reject(error));
    assert.equal(r.outcome, outcome, String(error));
  }
  // A call that never settles is indeterminate once the runner's deadline passes.
  const hung = await rec.run(head(rec.newProcess()), () => new Promise<never>(() => {}));
  assert.deepEqual([hung.outcome, hung.error], ['info', 'TIMEOUT']);
  // An answer no server may give (a consume with no delivery) is kept as info and reported.
  const bad = await rec.run(
    { op: 'consume', client: 'c1', process: rec.newProcess(), user: 'u', input: {} },
    async () => ({ message: { msgId: 'm1', seq: 1, bodyHash: 'aabbccdd', deliveries: 0 } }),
  );
  assert.equal(bad.outcome, 'info');
  assert.equal(rec.malformed.length, 1);
  rec.nemesis('kill', 'n1');
  writer.close();

  const h = await readHistory(path);
  assert.equal(h.ops.length, 10);
  assert.deepEqual(
    h.ops.map((o) => o.outcome),
    ['ok', 'fail', 'fail', 'info', 'info', 'info', 'info', 'info', 'info', 'info'],
  );
  assert.ok(h.ops.every((o) => o.return !== null && o.return >= o.call));
  assert.deepEqual(rec.counts(), { len: { ok: 1, fail: 2, info: 6 }, consume: { ok: 0, fail: 0, info: 1 } });
  assert.deepEqual(h.nemesis.map((n) => [n.action, n.target]), [['kill', 'n1']]);
});
