// Memory per entry a node holds in its Raft log between snapshots: 300,000 entries of 140 bytes
// (a 100-byte put with its user and id), arriving as a follower receives them (decoded from
// append messages of 64 entries), then a full GC, and the growth of heapUsed, external and RSS
// over the entries. One way of holding them per process, so that the figures do not mix:
//   node --expose-gc --import tsx bench/log-memory-bench.ts objects   (an array of the decoded
//        Entry objects: how the log held every entry before settled entries went into columns)
//   node --expose-gc --import tsx bench/log-memory-bench.ts log       (a RaftLog that persisted
//        and applied them: settled, in columns)
// optionally followed by --entries N and --bytes N. A script that prints, not a test.

import { loadavg } from 'node:os';
import { decodeMessage, encodeMessage } from '../src/raft/codec.js';
import { RaftLog } from '../src/raft/log.js';
import { EntryType, type Entry } from '../src/raft/types.js';
import { arg, wholeNumber } from './cli-args.js';
import { memoryAfterGc } from './memory-after-gc.js';

const ENTRIES = wholeNumber('entries', arg('entries', '300000'), 1);
const DATA_BYTES = wholeNumber('bytes', arg('bytes', '140'), 0, 1 << 20);
const PER_MESSAGE = 64;



/** The entries index..index+count-1 as a follower gets them: decoded from one append message. */
function received(index: number, count: number): Entry[] {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const data = new Uint8Array(DATA_BYTES).fill((index + i) & 0xff);
    entries.push({ term: 3, index: index + i, type: EntryType.Normal, time: 1_700_000_000_000 + index + i, data });
  }
  const frame = encodeMessage({ type: 'append', from: 'n1', to: 'n2', term: 3, prevLogIndex: index - 1, prevLogTerm: 3, entries, commit: index - 1 });
  const m = decodeMessage(frame);
  if (m.type !== 'append') throw new Error('expected an append');
  return m.entries;
}

const kind = process.argv[2];
if (kind !== 'objects' && kind !== 'log') {
  console.error('usage: log-memory-bench.ts objects|log [--entries N] [--bytes N]');
  process.exit(2);
}
const before = memoryAfterGc();
const t0 = performance.now();
const held: Entry[] = [];
const log = new RaftLog(null, [], 0);
for (let index = 1; index <= ENTRIES; index += PER_MESSAGE) {
  const entries = received(index, Math.min(PER_MESSAGE, ENTRIES - index + 1));
  if (kind === 'objects') {
    for (const e of entries) held.push(e);
  } else {
    // As the core does on a follower: append, persist, learn the commit, apply.
    const last = entries.at(-1)!;
    log.append(entries);
    log.stableTo(last.index, last.term);
    log.commitTo(last.index);
    log.appliedTo(last.index);
  }
}
const fillMs = performance.now() - t0;
const after = memoryAfterGc();
const per = (k: 'heapUsed' | 'external' | 'rss') => ((after[k] - before[k]) / ENTRIES).toFixed(1);
let readMs = 0;
if (kind === 'log') {
  // What a follower catching up from these entries costs: read them all back, 64 at a time.
  const t1 = performance.now();
  let n = 0;
  for (let lo = 1; lo <= ENTRIES; lo += PER_MESSAGE) n += log.slice(lo, ENTRIES + 1, PER_MESSAGE, 1 << 20).length;
  readMs = performance.now() - t1;
  if (n !== ENTRIES) throw new Error(`read back ${n} of ${ENTRIES} entries`);
}
console.log(
  `${kind}, node ${process.version}, load ${loadavg()[0]!.toFixed(2)}: ${ENTRIES.toLocaleString('en-US')} held entries of ${DATA_BYTES} bytes, ` +
    `held in ${fillMs.toFixed(0)} ms; per entry: heapUsed ${per('heapUsed')} B, external ${per('external')} B, RSS ${per('rss')} B` +
    (kind === 'log' ? `; read back as Entry objects in ${readMs.toFixed(0)} ms (${((readMs * 1e6) / ENTRIES).toFixed(0)} ns an entry)` : '') +
    ` (${(kind === 'log' ? log.lastIndex() : held.length).toLocaleString('en-US')} held at the end)`,
);
