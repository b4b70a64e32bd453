// The total-queue check: after the faults are healed and every mailbox has been drained, was
// every acknowledged message delivered exactly once, and nothing delivered that was never put?
// Pure: a function of the op records (the drain is recorded as ordinary ops of the history).
//
// What counts as a message being taken for good (a "take"):
// - a delivery by a consume without lease (main or dead-letter queue);
// - a leased delivery whose receipt was then acked with outcome ok.
// A leased delivery that was never acked, or nacked, or whose lease ran out, is a redelivery
// candidate and not a take: the message must come back. One whose ack is indeterminate may have
// been taken. Consumes sharing a request id are ONE consume (retries get the same answer).
//
// Verdicts per message (keyed by user and message id):
// - lost: acknowledged put (some attempt answered ok) that nothing took. An indeterminate consume
//   without lease may have taken a message without anyone learning which, so on a user with k
//   unresolved indeterminate consumes, k missing messages are "maybeConsumed" rather than lost;
//   beyond k, all of that user's missing messages are listed as lost (which of them survived is
//   unknowable) and `counts.lost` counts the excess.
// - duplicated: taken twice, or delivered again after a take had completed.
// - unexpected: delivered or peeked, though no put of it succeeded or was left indeterminate.
// - recovered: every put attempt was indeterminate (or failed) yet it was delivered: fine.
// Also failing the check: mismatched (body hash or sequence number differs from what the put
// recorded), retryMismatch (two answers to one request id), staleReads (a peek returned a
// message after a take of it had completed), staleSettles (an ack or nack succeeded with the
// receipt of a delivery, after a later delivery of that message had completed: that lease had
// ended, so the receipt settled someone else's delivery), undrained (no proof the user was
// drained). An ack or nack names the delivery it settles by its receipt and, when recorded, the
// delivery count the consume reported (receipts of different deliveries then need not differ). The
// acknowledged messages nothing took of an undrained user are "unverified", not lost: they may
// still be queued.

import type { AckOp, ConsumeOp, MessageRecord, NackOp, OpRecord, PutOp } from './history.js';

export interface MessageRef {
  user: string;
  msgId: string;
}

export interface TotalQueueReport {
  ok: boolean;
  counts: {
    /** Distinct messages some put tried to enqueue. */
    messages: number;
    acknowledged: number;
    /** Distinct messages taken at least once. */
    taken: number;
    lost: number;
    maybeConsumed: number;
    duplicated: number;
    unexpected: number;
    recovered: number;
    /** Leased deliveries that were not takes (message came back or went to dead letter). */
    redeliveries: number;
  };
  lost: MessageRef[];
  maybeConsumed: MessageRef[];
  /** Acknowledged, never taken, on a user that was not drained: lost or still queued. */
  unverified: MessageRef[];
  duplicated: Array<MessageRef & { takes: number; deliveries: number }>;
  unexpected: MessageRef[];
  recovered: MessageRef[];
  mismatched: Array<MessageRef & { problem: string }>;
  retryMismatch: Array<{ user: string; requestId: string }>;
  staleReads: Array<MessageRef & { opId: number }>;
  /** Acks and nacks that succeeded for a delivery after a later delivery of the message completed. */
  staleSettles: Array<MessageRef & { opId: number; deliveries: number }>;
  /**
   * Users without a final empty consume (main queue, and dead-letter queue when the user took
   * leases) invoked after every completed put, ack, nack and non-empty consume of that user
   * (a non-empty dead-letter consume does not count against the main queue).
   */
  undrained: string[];
}

/** The report's lists that make a run fail, by name, for printing. */
export function totalQueueProblems(r: TotalQueueReport): Record<string, readonly unknown[]> {
  return {
    lost: r.lost,
    duplicated: r.duplicated,
    unexpected: r.unexpected,
    mismatched: r.mismatched,
    retryMismatch: r.retryMismatch,
    staleReads: r.staleReads,
    staleSettles: r.staleSettles,
    undrained: r.undrained,
    unverified: r.unverified,
  };
}

