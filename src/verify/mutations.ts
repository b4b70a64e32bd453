// Deliberate bugs, each behind a flag that is off unless a test turns it on: the list of known
// ways to break the guarantees, and for each the checker that must catch it within a bound. The
// mutation tests (test/sim/mutations.test.ts for the simulator, test/verify/mutations.test.ts
// for the chaos runner) run every entry and fail if its detector misses it, so a checker that
// goes blind shows up in CI instead of in production.
//
// Each layer takes its own flags through its options (RaftConfig / DriverOptions for Raft, the
// mailbox options, the node config); a node process reads them from FORGE_UNSAFE_MUTATIONS, a
// comma-separated list of these names, and logs a warning for each at start.

export type Detector = 'sim' | 'chaos';

export interface MutationSpec {
  /** Flag name, as in FORGE_UNSAFE_MUTATIONS. */
  readonly name: string;
  /** The layer whose code carries the flag. */
  readonly layer: 'raft' | 'mailbox' | 'node';
  /** What the mutated code does wrong. */
  readonly what: string;
  /** Which checker must catch it. */
  readonly detector: Detector;
}

export const MUTATIONS = [
  { name: 'ack-before-sync', layer: 'raft', detector: 'sim', what: 'messages that promise durability (votes, append acks) leave before the write that backs them is synced' },
  { name: 'commit-old-term-by-counting', layer: 'raft', detector: 'sim', what: 'a leader commits an entry of an earlier term once a majority stores it (the Figure 8 bug, §5.4.2)' },
  { name: 'vote-not-persisted', layer: 'raft', detector: 'sim', what: 'the vote is kept in memory only, so a node that restarts can vote twice in one term' },
  { name: 'apply-before-commit', layer: 'raft', detector: 'sim', what: 'entries are applied (and answered) when appended, before a majority stores them' },
  { name: 'snapshot-drops-entries', layer: 'raft', detector: 'sim', what: 'installing a snapshot whose last entry is in the log discards the entries after it (Figure 13 step 6)' },
  { name: 'raw-wall-clock-time', layer: 'raft', detector: 'sim', what: 'the leader stamps entries with its wall clock as it is, so a clock that jumps drags replicated time backwards or far ahead' },
  { name: 'read-without-read-index', layer: 'node', detector: 'chaos', what: 'peek/len are served from local state without a ReadIndex round, so a deposed leader serves stale reads' },
  { name: 'ack-before-commit', layer: 'node', detector: 'chaos', what: 'a consume is answered before its entry commits' },
  { name: 'lease-receipt-reuse', layer: 'mailbox', detector: 'chaos', what: 'a redelivered message keeps its earlier receipt, so a stale consumer acks the new delivery' },
] as const satisfies readonly MutationSpec[];

export type MutationName = (typeof MUTATIONS)[number]['name'];
