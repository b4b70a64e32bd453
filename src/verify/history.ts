// The history a fault-injection run records and the checkers read: one JSON object per line.
//
// Every client operation becomes ONE `op` record written when it completes, holding its
// invocation time (`call`), its completion time (`return`) and how it ended:
//   ok    the reply arrived; `output` is what the mailbox answered.
//   fail  it definitely did not take effect (refused before proposing, or rejected by the state
//         machine, which changes nothing on rejection); `output` says why.
//   info  indeterminate (timeout, dropped connection): it may or may not have taken effect, now or
//         later. `return` is when the client gave up (or null); checkers treat it as never returned.
// Optional `meta` (run description) and `nemesis` (fault injected) records sit beside the ops.
//
// Conventions the checkers rely on (validateHistory enforces the ones a file can show):
// - Times are integers in one monotonic timebase shared by every client of the run (nanoseconds
//   since the run started is the intended unit); intervals are closed.
// - `process` is a sequential actor: its ops do not overlap, and after an `info` op it never
//   issues another (the client continues under a fresh process number, as in Jepsen), because
//   the abandoned op may still be pending.
// - Every put carries a client message id (`msgId`) unique to that logical message; a retry of
//   the same logical put reuses it, and the mailbox then answers `duplicate: true`. This is what
//   makes values identifiable, and it relies on the run being shorter than the dedupe window.
// - A consume retry reuses its `requestId` and must get the very same answer (request window).
// - A batch call (put-batch, consume?max=N) is recorded as one op per message, each with the
//   call's times and `input.batch` (its size and the op's index), the ops after the first on
//   processes of their own (they overlap it), and ids running from `id - index`. A batch is
//   atomic and in order: the linearizability checker (tools/porcupine-check) joins its ops back
//   into one operation by that id. Answered, a put batch is one op per message and a consume batch one per message it
//   brought (one empty op when it brought none); failed or indeterminate, it is `size` ops with
//   that outcome (an indeterminate consume batch may have taken up to `size`), except that an
//   indeterminate consume batch whose request id a later attempt got an answer for has as many
//   ops as that answer (the request id's remembered batch: no attempt took more). A consume
//   batch's op i carries the request id `<rid>#<i>`: a retry replays the batch position by
//   position.
// - Message TTLs are longer than the run (expiry is not modelled).
// - The run ends with a drain, recorded as ordinary ops: once every lease has ended, consume each
//   user's main queue until empty, then (for users that took leases) its dead-letter queue.

import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { z } from 'zod';
import type { DeliveredMessage } from '../mailbox/commands.js';

export const HISTORY_FORMAT_VERSION = 1;

/** Bounds every reader and writer applies: a history is input like any other. */
export interface HistoryLimits {
  maxLineBytes: number;
  maxRecords: number;
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = { maxLineBytes: 16 * 1024, maxRecords: 4_000_000 };

export class HistoryFormatError extends Error {
  /** 1-based line number, or 0 when the problem is not tied to one line. */
  readonly line: number;

  constructor(line: number, message: string) {
    super(line > 0 ? `history line ${line}: ${message}` : `history: ${message}`);
    this.name = 'HistoryFormatError';
    this.line = line;
  }
}

const time = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const user = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'user must be 1-128 characters of A-Z a-z 0-9 _ . -');
const token = z.string().min(1).max(256);
const bodyHashText = z.string().regex(/^[0-9a-f]{8,128}$/, 'bodyHash must be 8-128 lowercase hex digits');

/** A message as a consume or peek reported it. `receipt` only on leased consumes. */
const messageSchema = z.strictObject({
  msgId: token,
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  bodyHash: bodyHashText,
  /** Times handed out, this delivery included; a peek of a message never delivered reports 0. */
  deliveries: z.number().int().min(0).max(1_000_000),
  receipt: token.optional(),
  leaseExpiresAt: time.optional(),
});

const failOutput = z.strictObject({ error: z.string().min(1).max(64), message: z.string().max(1024).optional() });
const infoOutput = z.strictObject({ error: z.string().min(1).max(64).optional(), message: z.string().max(1024).optional() });

const common = {
  type: z.literal('op'),
  /** Unique per history. */
  id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The logical worker (stays the same across its processes). */
  client: z.string().min(1).max(64),
  process: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  user,
  /** Which server answered or was asked, when the runner knows. */
  node: z.string().min(1).max(64).optional(),
  call: time,
};