interface Delivery {
  user: string;
  message: MessageRecord;
  leased: boolean;
  /** Earliest call of the consume (over its retries). */
  call: number;
  return: number;
}

interface MessageFacts {
  ref: MessageRef;
  puts: PutOp[];
  deliveries: Delivery[];
}

const keyOf = (user: string, id: string): string => `${user}\u0000${id}`;

function facts(map: Map<string, MessageFacts>, user: string, msgId: string): MessageFacts {
  const k = keyOf(user, msgId);
  let f = map.get(k);
  if (f === undefined) {
    f = { ref: { user, msgId }, puts: [], deliveries: [] };
    map.set(k, f);
  }
  return f;
}

function sameAnswer(a: ConsumeOp, b: ConsumeOp): boolean {
  if (a.outcome !== 'ok' || b.outcome !== 'ok') return true;
  return (a.output.message?.msgId ?? null) === (b.output.message?.msgId ?? null);
}

export function checkTotalQueue(ops: readonly OpRecord[]): TotalQueueReport {
  const messages = new Map<string, MessageFacts>();
  const report: TotalQueueReport = {
    ok: false,
    counts: {
      messages: 0,
      acknowledged: 0,
      taken: 0,
      lost: 0,
      maybeConsumed: 0,
      duplicated: 0,
      unexpected: 0,
      recovered: 0,
      redeliveries: 0,
    },
    lost: [],
    maybeConsumed: [],
    unverified: [],
    duplicated: [],
    unexpected: [],
    recovered: [],
    mismatched: [],
    retryMismatch: [],
    staleReads: [],
    staleSettles: [],
    undrained: [],
  };

  // Consumes grouped into logical consumes: by request id when there is one.
  const consumeGroups = new Map<string, ConsumeOp[]>();
  const acks = new Map<string, AckOp[]>(); // user NUL receipt -> ack ops
  const settles: Array<AckOp | NackOp> = [];
  const opsByUser = new Map<string, OpRecord[]>();
  for (const op of ops) {
    const own = opsByUser.get(op.user);
    if (own === undefined) opsByUser.set(op.user, [op]);
    else own.push(op);
    if (op.op === 'put') {
      facts(messages, op.user, op.input.msgId).puts.push(op);
    } else if (op.op === 'consume') {
      const k = op.input.requestId !== undefined ? `r${keyOf(op.user, op.input.requestId)}` : `o${op.id}`;
      const group = consumeGroups.get(k);
      if (group === undefined) consumeGroups.set(k, [op]);
      else group.push(op);
    }
    if (op.op === 'ack' || op.op === 'nack') settles.push(op);
    if (op.op === 'ack') {
      const k = keyOf(op.user, op.input.receipt);
      const list = acks.get(k);
      if (list === undefined) acks.set(k, [op]);
      else list.push(op);
    }
  }

  const unresolvedConsumes = new Map<string, number>();
  for (const group of consumeGroups.values()) {
    const first = group[0]!;
    const answered = group.filter((op): op is ConsumeOp & { outcome: 'ok' } => op.outcome === 'ok');
    if (answered.length === 0) {
      const leased = first.input.leaseMs !== undefined;
      if (!leased && group.some((op) => op.outcome === 'info')) {
        unresolvedConsumes.set(first.user, (unresolvedConsumes.get(first.user) ?? 0) + 1);
      }
      continue;
    }
    const answer = answered[0]!;
    if (answered.some((op) => !sameAnswer(op, answer))) {
      report.retryMismatch.push({ user: first.user, requestId: first.input.requestId ?? '' });
    }
    const message = answer.output.message;
    if (message === null) continue;
    facts(messages, first.user, message.msgId).deliveries.push({
      user: first.user,
      message,
      leased: answer.input.leaseMs !== undefined,
      call: Math.min(...group.map((op) => op.call)),
      return: answer.return,
    });
  }

  // When each message was taken for good (completion times), to judge later deliveries and peeks.
  const takesOf = new Map<string, number[]>();
  for (const [k, f] of messages) {
    const { user, msgId } = f.ref;
    const takes: number[] = [];
    let maybeTaken = false;
    for (const d of f.deliveries) {
      if (!d.leased) {
        takes.push(d.return);
        continue;
      }
      const settled = (acks.get(keyOf(user, d.message.receipt ?? '')) ?? []).filter(
        (a) => a.input.msgId === msgId && (a.input.deliveries === undefined || a.input.deliveries === d.message.deliveries),
      );
      const ackedOk = settled.find((a) => a.outcome === 'ok');
      if (ackedOk !== undefined && ackedOk.return !== null) takes.push(ackedOk.return);
      else if (settled.some((a) => a.outcome === 'info')) maybeTaken = true;
      else report.counts.redeliveries++;
    }
    takesOf.set(k, takes);

    const acknowledged = f.puts.some((p) => p.outcome === 'ok');
    const possiblyPut = acknowledged || f.puts.some((p) => p.outcome === 'info');
    if (f.puts.length > 0) report.counts.messages++;
    if (acknowledged) report.counts.acknowledged++;
    if (takes.length > 0) report.counts.taken++;

    if (f.deliveries.length > 0 && !possiblyPut) report.unexpected.push(f.ref);
    if (f.deliveries.length > 0 && possiblyPut && !acknowledged) report.recovered.push(f.ref);
    const firstTake = Math.min(...takes);
    const lateDelivery = f.deliveries.some((d) => d.call > firstTake);
    if (takes.length > 1 || lateDelivery) {
      report.duplicated.push({ ...f.ref, takes: takes.length, deliveries: f.deliveries.length });
    }
    if (acknowledged && takes.length === 0 && !maybeTaken) report.lost.push(f.ref);
    checkConsistency(f, report);
  }

  // Missing messages an indeterminate consume may explain (see the header).
  const lostByUser = new Map<string, MessageRef[]>();
  for (const ref of report.lost) {
    const list = lostByUser.get(ref.user);
    if (list === undefined) lostByUser.set(ref.user, [ref]);
    else list.push(ref);
  }
  report.lost = [];
  report.undrained = [...opsByUser].filter(([, own]) => !drained(own)).map(([u]) => u).sort();
  for (const [user, missing] of lostByUser) {
    if (report.undrained.includes(user)) {
      report.unverified.push(...missing);
      continue;
    }
    const explainable = unresolvedConsumes.get(user) ?? 0;
    if (missing.length <= explainable) {
      report.maybeConsumed.push(...missing);
    } else {
      report.lost.push(...missing);
      report.counts.lost += missing.length - explainable;
    }
  }

  const unexpected = new Set(report.unexpected.map((r) => keyOf(r.user, r.msgId)));
  for (const op of ops) {
    if (op.op !== 'peek' || op.outcome !== 'ok' || op.output.message === null) continue;
    const k = keyOf(op.user, op.output.message.msgId);
    const f = messages.get(k);
    if (f === undefined || !f.puts.some((p) => p.outcome !== 'fail')) {
      if (!unexpected.has(k)) report.unexpected.push({ user: op.user, msgId: op.output.message.msgId });
      unexpected.add(k);
      continue;
    }
    if ((takesOf.get(k) ?? []).some((t) => t < op.call)) {
      report.staleReads.push({ user: op.user, msgId: op.output.message.msgId, opId: op.id });
    }
  }

  for (const op of settles) {
    const settled = op.input.deliveries;
    if (op.outcome !== 'ok' || settled === undefined) continue;
    const later = messages.get(keyOf(op.user, op.input.msgId))?.deliveries.some((d) => d.message.deliveries > settled && d.return < op.call);
    if (later === true) report.staleSettles.push({ user: op.user, msgId: op.input.msgId, opId: op.id, deliveries: settled });
  }

  const lists = [report.lost, report.maybeConsumed, report.unverified, report.duplicated, report.unexpected];
  for (const list of [...lists, report.recovered, report.mismatched]) list.sort(byRef);
  report.counts.maybeConsumed = report.maybeConsumed.length;
  report.counts.duplicated = report.duplicated.length;
  report.counts.unexpected = report.unexpected.length;
  report.counts.recovered = report.recovered.length;
  report.ok =
    report.counts.lost === 0 &&
    report.duplicated.length === 0 &&
    report.unexpected.length === 0 &&
    report.mismatched.length === 0 &&
    report.retryMismatch.length === 0 &&
    report.staleReads.length === 0 &&
    report.staleSettles.length === 0 &&
    report.undrained.length === 0;
  return report;
}

