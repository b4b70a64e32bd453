// Figures for the mailbox state machine: apply throughput (typed and encoded paths), snapshot and
// restore of 1,000,000 queued messages, and heap cost per queued message.
// Run: node --expose-gc --import tsx bench/mailbox-bench.ts   (a script that prints, not a test)

import { encodeCommand } from '../src/mailbox/codec.js';
import type { MailboxCommand } from '../src/mailbox/commands.js';
import { Mailbox } from '../src/mailbox/mailbox.js';
import { MailboxStateMachine } from '../src/mailbox/replicated.js';

const BODY_BYTES = 100;
const USERS = 1000;
const QUEUED = 1_000_000;
const OPS = 1_000_000;

/** Limits raised so that a million messages fit; everything else stays at its default. */
const benchOptions = { maxMessagesPerMailbox: 10_000_000, maxBytesPerMailbox: 4 * 1024 * 1024 * 1024 };

const gc = (globalThis as { gc?: () => void }).gc;

function body(i: number): Uint8Array {
  const b = new Uint8Array(BODY_BYTES);
  b.fill(i & 0xff);
  return b;
}

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')} applies/s`;
}

function users(): string[] {
  return Array.from({ length: USERS }, (_, i) => `user-${i}`);
}

/** Alternating put and consume over 1000 users: the steady state of a busy mailbox. */
function typedThroughput(): void {
  const m = new Mailbox(benchOptions);
  const names = users();
  const b = body(7);
  const cmds: MailboxCommand[] = [];
  for (let i = 0; i < OPS / 2; i++) {
    const user = names[i % USERS]!;
    cmds.push({ op: 'put', user, body: b }, { op: 'consume', user });
  }
  const t0 = performance.now();
  for (let i = 0; i < cmds.length; i++) m.apply(cmds[i]!, { index: i + 1, term: 1, time: 1_700_000_000_000 + (i >> 4) });
  const ms = performance.now() - t0;
  console.log(`typed   put+consume ${BODY_BYTES}B: ${cmds.length} applies in ${ms.toFixed(0)} ms = ${rate(cmds.length, ms)}`);
}

function encodedThroughput(): void {
  const sm = new MailboxStateMachine(benchOptions);
  const names = users();
  const b = body(7);
  const entries: Uint8Array[] = [];
  for (let i = 0; i < OPS / 2; i++) {
    const user = names[i % USERS]!;
    entries.push(encodeCommand({ op: 'put', user, body: b }), encodeCommand({ op: 'consume', user }));
  }
  const t0 = performance.now();
  let resultBytes = 0;
  for (let i = 0; i < entries.length; i++) {
    resultBytes += sm.apply(entries[i]!, { index: i + 1, term: 1, time: 1_700_000_000_000 + (i >> 4) }).length;
  }
  const ms = performance.now() - t0;
  console.log(
    `encoded put+consume ${BODY_BYTES}B: ${entries.length} applies in ${ms.toFixed(0)} ms = ${rate(entries.length, ms)} (${resultBytes} result bytes)`,
  );
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

function memoryAndSnapshot(): void {
  if (gc === undefined) console.log('(run with --expose-gc for exact memory figures)');
  const before = heapNow();
  const m = new Mailbox(benchOptions);
  fill(m, QUEUED);
  const after = heapNow();
  const perMessage = (after - before) / QUEUED;
  console.log(
    `memory: ${QUEUED} queued ${BODY_BYTES}B messages take ${((after - before) / 1048576).toFixed(1)} MiB = ` +
      `${perMessage.toFixed(1)} B/message, ${(perMessage - BODY_BYTES).toFixed(1)} B overhead beyond the body`,
  );

  let t0 = performance.now();
  const snap = m.snapshot();
  const snapMs = performance.now() - t0;
  console.log(`snapshot: ${QUEUED} messages in ${snapMs.toFixed(0)} ms, ${(snap.length / 1048576).toFixed(1)} MiB (${(snap.length / QUEUED).toFixed(1)} B/message)`);

  const copy = new Mailbox(benchOptions);
  t0 = performance.now();
  copy.restore(snap);
  const restoreMs = performance.now() - t0;
  const again = copy.snapshot();
  const same = again.length === snap.length && Buffer.compare(again, snap) === 0;
  console.log(`restore: ${restoreMs.toFixed(0)} ms; re-snapshot identical: ${same}`);
}

typedThroughput();
encodedThroughput();
memoryAndSnapshot();
