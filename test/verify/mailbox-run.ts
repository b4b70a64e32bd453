// Histories the real mailbox state machine (src/mailbox) produced: a random sequence of client
// actions is applied to a Mailbox one at a time, its answers recorded as op records, and each op's
// interval then stretched around its linearization point so that neighbours overlap. Such a
// history is linearizable by construction, so it tests the checkers' models against the real
// semantics (leases, request ids, dedupe, dead letters), not against a second reading of them.
// With `batchActionArb`, some puts and consumes are batches (put-batch, consume max), recorded as
// the chaos workload records them: one op per message, sharing the call's interval (history.ts).

import fc from 'fast-check';
import type { MailboxResult } from '../../src/mailbox/commands.js';
import { Mailbox } from '../../src/mailbox/mailbox.js';
import { type MessageRecord, type OpRecord, bodyHash, messageRecord } from '../../src/verify/history.js';


export type Action =
  | { kind: 'put'; again: boolean; pick: number }
  | { kind: 'consume'; requestId: boolean; lease: boolean; deadLetter: boolean }
  | { kind: 'retry'; pick: number }
  | { kind: 'peek'; deadLetter: boolean }
  | { kind: 'len' }
  | { kind: 'settle'; nack: boolean; pick: number }
  /** Server time passes (leases may run out); no op is recorded. */
  | { kind: 'wait'; ms: number }
  | { kind: 'putBatch'; size: number }
  | { kind: 'consumeBatch'; max: number; requestId: boolean; lease: boolean };

export const LEASE_MS = 1000;
export const MAX_DELIVERIES = 2;
export const USER = 'u';
const SPACING = 100;
const START = 1000;

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('put' as const), again: fc.integer({ min: 0, max: 6 }).map((n) => n === 0), pick: fc.nat() }) },
  {
    weight: 5,
    arbitrary: fc
      .record({ kind: fc.constant('consume' as const), requestId: fc.boolean(), lease: fc.boolean(), deadLetter: fc.boolean() })
      .map((a) => (a.lease && a.deadLetter ? { ...a, deadLetter: false } : a)),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peek' as const), deadLetter: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'len' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), nack: fc.boolean(), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 2 * LEASE_MS }) }) },
);

/** `actionArb` with batch puts and batch consumes among the actions. */
export const batchActionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: actionArb },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('putBatch' as const), size: fc.integer({ min: 1, max: 4 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('consumeBatch' as const), max: fc.integer({ min: 1, max: 4 }), requestId: fc.boolean(), lease: fc.boolean() }),
  },
);

/** How far each op's interval reaches before and after its linearization point. */
export const windowArb = fc.tuple(fc.integer({ min: 0, max: 250 }), fc.integer({ min: 0, max: 250 }));

export interface Run {
  ops: OpRecord[];
  /** Per op: an empty answer would have been impossible (see emptyImpossibleNow). */
  emptyImpossible: boolean[];
}

function bodyOf(id: string): Uint8Array {
  return new TextEncoder().encode(`body of ${id}`);
}

function messageOf(result: MailboxResult): MessageRecord | null {
  if (result.kind === 'empty') return null;
  if (result.kind !== 'message') throw new Error(`unexpected result ${JSON.stringify(result)}`);
  return messageRecord(result.message);
}

/**
 * Applies `actions` to a fresh Mailbox. `infos[i]` turns action i (a put, consume or settle) into
 * an indeterminate op: it still happened, the client just never learnt the answer. With `drain`,
 * the run ends with the drain after healing: wait out the leases, consume both queues until empty.
 */