function opSchema<K extends string, I extends z.ZodType, O extends z.ZodType>(op: K, input: I, output: O) {
  const head = { ...common, op: z.literal(op), input };
  return z.discriminatedUnion('outcome', [
    z.strictObject({ ...head, outcome: z.literal('ok'), return: time, output }),
    z.strictObject({ ...head, outcome: z.literal('fail'), return: time, output: failOutput }),
    z.strictObject({ ...head, outcome: z.literal('info'), return: time.nullable(), output: infoOutput }),
  ]);
}

/** Which message of a batch call an op is (see the header). */
const batchSchema = z
  .strictObject({ size: z.number().int().min(1).max(1024), index: z.number().int().min(0).max(1023) })
  .refine((b) => b.index < b.size, 'batch index must be below its size');

const putSchema = opSchema(
  'put',
  z.strictObject({ msgId: token, bodyHash: bodyHashText, ttlMs: count.optional(), batch: batchSchema.optional() }),
  z.strictObject({ msgId: token, seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), duplicate: z.boolean() }),
);
const consumeSchema = opSchema(
  'consume',
  z.strictObject({
    requestId: token.optional(),
    leaseMs: count.optional(),
    deadLetter: z.boolean().optional(),
    waitMs: count.optional(),
    batch: batchSchema.optional(),
  }),
  z.strictObject({ message: messageSchema.nullable() }),
);
const peekSchema = opSchema(
  'peek',
  z.strictObject({ deadLetter: z.boolean().optional() }),
  z.strictObject({ message: messageSchema.nullable() }),
);
const lenSchema = opSchema(
  'len',
  z.strictObject({}),
  z.strictObject({ count, inFlight: count, deadLetterCount: count }),
);
/** `deliveries`: the delivery count of the consume that handed out the receipt (which delivery is settled). */
const settleInput = z.strictObject({ receipt: token, msgId: token, deliveries: z.number().int().min(1).max(1_000_000).optional() });
const ackSchema = opSchema('ack', settleInput, z.strictObject({}));
const nackSchema = opSchema('nack', settleInput, z.strictObject({}));

const metaSchema = z.strictObject({
  type: z.literal('meta'),
  version: z.literal(HISTORY_FORMAT_VERSION),
  timeUnit: z.enum(['ns', 'ms']),
  /** Free-form run description (seed, cluster size, nemesis schedule name...). */
  info: z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean()])).optional(),
});

const nemesisSchema = z.strictObject({
  type: z.literal('nemesis'),
  time,
  /** What was done, e.g. "partition", "heal", "kill", "restart", "pause", "resume". */
  action: z.string().min(1).max(64),
  /** Whom it was done to, e.g. "n1" or "n1,n2|n3". */
  target: z.string().max(256).optional(),
});

export type MessageRecord = z.infer<typeof messageSchema>;
export type PutOp = z.infer<typeof putSchema>;
export type ConsumeOp = z.infer<typeof consumeSchema>;
export type PeekOp = z.infer<typeof peekSchema>;
export type LenOp = z.infer<typeof lenSchema>;
export type AckOp = z.infer<typeof ackSchema>;
export type NackOp = z.infer<typeof nackSchema>;
export type OpRecord = PutOp | ConsumeOp | PeekOp | LenOp | AckOp | NackOp;
export type OpKind = OpRecord['op'];
export type Outcome = OpRecord['outcome'];
export type MetaRecord = z.infer<typeof metaSchema>;
export type NemesisRecord = z.infer<typeof nemesisSchema>;
export type HistoryRecord = OpRecord | MetaRecord | NemesisRecord;

export interface History {
  meta: MetaRecord | null;
  ops: OpRecord[];
  nemesis: NemesisRecord[];
}

const opSchemas: Record<OpKind, z.ZodType> = {
  put: putSchema,
  consume: consumeSchema,
  peek: peekSchema,
  len: lenSchema,
  ack: ackSchema,
  nack: nackSchema,
};

/** The body fingerprint puts and consumes record: 128 bits of SHA-256, hex. */
export function bodyHash(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 32);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(record)'}: ${i.message}`)
    .join('; ');
}

