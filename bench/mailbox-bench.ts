// Figures for the mailbox state machine: apply throughput (typed and encoded paths), snapshot and
// restore of 1,000,000 queued messages, and heap cost per queued message. Bodies are kept in a file
// body store in a temp dir, as a node keeps them (bench/body-memory-bench.ts compares the stores).
// Run: node --expose-gc --import tsx bench/mailbox-bench.ts   (a script that prints, not a test)

import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCommand } from '../src/mailbox/codec.js';
import type { MailboxCommand } from '../src/mailbox/commands.js';
import { Mailbox } from '../src/mailbox/mailbox.js';
import { MailboxStateMachine } from '../src/mailbox/replicated.js';
import { FileBodyStore } from '../src/node/file-body-store.js';

const BODY_BYTES = 100;
const USERS = 1000;
const QUEUED = 1_000_000;
const OPS = 1_000_000;

/** Limits raised so that a million messages fit; everything else stays at its default. */
const benchOptions = { maxMessagesPerMailbox: 10_000_000, maxBytesPerMailbox: 4 * 1024 * 1024 * 1024 };

const benchDefaultTtl = 24 * 3600 * 1000;

const gc = (globalThis as { gc?: () => void }).gc;

const storeRoot = mkdtempSync(join(tmpdir(), 'forge-mailbox-bench-'));
process.on('exit', () => rmSync(storeRoot, { recursive: true, force: true }));
let stores = 0;

/** A body directory of its own for each mailbox made here. */
function bodies(): FileBodyStore {
  return FileBodyStore.open(join(storeRoot, `bodies-${stores++}`));
}

function body(i: number): Uint8Array {
  const b = new Uint8Array(BODY_BYTES);
  b.fill(i & 0xff);
  return b;
}

function perSecond(n: number, ms: number): string {
  return Math.round((n / ms) * 1000).toLocaleString('en-US');
}

/**
 * Wall time and this process's CPU time. On a shared machine the wall figure includes time spent
 * descheduled; the CPU figure does not (but does include GC helper threads, so it errs low on rates).
 */
function timed<T>(fn: () => T): { value: T; wallMs: number; cpuMs: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wallMs, cpuMs: (c.user + c.system) / 1000 };
}

function report(label: string, n: number, t: { wallMs: number; cpuMs: number }): void {
  console.log(
    `${label}: ${n.toLocaleString('en-US')} applies, wall ${t.wallMs.toFixed(0)} ms = ${perSecond(n, t.wallMs)}/s, ` +
      `cpu ${t.cpuMs.toFixed(0)} ms = ${perSecond(n, t.cpuMs)}/s`,
  );
}

function users(): string[] {
  return Array.from({ length: USERS }, (_, i) => `user-${i}`);
}

/** Alternating put and consume over 1000 users: the steady state of a busy mailbox. Best of 3 rounds. */
function typedThroughput(): void {
  const m = new Mailbox(benchOptions, bodies());
  const names = users();
  const b = body(7);
  const cmds: MailboxCommand[] = [];
  for (let i = 0; i < OPS / 2; i++) {
    const user = names[i % USERS]!;
    cmds.push({ op: 'put', user, body: b }, { op: 'consume', user });
  }
  let index = 0;
  for (let round = 1; round <= 3; round++) {
    const t = timed(() => {
      for (let i = 0; i < cmds.length; i++) {
        index++;
        m.apply(cmds[i]!, { index, term: 1, time: 1_700_000_000_000 + (index >> 4) });
      }
    });
    report(`typed   put+consume ${BODY_BYTES}B round ${round}`, cmds.length, t);
  }
}

function encodedThroughput(): void {
  const sm = new MailboxStateMachine(benchOptions, bodies());
  const names = users();
  const b = body(7);
  const entries: Uint8Array[] = [];
  for (let i = 0; i < OPS / 2; i++) {
    const user = names[i % USERS]!;
    entries.push(encodeCommand({ op: 'put', user, body: b }), encodeCommand({ op: 'consume', user }));
  }
  let index = 0;
  for (let round = 1; round <= 3; round++) {
    const t = timed(() => {
      let errors = 0;
      for (let i = 0; i < entries.length; i++) {
        index++;
        if (sm.apply(entries[i]!, { index, term: 1, time: 1_700_000_000_000 + (index >> 4) }).kind === 'error') errors++;
      }
      if (errors > 0) throw new Error(`${errors} commands refused`);
    });
    report(`encoded put+consume ${BODY_BYTES}B round ${round}`, entries.length, t);
  }
}

