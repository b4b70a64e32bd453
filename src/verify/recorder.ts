// Turns client calls into history records (history.ts): times every call on the run's monotonic
// clock, classifies how it ended, and hands out op ids and process numbers.
//
// How an error is classified decides what the checkers may conclude, so it errs towards
// "indeterminate": only answers that prove the operation changed nothing are definite failures.
//   fail  NOT_LEADER (the node refused before proposing, or the proposal's slot was overwritten by
//         another leader's entry: it can never commit), BACKLOG_FULL (refused by the Raft core
//         before proposing), BUSY (refused by the bridge before anything), NOSPACE (refused by
//         the leader's disk watermark before proposing), and the state machine's rejections
//         (which change nothing).
//   info  TIMEOUT (not committed in time, may commit later), LEADERSHIP_LOST (the leader stepped
//         down with the proposal pending: it may still commit under the next one), ROUTER_LOST (the
//         client's router link was lost with the request in flight), UNAVAILABLE (no reply at all,
//         or the node stopped with the proposal pending), INTERNAL, an undecodable reply, or a call
//         that outlived the runner's own deadline.

import { MailboxClientError } from '../bridge/client.js';
import { HistoryFormatError, type HistoryWriter, type OpKind, type OpRecord } from './history.js';

const DEFINITE_FAILURES = new Set<string>([
  'NOT_LEADER',
  'BACKLOG_FULL',
  'BUSY',
  'NOSPACE',
  'BAD_USER',
  'BAD_REQUEST',
  'TOO_LARGE',
  'UNKNOWN_OP',
  'MAILBOX_FULL',
  'QUOTA_EXCEEDED',
  'UNKNOWN_RECEIPT',
  'LEASE_EXPIRED',
]);

export type OpOutcome = 'ok' | 'fail' | 'info';

/** Whether a call's error proves that it changed nothing (a definite failure, above). */
export function isDefiniteFailure(e: unknown): boolean {
  return e instanceof MailboxClientError && DEFINITE_FAILURES.has(e.code);
}

/** What a call to record is: everything of an op record but its timing, outcome and id. */
type OpHead<R extends OpRecord> = R extends unknown
  ? { op: R['op']; client: string; process: number; user: string; input: R['input'] }
  : never;
type OkOutput<R extends OpRecord> = R extends { outcome: 'ok'; output: infer O } ? O : never;

export type OpCall = OpHead<OpRecord>;

export interface Recorded<T> {
  outcome: OpOutcome;
  /** The ok output, or null. */
  value: T | null;
  /** The error code of a fail or info, or null. */
  error: string | null;
}

interface HeldBatch {
  heads: OpCall[];
  ids: number[];
  start: number;
  end: number;
  result: Recorded<unknown>;
  output: unknown;
}

export class HistoryRecorder {
  private readonly t0 = process.hrtime.bigint();
  private nextOp = 0;
  private nextProcess = 0;
  private readonly tallies: Partial<Record<OpKind, Record<OpOutcome, number>>> = {};
  private readonly batchTallies: Partial<Record<OpKind, Record<OpOutcome, number>>> = {};
  private readonly unansweredTallies: Record<string, Record<string, number>> = {};
  /** Indeterminate batch consumes by request id, held back until an attempt with it is answered (runBatch). */
  private readonly held = new Map<string, HeldBatch[]>();
  /** Answers the history format refuses (impossible replies), described. */
  readonly malformed: string[] = [];

  constructor(
    private readonly writer: HistoryWriter,
    /** A call still pending after this long is recorded as indeterminate (the runner moves on). */
    private readonly deadlineMs: number,
  ) {}

  /** Nanoseconds since the run started. */
  now(): number {
    return Number(process.hrtime.bigint() - this.t0);
  }

  newProcess(): number {
    return this.nextProcess++;
  }

  /** Ops recorded so far, by kind and outcome. */
  counts(): Partial<Record<OpKind, Readonly<Record<OpOutcome, number>>>> {
    return this.tallies;
  }

  nemesis(action: string, target?: string): void {
    this.writer.write({ type: 'nemesis', time: this.now(), action, ...(target === undefined ? {} : { target }) });
  }

  /** Runs `call`, records it as one op, and reports how it ended. */
  async run<R extends OpRecord>(head: OpHead<R>, call: () => Promise<OkOutput<R>>): Promise<Recorded<OkOutput<R>>> {
    const id = this.nextOp++;
    const { start, end, result, output } = await this.timed(call);
    return this.write(head, id, start, end, result, output);
  }

