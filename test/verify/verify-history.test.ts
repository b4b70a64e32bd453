import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HistoryFormatError, HistoryWriter } from '../../src/verify/history.js';
import { verifyHistory } from '../../src/verify/verify-history.js';
import { HistoryBuilder } from './history-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'forge-verify-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function save(name: string, h: HistoryBuilder): string {
  const path = join(dir, name);
  const w = new HistoryWriter(path);
  w.write({ type: 'meta', version: 1, timeUnit: 'ns', info: { test: name } });
  for (const op of h.ops) w.write(op);
  w.close();
  return path;
}

describe('verifyHistory', () => {
  it('passes a clean run: linearizable, nothing lost, duplicated or unexpected', async () => {
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .putInfo('alice', 'a2', 5)
      .consume('alice', 'a1', [20, 30])
      .consume('alice', 'a2', [40, 50])
      .drain('alice', 100);
    const v = await verifyHistory(save('clean.jsonl', h), { timeoutMs: 10_000 });
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.ops, 5);
    assert.deepEqual(v.totalQueue.recovered, [{ user: 'alice', msgId: 'a2' }]);
  });

  it('fails a run with a lost put on both counts', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]).drain('alice', 100);
    const v = await verifyHistory(save('lost.jsonl', h), { timeoutMs: 10_000 });
    assert.equal(v.ok, false);
    assert.equal(v.linearizability.perUser.alice?.result, 'illegal');
    assert.equal(v.totalQueue.counts.lost, 1);
  });

  it('fails a run the linearizability check alone catches', async () => {
    // Nothing is lost in the end, but the empty answer came after a1 was acknowledged.
    const h = new HistoryBuilder()
      .put('alice', 'a1', [0, 10])
      .consume('alice', null, [20, 30])
      .consume('alice', 'a1', [40, 50])
      .drain('alice', 100);
    const v = await verifyHistory(save('early-empty.jsonl', h), { timeoutMs: 10_000 });
    assert.equal(v.totalQueue.ok, true);
    assert.equal(v.linearizability.linearizable, false);
    assert.equal(v.ok, false);
  });

  it('rejects a malformed file before checking', async () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    const path = save('bad.jsonl', h);
    await assert.rejects(verifyHistory(path, { limits: { maxLineBytes: 64, maxRecords: 10 } }), HistoryFormatError);
  });
});