function heapNow(): number {
  gc?.();
  gc?.();
  const u = process.memoryUsage();
  return u.heapUsed + u.arrayBuffers;
}

function fill(m: Mailbox, n: number): void {
  const names = users();
  for (let i = 0; i < n; i++) {
    // Each body is a fresh allocation, as a decoded log entry would be.
    m.apply({ op: 'put', user: names[i % USERS]!, body: body(i) }, { index: i + 1, term: 1, time: 1_700_000_000_000 + i });
  }
}

/** What the same messages cost as naive records: one object each with a Uint8Array body of its own. */
function naiveBytesPerMessage(): number {
  const before = heapNow();
  const records: { id: string; seq: number; body: Uint8Array; enqueuedAt: number; expiresAt: number; deliveries: number }[] = [];
  for (let i = 0; i < QUEUED; i++) {
    const t = 1_700_000_000_000 + i;
    records.push({ id: `@${i}`, seq: i, body: body(i).slice(), enqueuedAt: t, expiresAt: t + 86_400_000, deliveries: 0 });
  }
  const after = heapNow();
  if (records.length !== QUEUED) throw new Error('unreachable');
  return (after - before) / QUEUED;
}

function memoryAndSnapshot(): void {
  if (gc === undefined) console.log('(run with --expose-gc for exact memory figures)');
  const before = heapNow();
  const m = new Mailbox(benchOptions, bodies());
  fill(m, QUEUED);
  const after = heapNow();
  const perMessage = (after - before) / QUEUED;
  console.log(
    `memory: ${QUEUED.toLocaleString('en-US')} queued ${BODY_BYTES}B messages in ${USERS} mailboxes take ${((after - before) / 1048576).toFixed(1)} MiB ` +
      `of heap and array buffers = ${perMessage.toFixed(1)} B/message (the bodies are in the file store, ${m.bodyUsage().storedBytes.toLocaleString('en-US')} bytes)`,
  );

  const snap = timed(() => m.snapshot());
  console.log(
    `snapshot: ${QUEUED.toLocaleString('en-US')} messages, wall ${snap.wallMs.toFixed(0)} ms, cpu ${snap.cpuMs.toFixed(0)} ms, ` +
      `${(snap.value.length / 1048576).toFixed(1)} MiB (${(snap.value.length / QUEUED).toFixed(1)} B/message)`,
  );

  const copy = new Mailbox(benchOptions, bodies());
  const restore = timed(() => copy.restore(snap.value));
  const again = copy.snapshot();
  const same = again.length === snap.value.length && Buffer.compare(again, snap.value) === 0;
  console.log(`restore: wall ${restore.wallMs.toFixed(0)} ms, cpu ${restore.cpuMs.toFixed(0)} ms; re-snapshot byte-identical: ${same}`);

  // Message i was put at base + i with the default 24 h TTL: this sweep finds the oldest 10,000 expired.
  const at = 1_700_000_000_000 + benchDefaultTtl + 9_999;
  const sweep = timed(() => copy.apply({ op: 'expire' }, { index: QUEUED + 1, term: 1, time: at }));
  console.log(`expire sweep over ${QUEUED.toLocaleString('en-US')} queued: ${JSON.stringify(sweep.value)} in wall ${sweep.wallMs.toFixed(1)} ms`);
  return void [m, copy];
}

console.log(`node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (shared machine: compare cpu figures)`);
typedThroughput();
encodedThroughput();
memoryAndSnapshot();
const naive = naiveBytesPerMessage();
console.log(`naive peer (object + own Uint8Array per message): ${naive.toFixed(1)} B/message, ${(naive - BODY_BYTES).toFixed(1)} B overhead`);
