/**
 * Why a worker gives claimed messages back to the store undelivered (they are due again later, never
 * lost): counted by reason in `ccb_messages_handed_back_total`. Free of imports.
 */
export const HandBackReasons = {
  /** No room at a busy origin that answers slowly: due again round by round. */
  originSlow: 'origin_slow',
  /** Waiting for an origin that stopped answering (saturated, no answer for a while). */
  originStuck: 'origin_stuck',
  /** Its lease no longer covered a whole attempt when a slot came free. */
  leaseShort: 'lease_short',
  /** The worker is stopping. */
  stopping: 'stopping',
} as const;

export type HandBackReason = (typeof HandBackReasons)[keyof typeof HandBackReasons];