function byRef(a: MessageRef, b: MessageRef): number {
  return a.user < b.user ? -1 : a.user > b.user ? 1 : a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0;
}

/** Every put attempt and every delivery of one message must tell the same body and sequence number. */
function checkConsistency(f: MessageFacts, report: TotalQueueReport): void {
  const hashes = new Set(f.puts.map((p) => p.input.bodyHash));
  if (hashes.size > 1) report.mismatched.push({ ...f.ref, problem: 'put attempts disagree on the body' });
  const seqs = new Set<number>();
  for (const p of f.puts) if (p.outcome === 'ok') seqs.add(p.output.seq);
  for (const d of f.deliveries) {
    seqs.add(d.message.seq);
    if (hashes.size > 0 && !hashes.has(d.message.bodyHash)) {
      report.mismatched.push({ ...f.ref, problem: `delivered body ${d.message.bodyHash} differs from the put's` });
    }
  }
  if (seqs.size > 1) report.mismatched.push({ ...f.ref, problem: `sequence numbers disagree: ${[...seqs].join(', ')}` });
}

/**
 * Is there, for one user's `ops`, a final empty consume of the main queue invoked after every
 * completed op that could leave something in it, and (when the user took leases) one of the
 * dead-letter queue after every completed op that could leave something in either? The drain
 * must start once every lease has ended; no history can show that, so it is the runner's part.
 */
