// Lines the rows of a run up by phase and load, so each Forge figure sits beside each peer's.

import { SYSTEMS, type Row, type System } from './rows.js';

export interface Comparison {
  /** The systems with at least one row, in SYSTEMS order. */
  systems: System[];
  /** One per phase and number in flight, in the order they were first measured. */
  groups: { phase: string; inFlight: number; bySystem: Partial<Record<System, Row>> }[];
}

export function compare(rows: Row[]): Comparison {
  const groups: Comparison['groups'] = [];
  for (const row of rows) {
    let group = groups.find((g) => g.phase === row.phase && g.inFlight === row.inFlight);
    if (group === undefined) {
      group = { phase: row.phase, inFlight: row.inFlight, bySystem: {} };
      groups.push(group);
    }
    group.bySystem[row.system] = row;
  }
  const systems = SYSTEMS.filter((s) => rows.some((r) => r.system === s));
  return { systems, groups };
}

/** Forge's throughput over the peer's; null when either is missing or the peer's is 0. */
export function ratio(forge: Row | undefined, peer: Row | undefined): number | null {
  if (forge === undefined || peer === undefined || !(peer.figures.opsPerSec > 0)) return null;
  return forge.figures.opsPerSec / peer.figures.opsPerSec;
}