  /**
   * Runs one batch call (put-batch, consume?max=N) and records it as one op per message, as the
   * history format says (history.ts): `heads[i]` is message i's, given `input.batch` here, and the
   * ops after the first are given processes of their own. Answered with n outputs (1 to
   * heads.length; a put batch must answer for every message), the first n heads are recorded with
   * them; failed or indeterminate, every head is. An answer of another length is malformed: every
   * head is then recorded indeterminate. Reports the outputs, or how the call ended.
   *
   * `requestId`, for a batch consume with one: an indeterminate attempt is held back until an
   * attempt with that request id is answered, and then recorded with as many ops as that answer
   * has (the request id's remembered batch: no attempt took more, so the positions past it took
   * nothing), or with every head at `flush`.
   */
  async runBatch<R extends OpRecord>(
    heads: Array<OpHead<R>>,
    call: () => Promise<Array<OkOutput<R>>>,
    requestId?: string,
  ): Promise<Recorded<Array<OkOutput<R>>>> {
    const ids = heads.map(() => this.nextOp++);
    const timed = await this.timed(call);
    const { start, end } = timed;
    let { result, output } = timed;
    const size = heads.length;
    const answered = result.outcome === 'ok' ? (output as unknown[]).length : size;
    if (answered < 1 || answered > size || (result.outcome === 'ok' && heads[0]!.op === 'put' && answered !== size)) {
      this.malformed.push(`${heads[0]!.op} batch ${ids[0]} on ${heads[0]!.user}: ${answered} answers to a batch of ${size}`);
      result = { outcome: 'info', value: null, error: 'MALFORMED_REPLY' };
      output = { error: 'MALFORMED_REPLY' };
    }
    (this.batchTallies[heads[0]!.op] ??= { ok: 0, fail: 0, info: 0 })[result.outcome]++;
    const batch: HeldBatch = { heads, ids, start, end, result, output };
    if (requestId !== undefined && result.outcome === 'info') {
      const held = this.held.get(requestId);
      if (held === undefined) this.held.set(requestId, [batch]);
      else held.push(batch);
      return result as Recorded<Array<OkOutput<R>>>;
    }
    if (requestId !== undefined && result.outcome === 'ok') {
      for (const earlier of this.held.get(requestId) ?? []) this.writeBatch(earlier, answered);
      this.held.delete(requestId);
    }
    return this.writeBatch(batch, result.outcome === 'ok' ? answered : size) as Recorded<Array<OkOutput<R>>>;
  }

  /** Writes the first `n` ops of a batch call; how it was recorded (an answer the history refuses becomes indeterminate). */
  private writeBatch(b: HeldBatch, n: number): Recorded<unknown> {
    const size = b.heads.length;
    let outcome = b.result;
    for (let i = 0; i < Math.min(n, size); i++) {
      const head = { ...b.heads[i]!, input: { ...b.heads[i]!.input, batch: { size, index: i } } } as OpCall;
      if (i > 0) head.process = this.newProcess();
      const one = b.result.outcome === 'ok' ? (b.output as unknown[])[i] : b.output;
      const written = this.write(head, b.ids[i]!, b.start, b.end, { ...b.result, value: null }, one);
      // One message the history refused makes the whole answer untrustworthy to the caller.
      if (written.outcome !== b.result.outcome) outcome = { outcome: written.outcome, value: null, error: written.error };
    }
    return outcome;
  }

  /**
   * Indeterminate ops recorded so far (one per message of a batch), by kind (batch and long poll
   * told apart) and error code: when CI's runs have several times the usual number, this is what
   * its excerpt of the report can say about why.
   */
  unansweredCounts(): Readonly<Record<string, Readonly<Record<string, number>>>> {
    return this.unansweredTallies;
  }

  /** Batch calls recorded so far, by kind and outcome (their ops are in `counts`). */
  batchCounts(): Partial<Record<OpKind, Readonly<Record<OpOutcome, number>>>> {
    return this.batchTallies;
  }

  /** Runs `call` against the runner's deadline, timed, and classifies how it ended. */
  private async timed<T>(call: () => Promise<T>): Promise<{ start: number; end: number; result: Recorded<T>; output: unknown }> {
    const start = this.now();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new MailboxClientError('TIMEOUT', `no answer within the runner's ${this.deadlineMs} ms`)),
        this.deadlineMs,
      );
    });
    const pending = call();
    pending.catch(() => {});
    let result: Recorded<T>;
    let output: unknown;
    try {
      const value = await Promise.race([pending, deadline]);
      result = { outcome: 'ok', value, error: null };
      output = value;
    } catch (e) {
      const code = e instanceof MailboxClientError ? e.code : 'CLIENT_ERROR';
      const outcome: OpOutcome = isDefiniteFailure(e) ? 'fail' : 'info';
      result = { outcome, value: null, error: code };
      // Only the code: tools/porcupine-check reads `output.message` as a delivered message
      // whatever the outcome, so an error text there would stop the checker.
      output = { error: code };
    } finally {
      clearTimeout(timer);
    }
    return { start, end: this.now(), result, output };
  }

  /** Writes one op record and tallies it; what it was recorded as (an answer the history refuses becomes indeterminate). */
  private write<T>(head: OpCall, id: number, start: number, end: number, result: Recorded<T>, output: unknown): Recorded<T> {
    const record = { type: 'op', id, ...head, call: start, outcome: result.outcome, return: end, output } as OpRecord;
    try {
      this.writer.write(record);
    } catch (e) {
      if (!(e instanceof HistoryFormatError) || result.outcome !== 'ok') throw e;
      // The server answered something no correct server can (e.g. a consume with no delivery):
      // kept as an indeterminate op, and counted, since it makes the run fail.
      this.malformed.push(`${head.op} ${id} on ${head.user}: ${e.message}: ${JSON.stringify(output).slice(0, 300)}`);
      result = { outcome: 'info', value: null, error: 'MALFORMED_REPLY' };
      this.writer.write({ ...record, outcome: 'info', output: { error: 'MALFORMED_REPLY' } } as OpRecord);
    }
    (this.tallies[head.op] ??= { ok: 0, fail: 0, info: 0 })[result.outcome]++;
    if (result.outcome === 'info') {
      const input = head.input as { waitMs?: number; batch?: unknown };
      const kind = `${head.op}${input.batch === undefined ? '' : ' batch'}${input.waitMs === undefined ? '' : ' long-poll'}`;
      const causes = (this.unansweredTallies[kind] ??= {});
      causes[result.error ?? 'unknown'] = (causes[result.error ?? 'unknown'] ?? 0) + 1;
    }
    return result;
  }

  /** Writes what is buffered, first the held-back indeterminate batches (every head of each: nothing answered for them). */
  flush(): void {
    for (const batches of this.held.values()) for (const b of batches) this.writeBatch(b, b.heads.length);
    this.held.clear();
    this.writer.flush();
  }
}