function drained(ops: readonly OpRecord[]): boolean {
  let settledMain = 0;
  let settledAll = 0;
  let leased = false;
  const empties: Array<{ call: number; deadLetter: boolean }> = [];
  const requestUses = new Map<string, number>();
  for (const op of ops) {
    if (op.op === 'consume' && op.input.requestId !== undefined) {
      requestUses.set(op.input.requestId, (requestUses.get(op.input.requestId) ?? 0) + 1);
    }
  }
  for (const op of ops) {
    if (op.op === 'consume' && op.input.leaseMs !== undefined) leased = true;
    if (op.outcome !== 'ok') continue;
    const took = op.op === 'consume' && op.output.message !== null;
    if (op.op === 'put' || op.op === 'ack' || op.op === 'nack' || took) {
      settledAll = Math.max(settledAll, op.return);
      // Taking from the dead-letter queue leaves the main queue as it was.
      if (!(took && op.input.deadLetter === true)) settledMain = Math.max(settledMain, op.return);
    }
    // A retried request id may replay an old empty answer, so only a fresh consume proves emptiness.
    const fresh = op.op === 'consume' && (op.input.requestId === undefined || requestUses.get(op.input.requestId) === 1);
    if (op.op === 'consume' && op.output.message === null && op.input.leaseMs === undefined && fresh) {
      empties.push({ call: op.call, deadLetter: op.input.deadLetter === true });
    }
  }
  const mainEmpty = empties.some((e) => !e.deadLetter && e.call >= settledMain);
  const deadEmpty = empties.some((e) => e.deadLetter && e.call >= settledAll);
  return mainEmpty && (!leased || deadEmpty);
}
