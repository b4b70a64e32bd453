// Compact construction of hand-made histories for the checker tests. Every op gets its own
// process (always valid for the process discipline); times are explicit [call, return] pairs.

import { type MessageRecord, type OpRecord, bodyHash } from '../../src/verify/history.js';

type Span = [call: number, ret: number];

export function hashOf(msgId: string): string {
  return bodyHash(new TextEncoder().encode(`body of ${msgId}`));
}

export class HistoryBuilder {
  readonly ops: OpRecord[] = [];
  private readonly seqs = new Map<string, number>();
  private lastSeq = 0;

  private common(user: string, call: number) {
    const id = this.ops.length;
    return { type: 'op' as const, id, client: `c${id % 3}`, process: id, user, call };
  }

  /** The sequence number the mailbox gave `msgId` (assigned on first use, in order). */
  seqOf(msgId: string): number {
    let seq = this.seqs.get(msgId);
    if (seq === undefined) {
      seq = ++this.lastSeq;
      this.seqs.set(msgId, seq);
    }
    return seq;
  }

  message(msgId: string, extra: Partial<MessageRecord> = {}): MessageRecord {
    return { msgId, seq: this.seqOf(msgId), bodyHash: hashOf(msgId), deliveries: 1, ...extra };
  }

  put(user: string, msgId: string, [call, ret]: Span, duplicate = false): this {
    this.ops.push({
      ...this.common(user, call),
      op: 'put',
      input: { msgId, bodyHash: hashOf(msgId) },
      outcome: 'ok',
      return: ret,
      output: { msgId, seq: this.seqOf(msgId), duplicate },
    });
    return this;
  }

  putInfo(user: string, msgId: string, call: number): this {
    this.ops.push({
      ...this.common(user, call),
      op: 'put',
      input: { msgId, bodyHash: hashOf(msgId) },
      outcome: 'info',
      return: null,
      output: { error: 'timeout' },
    });
    return this;
  }

  putFail(user: string, msgId: string, [call, ret]: Span): this {
    this.ops.push({
      ...this.common(user, call),
      op: 'put',
      input: { msgId, bodyHash: hashOf(msgId) },
      outcome: 'fail',
      return: ret,
      output: { error: 'NOT_LEADER' },
    });
    return this;
  }

  consume(
    user: string,
    got: string | MessageRecord | null,
    [call, ret]: Span,
    input: { requestId?: string; leaseMs?: number; deadLetter?: boolean } = {},
  ): this {
    let message: MessageRecord | null = typeof got === 'string' ? this.message(got) : got;
    if (message !== null && input.leaseMs !== undefined && message.receipt === undefined) {
      message = { ...message, receipt: `${message.seq}.${message.deliveries}` };
    }
    this.ops.push({ ...this.common(user, call), op: 'consume', input, outcome: 'ok', return: ret, output: { message } });
    return this;
  }

  consumeInfo(user: string, call: number, input: { requestId?: string; leaseMs?: number; deadLetter?: boolean } = {}): this {
    this.ops.push({
      ...this.common(user, call),
      op: 'consume',
      input,
      outcome: 'info',
      return: null,
      output: { error: 'timeout' },
    });
    return this;
  }

  /**
   * Marks the last `count` ops (puts, or consumes) as the ops of one batch call: `input.batch`
   * set, and the first one's call, return and outcome for all, as the recorder writes them.
   */
  batch(count: number): this {
    const parts = this.ops.slice(-count);
    const first = parts[0]!;
    parts.forEach((op, index) => {
      const i = this.ops.length - count + index;
      this.ops[i] = { ...op, call: first.call, return: first.return, input: { ...op.input, batch: { size: count, index } } } as OpRecord;
    });
    return this;
  }

  /** A message given by id is reported as never delivered yet. */
  peek(user: string, got: string | MessageRecord | null, [call, ret]: Span, deadLetter?: boolean): this {
    const message = typeof got === 'string' ? this.message(got, { deliveries: 0 }) : got;
    this.ops.push({
      ...this.common(user, call),
      op: 'peek',
      input: deadLetter === undefined ? {} : { deadLetter },
      outcome: 'ok',
      return: ret,
      output: { message },
    });
    return this;
  }

  len(user: string, count: number, [call, ret]: Span, inFlight = 0, deadLetterCount = 0): this {
    this.ops.push({
      ...this.common(user, call),
      op: 'len',
      input: {},
      outcome: 'ok',
      return: ret,
      output: { count, inFlight, deadLetterCount },
    });
    return this;
  }

  settle(
    kind: 'ack' | 'nack',
    user: string,
    receipt: string,
    msgId: string,
    [call, ret]: Span,
    outcome: 'ok' | 'fail' | 'info' = 'ok',
    deliveries?: number,
  ): this {
    const head = { ...this.common(user, call), op: kind, input: { receipt, msgId, ...(deliveries === undefined ? {} : { deliveries }) } };
    if (outcome === 'ok') this.ops.push({ ...head, outcome, return: ret, output: {} } as OpRecord);
    else if (outcome === 'fail') this.ops.push({ ...head, outcome, return: ret, output: { error: 'LEASE_EXPIRED' } } as OpRecord);
    else this.ops.push({ ...head, outcome, return: null, output: { error: 'timeout' } } as OpRecord);
    return this;
  }

  /** The drain after healing: an empty consume (and an empty dead-letter consume) at `at`. */
  drain(user: string, at: number, deadLetter = false): this {
    this.consume(user, null, [at, at + 1]);
    if (deadLetter) this.consume(user, null, [at + 2, at + 3], { deadLetter: true });
    return this;
  }
}
