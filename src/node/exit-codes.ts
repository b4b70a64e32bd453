// Exit codes of `forge-mailbox serve`, distinct so that a supervisor (systemd, compose, k8s) and
// an operator can tell a failure that a restart cures from one that needs a person (README:
// Operations, "Fail-stop and exit codes"). 65 and 74 are sysexits.h's EX_DATAERR and EX_IOERR.
export const SERVE_EXIT = {
  /** Stopped on SIGTERM/SIGINT. */
  ok: 0,
  /** Anything unexpected (a bug, a port in use, ...). */
  failed: 1,
  /** The configuration is invalid; nothing was started. */
  badConfig: 3,
  /**
   * The store is corrupt (a checksum or a record does not verify) or in a layout this release
   * cannot read: restarting will not help. Wipe the node and add it again from its peers.
   */
  storeUnreadable: 65,
  /**
   * The disk failed under a running node (ENOSPC, EIO, ...): the Raft loop halted, the node left
   * Zenoh and exited. Restart it once the disk is fixed; it catches up from the leader.
   */
  storageFailed: 74,
} as const;
