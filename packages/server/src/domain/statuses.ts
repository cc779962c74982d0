/**
 * A message's status and what each allows (SPEC §4): `pending` → `delivering` → `delivered` |
 * `failed` (attempts exhausted, or no registration) | `cancelled` (registration removed). Free of
 * imports, so the dashboard bundles these names and rules as they are.
 */
export const MESSAGE_STATUSES = ['pending', 'delivering', 'delivered', 'failed', 'cancelled'] as const;

export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Statuses no attempt follows by itself: retention purges these, the queue counts the others. */
export const FINAL_STATUSES = ['delivered', 'failed', 'cancelled'] as const satisfies readonly MessageStatus[];

/** Statuses still waiting for delivery (the queue depth): not final. */
export const OPEN_STATUSES = ['pending', 'delivering'] as const satisfies readonly MessageStatus[];

/**
 * Statuses a replay re-queues. A pending message is made due at once ("deliver now", instead of
 * waiting for its next scheduled attempt); a delivering one has an attempt in flight and is left alone.
 */
export const REPLAYABLE_STATUSES = [
  'failed',
  'cancelled',
  'delivered',
  'pending',
] as const satisfies readonly MessageStatus[];

export function isReplayable(status: MessageStatus): boolean {
  return (REPLAYABLE_STATUSES as readonly MessageStatus[]).includes(status);
}

export function isFinal(status: MessageStatus): boolean {
  return (FINAL_STATUSES as readonly MessageStatus[]).includes(status);
}
