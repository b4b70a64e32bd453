import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { entryBytes, RaftLog } from '../../src/raft/log.js';
import { EntryType, type Entry, type StoredSnapshot } from '../../src/raft/types.js';

function entry(index: number, term: number, length = index % 50): Entry {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (index * 17 + term + i) & 0xff;
  return { term, index, type: index % 9 === 0 ? EntryType.Noop : EntryType.Normal, time: 1_000 + index * 2 + term, data };
}

function snapshot(index: number, term: number): StoredSnapshot {
  return { meta: { index, term, membership: { voters: ['a', 'b', 'c'], learners: [] }, digest: new Uint8Array(32), time: 1_000 + index * 2 }, size: 10 };
}

function plain(e: Entry | undefined): unknown {
  return e === undefined ? undefined : { ...e, data: Array.from(e.data) };
}

/** The log as a plain array, the way it was kept before settled entries went into columns. */
class ModelLog {
  snapshotIndex = 0;
  snapshotTerm = 0;
  entries: Entry[] = [];
  stable = 0;
  commit = 0;
  applied = 0;

  get last(): number {
    return this.snapshotIndex + this.entries.length;
  }

  at(index: number): Entry | undefined {
    return index > this.snapshotIndex ? this.entries[index - this.snapshotIndex - 1] : undefined;
  }

  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    return this.at(index)?.term;
  }

  range(lo: number, hi: number): Entry[] {
    return this.entries.filter((e) => e.index >= lo && e.index < hi);
  }
}

function check(log: RaftLog, model: ModelLog): void {
  assert.equal(log.firstIndex(), model.snapshotIndex + 1);
  assert.equal(log.lastIndex(), model.last);
  assert.equal(log.stableIndex, model.stable);
  assert.equal(log.committed, model.commit);
  assert.equal(log.applied, model.applied);
  assert.equal(log.term(model.snapshotIndex - 1), undefined);
  assert.equal(log.term(model.last + 1), undefined);
  assert.equal(log.entry(model.snapshotIndex), undefined);
  assert.equal(log.entry(model.last + 1), undefined);
  for (let i = model.snapshotIndex; i <= model.last; i++) assert.equal(log.term(i), model.term(i), `term(${i})`);
  for (const e of model.entries) {
    assert.deepEqual(plain(log.entry(e.index)), plain(e), `entry(${e.index})`);
    assert.equal(log.time(e.index), e.time);
    assert.equal(log.bytes(e.index), entryBytes(e));
  }
  assert.deepEqual(log.unstableEntries().map(plain), model.range(model.stable + 1, Infinity).map(plain));
  assert.deepEqual(log.nextCommitted().map(plain), model.range(model.applied + 1, model.commit + 1).map(plain));
  assert.deepEqual(log.slice(0, Infinity, 1e9, 1e12).map(plain), model.entries.map(plain));
  // The limits: at least one entry, then as many as fit.
  const lo = model.snapshotIndex + 1 + Math.floor(model.entries.length / 3);
  const want: Entry[] = [];
  let bytes = 0;
  for (const e of model.range(lo, Infinity)) {
    bytes += entryBytes(e);
    if (want.length > 0 && (want.length >= 5 || bytes > 200)) break;
    want.push(e);
  }
  assert.deepEqual(log.slice(lo, Infinity, 5, 200).map(plain), want.map(plain));
}

test('the log reads as a plain array of its entries through appends, truncations, persistence, apply, compaction and restore', () => {
  type Op =
    | { kind: 'append'; back: number; count: number; termUp: number }
    | { kind: 'stable' | 'commit' | 'apply' | 'compact'; fraction: number }
    | { kind: 'restore'; ahead: number };
  // Integer percents: fc.double draws mostly tiny values, which would hardly ever move an index.
  const fraction = fc.integer({ min: 0, max: 100 }).map((p) => p / 100);
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.nat(20), count: fc.integer({ min: 1, max: 40 }), termUp: fc.nat(1) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('stable' as const, 'commit' as const, 'apply' as const, 'compact' as const), fraction }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('restore' as const), ahead: fc.integer({ min: 1, max: 30 }) }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const log = new RaftLog(null, [], 0);
      const model = new ModelLog();
      let term = 1;
      for (const o of ops) {
        if (o.kind === 'append') {
          // A leader's entries, overwriting an uncommitted suffix when `back` reaches into it.
          const from = Math.max(model.commit + 1, model.last + 1 - o.back);
          term += o.termUp;
          const entries = Array.from({ length: o.count }, (_, i) => entry(from + i, term));
          log.append(entries);
          model.entries = [...model.range(0, from), ...entries];
          model.stable = Math.min(model.stable, from - 1);
        } else if (o.kind === 'stable') {
          const index = model.stable + Math.round((model.last - model.stable) * o.fraction);
          log.stableTo(index, model.term(index)!);
          model.stable = Math.max(model.stable, index);
        } else if (o.kind === 'commit') {
          const index = model.commit + Math.round((model.last - model.commit) * o.fraction);
          log.commitTo(index);
          model.commit = index;
        } else if (o.kind === 'apply') {
          const index = model.applied + Math.round((model.commit - model.applied) * o.fraction);
          log.appliedTo(index);
          model.applied = index;
        } else if (o.kind === 'compact') {
          const upTo = Math.min(model.applied, model.stable);
          if (upTo <= model.snapshotIndex) continue;
          const index = model.snapshotIndex + 1 + Math.round((upTo - model.snapshotIndex - 1) * o.fraction);
          const snapTerm = model.term(index)!;
          log.compact(snapshot(index, snapTerm));
          model.entries = model.range(index + 1, Infinity);
          model.snapshotIndex = index;
          model.snapshotTerm = snapTerm;
        } else if (o.kind === 'restore') {
          const index = model.last + o.ahead;
          log.restore(snapshot(index, term));
          Object.assign(model, { snapshotIndex: index, snapshotTerm: term, entries: [], stable: index, commit: index, applied: index });
        }
        check(log, model);
      }
    }),
    { numRuns: 300 },
  );
});

test('a log loaded at start reads its entries after the snapshot, and refuses a gap', () => {
  const entries = Array.from({ length: 20 }, (_, i) => entry(i + 1, 2));
  const log = new RaftLog(snapshot(5, 2), entries, 12);
  assert.equal(log.firstIndex(), 6);
  assert.equal(log.lastIndex(), 20);
  assert.equal(log.committed, 12);
  assert.equal(log.applied, 5);
  assert.deepEqual(log.nextCommitted().map((e) => e.index), [6, 7, 8, 9, 10, 11, 12]);
  log.appliedTo(12);
  assert.deepEqual(plain(log.entry(8)), plain(entries[7]));
  assert.throws(() => new RaftLog(null, [entry(1, 1), entry(3, 1)], 0), /not contiguous/);
});

test('committed entries are never overwritten, and time and bytes refuse an index outside the log', () => {
  const log = new RaftLog(null, [], 0);
  log.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
  log.commitTo(2);
  assert.throws(() => log.append([entry(2, 2)]), /refusing to overwrite committed index 2/);
  assert.throws(() => log.append([entry(5, 2)]), /gap before index 5/);
  assert.throws(() => log.time(4), RangeError);
  assert.throws(() => log.bytes(0), RangeError);
});
