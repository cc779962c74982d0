/**
 * The admission of held messages (MessageStore.admitHeld), one plan for every backend: the backends
 * read the rows this needs and write the plan back, in one transaction per registration.
 *
 * A held message is `pending` with no due time. Admitting it gives it a due time, after which the
 * ordinary claim takes it:
 * - `fifo`: one message at a time. The message admitted last (the head) keeps its turn while it is
 *   pending or delivering; a held retry of it (ready at its `heldUntil`) is admitted before anything
 *   else. Once it is delivered, failed or cancelled, the oldest held message (by insertion) is next.
 * - a rate limit: slots `windowMs / count` apart, the next free one kept in the registration's state;
 *   each admitted message gets the next slot as its due time, as long as that slot starts before
 *   `now + horizonMs`. Without `fifo`, held messages go by insertion order, those whose retry is not
 *   ready yet skipped.
 */

/**
 * Where a queue needs a due time for every row (PostgreSQL's queue table), a held message is due at
 * this base plus the time from which it may be admitted: later than any real time (year ~144,000), so
 * no claim reaches it, and still an exact integer in JavaScript.
 */
export const HELD_DUE_BASE = 2 ** 52;

export interface HeldRegistration {
  accountName: string;
  serviceName: string;
  ordering: string;
  rateLimit: number | null;
  rateWindowMs: number | null;
  /** The next free slot of the rate limit (null: free now). */
  rateNextAt: number | null;
  /** The message the registration admitted last (FIFO). */
  fifoHead: string | null;
}

/** What the head message of a FIFO registration is doing now; undefined when it is gone (purged). */
export interface HeadState {
  status: string;
  nextAttemptAt: number | null;
  heldUntil: number | null;
}

export interface HeldMessage {
  id: string;
  heldUntil: number | null;
}

export interface AdmissionPlan {
  /** Messages to make due, each at its time. */
  admit: { id: string; at: number }[];
  rateNextAt: number | null;
  fifoHead: string | null;
}

function spacingOf(r: HeldRegistration): number {
  return r.rateLimit !== null && r.rateWindowMs !== null ? r.rateWindowMs / r.rateLimit : 0;
}

/** How many held messages a rate-limited registration without FIFO could admit now (the rows to read). */
export function slotsThatFit(r: HeldRegistration, now: number, horizonMs: number): number {
  const spacing = spacingOf(r);
  if (spacing === 0) return 1_000;
  const slot = Math.max(now, r.rateNextAt ?? now);
  return Math.max(0, Math.floor((now + horizonMs - slot) / spacing) + 1);
}

/** Whether a FIFO registration's head still holds its turn (then `firstHeld` need not be read). */
export function headIsOpen(head: HeadState | undefined): boolean {
  return head !== undefined && (head.status === 'pending' || head.status === 'delivering');
}

/** What the backend read for one registration's plan (`admissionPlan`). */
export interface AdmissionInput {
  registration: HeldRegistration;
  now: number;
  horizonMs: number;
  /**
   * For FIFO: `head` is the state of `fifoHead` (undefined when there is none) and `firstHeld` the
   * oldest held message. Null otherwise.
   */
  fifo: { head: HeadState | undefined; firstHeld: HeldMessage | undefined } | null;
  /** Without FIFO: held messages that are ready, oldest first (at most slotsThatFit of them). */
  ready: readonly string[];
}

/** The plan for one registration. */
export function admissionPlan({ registration: r, now, horizonMs, fifo, ready }: AdmissionInput): AdmissionPlan {
  const spacing = spacingOf(r);
  let slot = Math.max(now, r.rateNextAt ?? now);
  const plan: AdmissionPlan = { admit: [], rateNextAt: r.rateNextAt, fifoHead: r.fifoHead };
  const take = (id: string): boolean => {
    if (spacing > 0 && slot >= now + horizonMs && slot > now) return false;
    plan.admit.push({ id, at: Math.round(slot) });
    if (spacing > 0) {
      slot += spacing;
      plan.rateNextAt = Math.round(slot);
    }
    return true;
  };
  if (r.ordering === 'fifo' && fifo) {
    let candidate: HeldMessage | undefined;
    if (headIsOpen(fifo.head)) {
      const head = fifo.head as HeadState;
      // In flight or due: its turn goes on. Held: its retry is next.
      if (head.status === 'pending' && head.nextAttemptAt === null) {
        candidate = { id: r.fifoHead as string, heldUntil: head.heldUntil };
      }
    } else {
      candidate = fifo.firstHeld;
    }
    if (candidate && (candidate.heldUntil === null || candidate.heldUntil <= now) && take(candidate.id)) {
      plan.fifoHead = candidate.id;
    }
    return plan;
  }
  for (const id of ready) if (!take(id)) break;
  return plan;
}
