// Lines the rows of a run up by phase and load, so each Forge figure sits beside each peer's.

import { SYSTEMS, type Row, type System } from './rows.js';

export interface Group {
  /** The phase, with the client when it is not the zenoh-ts one (`put, Python client`). */
  phase: string;
  inFlight: number;
  bySystem: Partial<Record<System, Row>>;
  /** A client's own group: the group whose peers its Forge row is compared with. */
  peersOf?: Group;
}

export interface Comparison {
  /** The systems with at least one row, in SYSTEMS order. */
  systems: System[];
  /** One per phase, client and number in flight, in the order they were first measured. */
  groups: Group[];
}

export function compare(rows: Row[]): Comparison {
  const groups: Group[] = [];
  const groupOf = (phase: string, inFlight: number): Group => {
    let group = groups.find((g) => g.phase === phase && g.inFlight === inFlight);
    if (group === undefined) {
      group = { phase, inFlight, bySystem: {} };
      groups.push(group);
    }
    return group;
  };
  const ofClients: { group: Group; phase: string }[] = [];
  for (const row of rows) {
    if (row.client === undefined) {
      groupOf(row.phase, row.inFlight).bySystem[row.system] = row;
      continue;
    }
    const own = groupOf(`${row.phase}, ${row.client}`, row.inFlight);
    own.bySystem[row.system] = row;
    ofClients.push({ group: own, phase: row.phase });
  }
  for (const { group, phase } of ofClients) group.peersOf = groups.find((g) => g.phase === phase && g.inFlight === group.inFlight);
  const systems = SYSTEMS.filter((s) => rows.some((r) => r.system === s));
  return { systems, groups };
}

/** Forge's throughput over the peer's in a group (a client's group: over the peer's in its phase's group). */
export function groupRatio(group: Group, peer: System): number | null {
  return ratio(group.bySystem.forge, group.bySystem[peer] ?? group.peersOf?.bySystem[peer]);
}

/** Forge's throughput over the peer's; null when either is missing or the peer's is 0. */
export function ratio(forge: Row | undefined, peer: Row | undefined): number | null {
  if (forge === undefined || peer === undefined || !(peer.figures.opsPerSec > 0)) return null;
  return forge.figures.opsPerSec / peer.figures.opsPerSec;
}
