// The figures the end-to-end benchmark measures, one row per system, phase and load, and the
// helpers every system's driver shares to fill them in.

import type { Figures } from '../load.js';
import { fmt } from '../load.js';

/** The systems in a run, Forge first: every ratio is Forge's figure over a peer's. */
export const SYSTEMS = ['forge', 'nats', 'rabbitmq', 'etcd'] as const;
export type System = (typeof SYSTEMS)[number];

export interface Row {
  system: System;
  /**
   * put, consume, `consume max=<N>` (a batch consume; figures in messages per second), or a phase
   * only Forge has (idle poll; long poll: no rate, opsPerSec NaN, latencies its wake-ups).
   */
  phase: string;
  /**
   * Forge rows driven by a client other than the zenoh-ts one (e.g. the Python client): their own
   * row in the table, compared with the peers' rows of the same phase.
   */
  client?: string;
  inFlight: number;
  figures: Figures;
  /** What differs from the other systems' row, and how the drain went; '' when nothing to say. */
  note: string;
}

/** A peer that did not run, and why (with how to install it when it is missing). */
export interface Skipped {
  system: System;
  reason: string;
}

/** Batch figures: the rate in messages taken, latencies per request. */
export function perMessage(requests: Figures, messages: number): Figures {
  if (requests.count === 0) return { ...requests, count: messages, opsPerSec: 0 };
  const elapsed = requests.count / requests.opsPerSec;
  return { ...requests, count: messages, opsPerSec: messages / elapsed };
}

export function drainNote(put: number, taken: number, left: number, empty: number): string {
  const parts = [`took ${taken} of ${put}`];
  if (left > 0) parts.push(`${left} purged after the time limit`);
  if (empty > 0) parts.push(`${empty} unexpected empty replies`);
  return parts.join(', ');
}

/** One row as a line; a row without a rate (NaN) prints only its latencies. */
export function rowLine(row: Row): string {
  const f = row.figures;
  const rate = Number.isFinite(f.opsPerSec) ? `${fmt(f.opsPerSec)} msg/s, ` : '';
  return `${row.system}${row.client ? ` (${row.client})` : ''} ${row.phase} ${row.inFlight} in flight: ${rate}p50 ${fmt(f.p50, 2)} ms, p99 ${fmt(f.p99, 2)} ms${row.note ? ` (${row.note})` : ''}`;
}
