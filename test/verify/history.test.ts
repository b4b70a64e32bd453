import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  type HistoryRecord,
  HistoryFormatError,
  HistoryWriter,
  bodyHash,
  formatHistoryLine,
  parseHistory,
  parseHistoryLine,
  readHistory,
  validateHistory,
} from '../../src/verify/history.js';
import { HistoryBuilder } from './history-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'forge-history-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sample(): HistoryRecord[] {
  const h = new HistoryBuilder()
    .put('alice', 'a1', [0, 10])
    .putInfo('alice', 'a2', 5)
    .consume('alice', 'a1', [20, 30], { requestId: 'r1' })
    .consume('alice', 'a2', [40, 50], { leaseMs: 1000 });
  h.settle('ack', 'alice', `${h.seqOf('a2')}.1`, 'a2', [60, 70]).peek('alice', null, [80, 90]).len('alice', 0, [80, 90]);
  return [
    { type: 'meta', version: 1, timeUnit: 'ns', info: { seed: 42, nemesis: 'partition' } },
    ...h.ops.slice(0, 3),
    { type: 'nemesis', time: 35, action: 'partition', target: 'n1|n2,n3' },
    ...h.ops.slice(3),
  ];
}

function opLine(overrides: Record<string, unknown>): string {
  const base = new HistoryBuilder().put('alice', 'a1', [0, 10]).ops[0]!;
  return JSON.stringify({ ...base, ...overrides });
}