/** Validates one decoded record; throws HistoryFormatError naming `line`. */
export function validateRecord(value: unknown, line = 0): HistoryRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HistoryFormatError(line, 'a record must be a JSON object');
  }
  const v = value as { type?: unknown; op?: unknown };
  let schema: z.ZodType;
  if (v.type === 'op') {
    if (typeof v.op !== 'string' || !Object.hasOwn(opSchemas, v.op)) {
      throw new HistoryFormatError(line, `unknown op ${JSON.stringify(v.op)}`);
    }
    schema = opSchemas[v.op as OpKind];
  } else if (v.type === 'meta') {
    schema = metaSchema;
  } else if (v.type === 'nemesis') {
    schema = nemesisSchema;
  } else {
    throw new HistoryFormatError(line, `unknown record type ${JSON.stringify(v.type)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HistoryFormatError(line, describeIssues(parsed.error));
  const record = parsed.data as HistoryRecord;
  if (record.type === 'op') checkOpCoherence(record, line);
  return record;
}

/** Rules one record can break on its own that the shape alone does not express. */
function checkOpCoherence(op: OpRecord, line: number): void {
  if (op.return !== null && op.return < op.call) throw new HistoryFormatError(line, `op ${op.id} returns before its call`);
  if (op.outcome !== 'ok') return;
  if (op.op === 'put' && op.output.msgId !== op.input.msgId) {
    throw new HistoryFormatError(line, `put ${op.id} answered for message ${op.output.msgId}, not ${op.input.msgId}`);
  }
  if (op.op === 'consume' && op.output.message !== null) {
    if (op.output.message.deliveries < 1) throw new HistoryFormatError(line, `consume ${op.id} reports no delivery`);
    const leased = op.input.leaseMs !== undefined;
    if (leased !== (op.output.message.receipt !== undefined)) {
      throw new HistoryFormatError(line, `consume ${op.id}: a receipt comes with, and only with, a leased consume`);
    }
  }
  if (op.op === 'peek' && op.output.message?.receipt !== undefined) {
    throw new HistoryFormatError(line, `peek ${op.id} cannot carry a receipt`);
  }
}

/** Parses one JSONL line. */
export function parseHistoryLine(text: string, line = 0, limits: HistoryLimits = DEFAULT_HISTORY_LIMITS): HistoryRecord {
  if (Buffer.byteLength(text, 'utf8') > limits.maxLineBytes) {
    throw new HistoryFormatError(line, `line longer than ${limits.maxLineBytes} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HistoryFormatError(line, `not JSON (${(e as Error).message})`);
  }
  return validateRecord(value, line);
}

/** One validated record as its JSONL line (without the newline). */
export function formatHistoryLine(record: HistoryRecord, limits: HistoryLimits = DEFAULT_HISTORY_LIMITS): string {
  validateRecord(record);
  const text = JSON.stringify(record);
  if (Buffer.byteLength(text, 'utf8') > limits.maxLineBytes) {
    throw new HistoryFormatError(0, `record longer than ${limits.maxLineBytes} bytes`);
  }
  return text;
}

/**
 * Checks what only the whole history can show: unique op ids, a single meta record that comes
 * first, and the process discipline (no overlapping ops, nothing after an indeterminate op).
 */
export function validateHistory(records: readonly HistoryRecord[]): History {
  const history: History = { meta: null, ops: [], nemesis: [] };
  const ids = new Set<number>();
  records.forEach((r, i) => {
    if (r.type === 'meta') {
      if (i !== 0) throw new HistoryFormatError(0, 'the meta record must be the first record');
      history.meta = r;
    } else if (r.type === 'nemesis') {
      history.nemesis.push(r);
    } else {
      if (ids.has(r.id)) throw new HistoryFormatError(0, `op id ${r.id} appears twice`);
      ids.add(r.id);
      history.ops.push(r);
    }
  });
  const byProcess = new Map<number, OpRecord[]>();
  for (const op of history.ops) {
    const list = byProcess.get(op.process);
    if (list === undefined) byProcess.set(op.process, [op]);
    else list.push(op);
  }
  for (const [process, ops] of byProcess) {
    ops.sort((a, b) => a.call - b.call || a.id - b.id);
    for (let i = 1; i < ops.length; i++) {
      const prev = ops[i - 1]!;
      const next = ops[i]!;
      if (prev.outcome === 'info') {
        throw new HistoryFormatError(0, `process ${process} issued op ${next.id} after indeterminate op ${prev.id}`);
      }
      if (next.call < prev.return) {
        throw new HistoryFormatError(0, `process ${process} ops ${prev.id} and ${next.id} overlap`);
      }
    }
  }
  return history;
}

