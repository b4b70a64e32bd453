// Liveness and readiness of a node, as Kubernetes and etcd mean them (GET /livez, GET /readyz):
// - live: the process and its Raft loop run. Failing it gets the node restarted, so it must hold
//   through an election (otherwise all three nodes would be restarted together): only a halted
//   node (storage failure) or a Raft loop that stopped ticking fails it.
// - ready: the node can serve, i.e. it is live, knows a leader of its current term, has applied
//   about what is committed (not installing a snapshot) and has a session with its router. It fails
//   during an election and while a node catches up; nothing restarts a node for that.
// Pure: the node hands in what it sees now (HealthState); the HTTP side is ops-server.ts.

export interface HealthState {
  /** Why the Raft loop halted (a storage failure), or null while it runs. */
  halted: string | null;
  /** Milliseconds since the Raft loop last ticked (or started ticking), or null before it started. */
  sinceLastTickMs: number | null;
  /** The node is shutting down (it serves no more requests). */
  stopping: boolean;
  term: number;
  /** The leader this node knows in `term`, or null (an election, or not a member yet). */
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  installingSnapshot: boolean;
  /** This node's bridge has a session with its Zenoh router (clients can reach it). */
  routerConnected: boolean;
}

export interface HealthLimits {
  /** A Raft loop silent for longer than this is not alive (its ticker stopped, or the process is stuck). */
  maxTickSilenceMs: number;
  /** Committed entries not yet applied beyond which the node is still catching up (not ready). */
  maxApplyLag: number;
}

/**
 * Applied-behind-commit lag that still counts as caught up: a follower applies in batches, so a
 * few hundred entries behind is normal under load; a replay after a restart is far more.
 */
export const DEFAULT_MAX_APPLY_LAG = 1000;

export interface HealthReport {
  ok: boolean;
  /** Every check by name: "ok", or why it fails. */
  checks: Record<string, string>;
  /** The names of the failing checks (empty when ok). */
  failed: string[];
}

type Check = [name: string, failure: string | null];

function report(checks: Check[]): HealthReport {
  const failed = checks.filter(([, f]) => f !== null).map(([n]) => n);
  return { ok: failed.length === 0, checks: Object.fromEntries(checks.map(([n, f]) => [n, f ?? 'ok'])), failed };
}

function livenessChecks(s: HealthState, limits: HealthLimits): Check[] {
  const silence = s.sinceLastTickMs;
  return [
    ['not_halted', s.halted === null ? null : `raft halted after a storage failure: ${s.halted}`],
    [
      'raft_loop',
      silence === null ? 'the raft loop has not started' : silence > limits.maxTickSilenceMs ? `no raft tick for ${Math.round(silence)} ms` : null,
    ],
  ];
}

export function liveness(s: HealthState, limits: HealthLimits): HealthReport {
  return report(livenessChecks(s, limits));
}

export function readiness(s: HealthState, limits: HealthLimits): HealthReport {
  const lag = s.commitIndex - s.appliedIndex;
  return report([
    ...livenessChecks(s, limits),
    ['not_stopping', s.stopping ? 'shutting down' : null],
    ['leader_known', s.leader === null ? `no leader known in term ${s.term}` : null],
    ['caught_up', lag > limits.maxApplyLag ? `applied index ${s.appliedIndex} is ${lag} entries behind commit index ${s.commitIndex}` : null],
    ['no_snapshot_install', s.installingSnapshot ? 'installing a snapshot from the leader' : null],
    ['router_session', s.routerConnected ? null : 'no session with the zenoh router'],
  ]);
}