describe('history format', () => {
  it('round-trips records through the writer and the streaming reader', async () => {
    const path = join(dir, 'roundtrip.jsonl');
    const records = sample();
    const w = new HistoryWriter(path, undefined, 64); // tiny flush threshold: exercises several flushes
    for (const r of records) w.write(r);
    w.close();
    const h = await readHistory(path);
    assert.deepEqual(h.meta, records[0]);
    assert.deepEqual(h.nemesis, [records[4]]);
    assert.deepEqual(
      h.ops,
      records.filter((r) => r.type === 'op'),
    );
  });

  it('reads a file whose lines span read chunks, and tolerates a missing final newline and blank lines', async () => {
    const path = join(dir, 'long.jsonl');
    const ops = new HistoryBuilder();
    for (let i = 0; i < 3000; i++) ops.put(`u${i % 7}`, `m${i}`, [i, i + 1]);
    writeFileSync(path, '\n' + ops.ops.map((o) => JSON.stringify(o)).join('\n\n'));
    const h = await readHistory(path);
    assert.equal(h.ops.length, 3000);
    assert.deepEqual(h.ops[2999], ops.ops[2999]);
  });

  it('rejects a line longer than the limit without reading the rest', async () => {
    const path = join(dir, 'huge.jsonl');
    writeFileSync(path, opLine({}) + '\n' + 'x'.repeat(200_000) + '\n');
    await assert.rejects(readHistory(path), (e: unknown) => e instanceof HistoryFormatError && e.line === 2);
    assert.throws(() => parseHistoryLine('x'.repeat(100), 1, { maxLineBytes: 50, maxRecords: 10 }), HistoryFormatError);
  });

  it('rejects more records than the limit', async () => {
    const text = [0, 1, 2].map((i) => opLine({ id: i, process: i })).join('\n');
    assert.throws(() => parseHistory(text, { maxLineBytes: 16384, maxRecords: 2 }), /more than 2 records/);
    const path = join(dir, 'many.jsonl');
    writeFileSync(path, text);
    await assert.rejects(readHistory(path, { maxLineBytes: 16384, maxRecords: 2 }), /more than 2 records/);
  });

  it('names the line and the field of a malformed record', () => {
    const cases: Array<[string, RegExp]> = [
      ['{not json', /line 3: not JSON/],
      ['[1,2]', /must be a JSON object/],
      [JSON.stringify({ type: 'op', op: 'delete' }), /unknown op "delete"/],
      [JSON.stringify({ type: 'blob' }), /unknown record type "blob"/],
      [opLine({ user: 'a/b' }), /user: user must be/],
      [opLine({ call: -1 }), /call/],
      [opLine({ call: 1.5 }), /call/],
      [opLine({ extra: true }), /extra/],
      [opLine({ outcome: 'maybe' }), /outcome/],
      [opLine({ return: null }), /return/],
      [opLine({ input: { msgId: 'a1', bodyHash: 'XYZ' } }), /bodyHash/],
      [opLine({ call: 20 }), /returns before its call/],
      [opLine({ output: { msgId: 'other', seq: 1, duplicate: false } }), /answered for message other/],
    ];
    for (const [line, pattern] of cases) {
      assert.throws(
        () => parseHistory(`\n\n${line}\n`),
        (e: unknown) => e instanceof HistoryFormatError && e.line === 3 && pattern.test(e.message),
        line,
      );
    }
  });

  it('requires a receipt exactly on leased consumes, and none on peeks', () => {
    const h = new HistoryBuilder().put('alice', 'a1', [0, 10]);
    const unleased = h.message('a1', { receipt: '1.1' });
    h.consume('alice', unleased, [20, 30]);
    assert.throws(() => formatHistoryLine(h.ops[1]!), /receipt comes with, and only with, a leased consume/);
    const leasedWithout = { ...h.ops[1]!, input: { leaseMs: 10 }, output: { message: h.message('a1') } } as HistoryRecord;
    assert.throws(() => formatHistoryLine(leasedWithout), /receipt comes with/);
    const peek = new HistoryBuilder().peek('alice', 'a1', [0, 1]).ops[0]!;
    assert.throws(() => parseHistory(JSON.stringify({ ...peek, output: { message: unleased } })), /peek 0 cannot carry a receipt/);
  });

  it('enforces unique op ids, a leading meta record and the process discipline', () => {
    const [a, b] = new HistoryBuilder().put('alice', 'a1', [0, 10]).put('alice', 'a2', [5, 15]).ops as [
      HistoryRecord,
      HistoryRecord,
    ];
    const meta: HistoryRecord = { type: 'meta', version: 1, timeUnit: 'ms' };
    assert.throws(() => validateHistory([a, { ...b, id: 0 } as HistoryRecord]), /op id 0 appears twice/);
    assert.throws(() => validateHistory([a, meta]), /meta record must be the first/);
    // Same process, overlapping intervals.
    assert.throws(() => validateHistory([a, { ...b, process: 0 } as HistoryRecord]), /process 0 ops 0 and 1 overlap/);
    // Same process after an indeterminate op.
    const info = new HistoryBuilder().putInfo('alice', 'a1', 0).ops[0]!;
    assert.throws(
      () => validateHistory([info, { ...b, process: 0, call: 100, return: 110 } as HistoryRecord]),
      /process 0 issued op 1 after indeterminate op 0/,
    );
    // Back to back on one process is fine (closed intervals may touch).
    const h = validateHistory([meta, a, { ...b, process: 0, call: 10, return: 20 } as HistoryRecord]);
    assert.equal(h.ops.length, 2);
  });

  it('the writer refuses invalid records and repeated ids without writing them', async () => {
    const path = join(dir, 'writer.jsonl');
    const [a] = new HistoryBuilder().put('alice', 'a1', [0, 10]).ops as [HistoryRecord];
    const w = new HistoryWriter(path);
    w.write(a);
    assert.throws(() => w.write(a), /op id 0 written twice/);
    assert.throws(() => w.write({ ...a, user: '' } as HistoryRecord), HistoryFormatError);
    assert.throws(() => w.write({ type: 'meta', version: 1, timeUnit: 'ns' }), /meta record must be written first/);
    w.close();
    assert.throws(() => w.write(a), /closed/);
    const h = await readHistory(path);
    assert.deepEqual(h.ops, [a]);
  });

  it('fingerprints bodies with 32 hex digits that differ for different bodies', () => {
    const x = bodyHash(new Uint8Array([1, 2, 3]));
    assert.match(x, /^[0-9a-f]{32}$/);
    assert.equal(x, bodyHash(new Uint8Array([1, 2, 3])));
    assert.notEqual(x, bodyHash(new Uint8Array([1, 2, 4])));
  });
});