/** Parses a whole JSONL text (blank lines allowed). */
export function parseHistory(text: string, limits: HistoryLimits = DEFAULT_HISTORY_LIMITS): History {
  const records: HistoryRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    if (records.length >= limits.maxRecords) throw new HistoryFormatError(i + 1, `more than ${limits.maxRecords} records`);
    records.push(parseHistoryLine(line, i + 1, limits));
  }
  return validateHistory(records);
}

/** Reads a JSONL history file, streaming, without ever buffering more than one bounded line. */
export async function readHistory(path: string, limits: HistoryLimits = DEFAULT_HISTORY_LIMITS): Promise<History> {
  const records: HistoryRecord[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  const take = (bytes: Buffer): void => {
    lineNo++;
    const text = bytes.toString('utf8');
    if (text.trim() === '') return;
    if (records.length >= limits.maxRecords) throw new HistoryFormatError(lineNo, `more than ${limits.maxRecords} records`);
    records.push(parseHistoryLine(text, lineNo, limits));
  };
  for await (const chunk of createReadStream(path)) {
    let buf = chunk as Buffer;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
      if (pendingBytes + nl > limits.maxLineBytes) {
        throw new HistoryFormatError(lineNo + 1, `line longer than ${limits.maxLineBytes} bytes`);
      }
      take(Buffer.concat([...pending, buf.subarray(0, nl)]));
      pending = [];
      pendingBytes = 0;
      buf = buf.subarray(nl + 1);
    }
    pendingBytes += buf.length;
    if (pendingBytes > limits.maxLineBytes) {
      throw new HistoryFormatError(lineNo + 1, `line longer than ${limits.maxLineBytes} bytes`);
    }
    pending.push(buf);
  }
  if (pendingBytes > 0) take(Buffer.concat(pending));
  return validateHistory(records);
}

/**
 * Appends validated records to a JSONL file. Buffered: lines reach the file every `flushBytes`
 * and on flush()/close(), so a runner should close it in a finally block.
 */
export class HistoryWriter {
  private fd: number | null;
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private readonly ids = new Set<number>();
  private records = 0;

  constructor(
    readonly path: string,
    private readonly limits: HistoryLimits = DEFAULT_HISTORY_LIMITS,
    private readonly flushBytes = 64 * 1024,
  ) {
    this.fd = openSync(path, 'w');
  }

  /** Throws HistoryFormatError (and writes nothing) on an invalid record or a repeated op id. */
  write(record: HistoryRecord): void {
    if (this.fd === null) throw new Error('history writer is closed');
    const text = formatHistoryLine(record, this.limits);
    if (record.type === 'op' && this.ids.has(record.id)) {
      throw new HistoryFormatError(0, `op id ${record.id} written twice`);
    }
    if (record.type === 'meta' && this.records > 0) throw new HistoryFormatError(0, 'the meta record must be written first');
    if (this.records >= this.limits.maxRecords) throw new HistoryFormatError(0, `more than ${this.limits.maxRecords} records`);
    if (record.type === 'op') this.ids.add(record.id);
    this.records++;
    this.buffered.push(text + '\n');
    this.bufferedBytes += text.length + 1;
    if (this.bufferedBytes >= this.flushBytes) this.flush();
  }

  flush(): void {
    if (this.fd === null || this.buffered.length === 0) return;
    writeSync(this.fd, this.buffered.join(''));
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    closeSync(this.fd);
    this.fd = null;
  }
}

/** A delivered message as the history records it. */
export function messageRecord(m: DeliveredMessage): MessageRecord {
  return {
    msgId: m.id,
    seq: m.seq,
    bodyHash: bodyHash(m.body),
    deliveries: m.deliveries,
    ...(m.receipt === undefined ? {} : { receipt: m.receipt }),
    ...(m.leaseExpiresAt === undefined ? {} : { leaseExpiresAt: m.leaseExpiresAt }),
  };
}
