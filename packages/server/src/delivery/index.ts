import type { AppContext } from '../context.js';

/** A running delivery engine (dispatcher + retention purge). */
export interface Delivery {
  /** New messages are due: claim now instead of waiting for the next poll. */
  wake(): void;
  /** Stops claiming, lets in-flight attempts finish (or their leases lapse), records outcomes. */
  stop(): Promise<void>;
}

/** Starts the dispatcher and the retention purge. Replaced by the delivery engine (issue 4). */
export function startDelivery(_ctx: AppContext): Delivery {
  return { wake() {}, async stop() {} };
}
