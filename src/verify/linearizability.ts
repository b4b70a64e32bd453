// Runs the Porcupine linearizability checker (tools/porcupine-check, Go) on a history and returns
// its verdict. The binary is built on first use with the machine's `go`, named after a hash of its
// sources so an edit triggers a rebuild (older builds are then removed), and kept in
// tools/porcupine-check/bin (gitignored). Its search can need more memory than the machine has,
// so it is run with a heap limit and, when the caller gives one, a deadline (see CheckerOptions).

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import { type HistoryRecord, formatHistoryLine } from './history.js';

const execFileAsync = promisify(execFile);

export class LinearizabilityCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinearizabilityCheckError';
  }
}

const userVerdictSchema = z.object({
  result: z.enum(['ok', 'illegal', 'unknown']),
  ops: z.number().int().min(0),
  checkedOps: z.number().int().min(0),
  /** Of the checked ops, those without an answer, and those of them no later op bounds. */
  indeterminate: z.number().int().min(0),
  unbounded: z.number().int().min(0),
  reason: z.string().optional(),
  stuckOps: z.array(z.number().int()).optional(),
  visualization: z.string().optional(),
  elapsedMs: z.number().int().min(0),
});

const verdictSchema = z.object({
  linearizable: z.boolean(),
  timedOut: z.boolean(),
  users: z.number().int().min(0),
  perUser: z.record(z.string(), userVerdictSchema),
});

/**
 * `linearizable` is true only when every user passed; a user the checker could not finish within
 * the time limit is `unknown` and makes `timedOut` true (and `linearizable` false).
 */
export type LinearizabilityVerdict = z.infer<typeof verdictSchema>;
export type UserLinearizability = z.infer<typeof userVerdictSchema>;

export interface CheckerOptions {
  /** Where the Go sources are; found by walking up from this file when absent. */
  toolDir?: string;
  /** Time limit per user, in ms (Porcupine's timeout); 0 means none. */
  timeoutMs?: number;
  /**
   * Time limit for the whole check, in ms; 0 (the default) means none. Users not decided by then
   * are unknown. The checker is also killed, with an error, if it has not ended 30 s after it.
   */
  deadlineMs?: number;
  /**
   * The checker's heap limit in bytes (4 GiB by default; 0 means none): Porcupine caches every
   * state it reaches, gigabytes a minute on a hard history, so past this the users not decided
   * yet are given up as unknown rather than the machine running out of memory.
   */
  maxMemoryBytes?: number;
  /** Directory to write an HTML visualization of each violating user into. */
  visualizeDir?: string;
  /** Longest history line the checker accepts (the reader's limit, 16 KiB by default). */
  maxLineBytes?: number;
  /** The mailbox's maxDeliveries (5 by default): when a returned leased message is dead-lettered. */
  maxDeliveries?: number;
}

const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** How long after its own deadline a checker that has not ended is killed. */
const KILL_GRACE_MS = 30_000;

function findToolDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'tools', 'porcupine-check');
    if (existsSync(join(candidate, 'go.mod'))) return candidate;
    dir = dirname(dir);
  }
  throw new LinearizabilityCheckError('tools/porcupine-check not found above ' + fileURLToPath(import.meta.url));
}

function sourceHash(toolDir: string): string {
  const files = readdirSync(toolDir)
    .filter((f) => f === 'go.mod' || f === 'go.sum' || (f.endsWith('.go') && !f.endsWith('_test.go')))
    .sort();
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f).update('\0').update(readFileSync(join(toolDir, f))).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/** Builds the checker unless a build of the current sources exists; returns the binary's path. */
export async function buildPorcupineChecker(toolDir: string = findToolDir()): Promise<string> {
  const binDir = join(toolDir, 'bin');
  const binary = join(binDir, `porcupine-check-${sourceHash(toolDir)}`);
  if (existsSync(binary)) return binary;
  mkdirSync(binDir, { recursive: true });
  // Built under a private name and renamed, so concurrent builders never run a half-written file.
  const partial = `${binary}.${process.pid}.partial`;
  try {
    await execFileAsync('go', ['build', '-o', partial, '.'], {
      cwd: toolDir,
      env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly -buildvcs=false' },
      maxBuffer: 4 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new LinearizabilityCheckError(`go build of ${toolDir} failed: ${err.stderr?.trim() || err.message}`);
  }
  renameSync(partial, binary);
  for (const f of readdirSync(binDir)) {
    if (/^porcupine-check-[0-9a-f]{16}$/.test(f) && join(binDir, f) !== binary) rmSync(join(binDir, f), { force: true });
  }
  return binary;
}

/**
 * Checks a history given as a JSONL file (`{ path }`) or as records (`{ records }`, validated and
 * streamed to the checker). Throws LinearizabilityCheckError when the checker cannot run or
 * rejects the input; a violation or a timeout is a verdict, not an error.
 */
export async function checkLinearizability(
  source: { path: string } | { records: readonly HistoryRecord[] },
  options: CheckerOptions = {},
): Promise<LinearizabilityVerdict> {
  const binary = await buildPorcupineChecker(options.toolDir);
  const args = [`-timeout=${options.timeoutMs ?? 60_000}ms`];
  if (options.visualizeDir !== undefined) args.push(`-visualize=${options.visualizeDir}`);
  if (options.maxLineBytes !== undefined) args.push(`-max-line-bytes=${options.maxLineBytes}`);
  if (options.maxDeliveries !== undefined) args.push(`-max-deliveries=${options.maxDeliveries}`);
  if (options.maxMemoryBytes !== undefined) args.push(`-max-memory=${options.maxMemoryBytes}`);
  const deadlineMs = options.deadlineMs ?? 0;
  if (deadlineMs > 0) args.push(`-deadline=${deadlineMs}ms`);
  args.push('path' in source ? source.path : '-');
  const input = 'records' in source ? source.records.map((r) => formatHistoryLine(r) + '\n').join('') : null;

  const { code, stdout, stderr } = await run(binary, args, input, deadlineMs > 0 ? deadlineMs + KILL_GRACE_MS : 0);
  if (code !== 0 && code !== 1 && code !== 2) {
    throw new LinearizabilityCheckError(`porcupine-check exited with ${code}: ${stderr.trim()}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new LinearizabilityCheckError(`porcupine-check printed no verdict: ${stdout.slice(0, 200)}`);
  }
  const verdict = verdictSchema.safeParse(parsed);
  if (!verdict.success) throw new LinearizabilityCheckError(`unexpected verdict shape: ${verdict.error.message}`);
  return verdict.data;
}

function run(
  binary: string,
  args: string[],
  input: string | null,
  killAfterMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const killer =
      killAfterMs > 0
        ? setTimeout(() => {
            child.kill('SIGKILL');
            reject(new LinearizabilityCheckError(`porcupine-check had not ended ${KILL_GRACE_MS} ms after its deadline; killed`));
          }, killAfterMs)
        : null;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_OUTPUT_BYTES) {
        child.kill();
        reject(new LinearizabilityCheckError(`porcupine-check wrote more than ${MAX_OUTPUT_BYTES} bytes`));
        return;
      }
      into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    child.on('error', (e) => reject(new LinearizabilityCheckError(`cannot run ${binary}: ${e.message}`)));
    child.on('close', (code) => {
      if (killer !== null) clearTimeout(killer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    // The checker may exit early on bad input; its exit status says why, not EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? undefined);
  });
}