export function mailboxRun(
  actions: Action[],
  windows: Array<[number, number]>,
  infos: boolean[],
  drain: boolean,
): Run {
  const mailbox = new Mailbox({ maxDeliveries: MAX_DELIVERIES });
  const run: Run = { ops: [], emptyImpossible: [] };
  let serverTime = 1_000_000;
  let index = 0;
  const putIds: string[] = [];
  const requests: Array<{ requestId: string; lease: boolean; deadLetter: boolean; max?: number }> = [];
  const receipts: Array<{ receipt: string; msgId: string }> = [];
  let leasesTaken = 0;

  const apply = (cmd: Parameters<Mailbox['apply']>[0]): MailboxResult => {
    serverTime += 1;
    index += 1;
    // Receipts shaped as a leader makes them (a nonce per leased consume), drawn from the log index
    // here so that a failing history is reproducible from its seed.
    const entry = cmd.op === 'consume' && cmd.leaseMs !== undefined ? { ...cmd, receiptNonce: `nonce-${index}`.padEnd(16, '_') } : cmd;
    return mailbox.apply(entry, { index, term: 1, time: serverTime });
  };

  // Before any lease was taken, no message can be "maybe still in flight" for a permissive lease
  // model, so a queued message makes an empty answer impossible.
  const emptyImpossibleNow = (): boolean => {
    const stats = mailbox.query({ op: 'len', user: USER }, serverTime);
    return leasesTaken === 0 && stats.kind === 'stats' && stats.stats.count > 0;
  };

  const record = (i: number, op: OpRecord['op'], input: object, result: MailboxResult, output: unknown, emptyImpossible: boolean) => {
    const at = START + i * SPACING;
    const [before, after] = windows[i] ?? [0, 0];
    const id = run.ops.length;
    const head = { type: 'op', id, client: `c${id % 3}`, process: id, user: USER, op, input, call: at - before };
    let rec: unknown;
    if (infos[i] === true && op !== 'peek' && op !== 'len') {
      rec = { ...head, outcome: 'info', return: null, output: { error: 'timeout' } };
    } else if (result.kind === 'error') {
      rec = { ...head, outcome: 'fail', return: at + after, output: { error: result.code } };
    } else {
      rec = { ...head, outcome: 'ok', return: at + after, output };
    }
    run.ops.push(rec as OpRecord);
    run.emptyImpossible.push(emptyImpossible);
  };

  /** A batch consume: one op per message it brought (one empty op when none), or `max` ops when indeterminate or refused. */
  const consumeBatch = (i: number, max: number, input: { requestId?: string; leaseMs?: number }) => {
    const emptyImpossible = emptyImpossibleNow();
    const result = apply({ op: 'consume', user: USER, max, ...input });
    if (input.leaseMs !== undefined) leasesTaken++;
    const messages = result.kind === 'messages' ? result.messages.map(messageRecord) : [null];
    const n = infos[i] === true || result.kind === 'error' ? max : messages.length;
    for (let k = 0; k < n; k++) {
      const one = { ...input, ...(input.requestId === undefined ? {} : { requestId: `${input.requestId}#${k}` }), batch: { size: max, index: k } };
      record(i, 'consume', one, result, { message: messages[k] ?? null }, emptyImpossible && k === 0);
      const receipt = messages[k]?.receipt;
      if (receipt !== undefined && infos[i] !== true) receipts.push({ receipt, msgId: messages[k]!.msgId });
    }
  };

  const consume = (i: number, input: { requestId?: string; leaseMs?: number; deadLetter?: boolean }) => {
    const emptyImpossible = input.deadLetter !== true && emptyImpossibleNow();
    const result = apply({ op: 'consume', user: USER, ...input });
    const message = messageOf(result);
    if (input.leaseMs !== undefined) leasesTaken++;
    record(i, 'consume', input, result, { message }, emptyImpossible);
    if (message?.receipt !== undefined && infos[i] !== true) receipts.push({ receipt: message.receipt, msgId: message.msgId });
  };

  actions.forEach((a, i) => {
    switch (a.kind) {
      case 'wait':
        serverTime += a.ms;
        return;
      case 'put': {
        const msgId = a.again && putIds.length > 0 ? putIds[a.pick % putIds.length]! : `m${i}`;
        if (!putIds.includes(msgId)) putIds.push(msgId);
        const body = bodyOf(msgId);
        const result = apply({ op: 'put', user: USER, body, id: msgId });
        const output = result.kind === 'put' ? { msgId: result.id, seq: result.seq, duplicate: result.duplicate } : null;
        record(i, 'put', { msgId, bodyHash: bodyHash(body) }, result, output, false);
        return;
      }
      case 'consume': {
        const input = {
          ...(a.requestId ? { requestId: `r${i}` } : {}),
          ...(a.lease ? { leaseMs: LEASE_MS } : {}),
          ...(a.deadLetter ? { deadLetter: true } : {}),
        };
        if (a.requestId) requests.push({ requestId: `r${i}`, lease: a.lease, deadLetter: a.deadLetter });
        consume(i, input);
        return;
      }
      case 'putBatch': {
        const items = Array.from({ length: a.size }, (_, k) => ({ id: `m${i}.${k}`, body: bodyOf(`m${i}.${k}`) }));
        for (const m of items) putIds.push(m.id);
        const result = apply({ op: 'putBatch', user: USER, messages: items });
        items.forEach((m, k) => {
          const p = result.kind === 'puts' ? result.puts[k]! : null;
          const output = p === null ? null : { msgId: p.id, seq: p.seq, duplicate: p.duplicate };
          record(i, 'put', { msgId: m.id, bodyHash: bodyHash(m.body), batch: { size: a.size, index: k } }, result, output, false);
        });
        return;
      }
      case 'consumeBatch': {
        const input = { ...(a.requestId ? { requestId: `r${i}` } : {}), ...(a.lease ? { leaseMs: LEASE_MS } : {}) };
        if (a.requestId) requests.push({ requestId: `r${i}`, lease: a.lease, deadLetter: false, max: a.max });
        consumeBatch(i, a.max, input);
        return;
      }
      case 'retry': {
        const r = requests[a.pick % Math.max(1, requests.length)];
        if (r === undefined) {
          consume(i, {});
          return;
        }
        if (r.max !== undefined) {
          consumeBatch(i, r.max, { requestId: r.requestId, ...(r.lease ? { leaseMs: LEASE_MS } : {}) });
          return;
        }
        consume(i, {
          requestId: r.requestId,
          ...(r.lease ? { leaseMs: LEASE_MS } : {}),
          ...(r.deadLetter ? { deadLetter: true } : {}),
        });
        return;
      }
      case 'peek': {
        const emptyImpossible = !a.deadLetter && emptyImpossibleNow();
        const result = mailbox.query({ op: 'peek', user: USER, ...(a.deadLetter ? { deadLetter: true } : {}) }, serverTime);
        record(i, 'peek', a.deadLetter ? { deadLetter: true } : {}, result, { message: messageOf(result) }, emptyImpossible);
        return;
      }
      case 'len': {
        const result = mailbox.query({ op: 'len', user: USER }, serverTime);
        if (result.kind !== 'stats') throw new Error('len answered no stats');
        const { count, inFlight, deadLetterCount } = result.stats;
        record(i, 'len', {}, result, { count, inFlight, deadLetterCount }, false);
        return;
      }
      case 'settle': {
        const r = receipts[a.pick % Math.max(1, receipts.length)];
        if (r === undefined) {
          serverTime += 1;
          return;
        }
        const op = a.nack ? 'nack' : 'ack';
        const result = apply({ op, user: USER, receipt: r.receipt });
        record(i, op, { receipt: r.receipt, msgId: r.msgId }, result, {}, false);
        return;
      }
    }
  });

  if (drain) {
    serverTime += LEASE_MS + 1;
    let i = actions.length + 5; // well after every stretched interval
    for (const deadLetter of [false, true]) {
      for (;;) {
        const input = deadLetter ? { deadLetter: true } : {};
        const result = apply({ op: 'consume', user: USER, ...input });
        const message = messageOf(result);
        const at = START + i++ * SPACING;
        const id = run.ops.length;
        run.ops.push({
          type: 'op',
          id,
          client: 'drain',
          process: id,
          user: USER,
          op: 'consume',
          input,
          call: at,
          outcome: 'ok',
          return: at + 1,
          output: { message },
        });
        run.emptyImpossible.push(false);
        if (message === null) break;
      }
    }
  }
  return run;
}
