// What a verified token lets its holder do: a principal, the mailboxes it may touch and the
// operations it may perform on them. Pure: the bridge asks `authorize` before anything is
// proposed; issuing and verifying the signed form lives in tokens.ts.

/**
 * Operations a token can grant. `peek` covers peek and len, `ack` covers ack, nack and touch
 * (settling or extending a lease the holder was handed); `purge` covers purge and redrive (both
 * act on a whole mailbox, dead letters included: an operator's or owner's operation); `status`
 * reads the cluster and node status keys; `admin` changes membership (and implies `status`).
 */
export const OPERATIONS = ['put', 'consume', 'peek', 'ack', 'purge', 'status', 'admin'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The `users` value granting every mailbox (backend producers put into everyone's). */
export const ALL_USERS = '*';

export interface Capability {
  /** Who holds the token (the JWT `sub`). */
  readonly principal: string;
  /** Mailboxes it may touch: every one, or exactly these user ids. */
  readonly users: typeof ALL_USERS | ReadonlySet<string>;
  readonly ops: ReadonlySet<Operation>;
  /** Milliseconds since the epoch after which the token is refused. */
  readonly expiresAt: number;
  /** Key id that signed it, for logs (never the token itself). */
  readonly keyId: string;
}

export type AuthErrorCode = 'UNAUTHORIZED' | 'FORBIDDEN';

/** UNAUTHORIZED: no, malformed, forged or expired credential. FORBIDDEN: valid, but not for this. */
export class AuthError extends Error {
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/** What one request needs: an operation, and the mailbox it touches (null for cluster-wide keys). */
export interface Access {
  op: Operation;
  user: string | null;
}

/** Throws FORBIDDEN unless `cap` grants `access`. */
export function authorize(cap: Capability, access: Access): void {
  const granted = cap.ops.has(access.op) || (access.op === 'status' && cap.ops.has('admin'));
  if (!granted) throw new AuthError('FORBIDDEN', `principal ${cap.principal} may not ${access.op}`);
  if (access.user !== null && cap.users !== ALL_USERS && !cap.users.has(access.user)) {
    throw new AuthError('FORBIDDEN', `principal ${cap.principal} may not touch mailbox ${access.user}`);
  }
}
