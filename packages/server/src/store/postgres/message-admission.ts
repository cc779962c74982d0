import {
  admissionPlan,
  type HeadState,
  type HeldMessage,
  type HeldRegistration,
  headIsOpen,
  slotsThatFit,
} from '../admission.js';
import type { Database, Queryable } from './database.js';

/**
 * Delivery controls on PostgreSQL: held messages (pending, no due time) of FIFO and rate-limited
 * registrations admitted by the plan of store/admission.ts, each registration in a transaction of
 * its own under a lock on its registration row (SKIP LOCKED: an instance finding it taken moves on);
 * a registration's held messages released, or its pending ones failed.
 */
export async function admitHeldMessages(db: Database, now: number, horizonMs: number): Promise<number> {
  const held = await db.query<{ account_name: string; service_name: string }>({
    name: 'messages_held_registrations',
    text: `SELECT account_name, service_name FROM registrations WHERE ordering = 'fifo' OR rate_limit IS NOT NULL`,
  });
  let admitted = 0;
  for (const { account_name, service_name } of held.rows) {
    admitted += await db.transaction((client) => admitFor(client, account_name, service_name, now, horizonMs));
  }
  return admitted;
}

/** One registration's admission, its row locked (another instance admitting it at the same time skips it). */
async function admitFor(
  client: Queryable,
  accountName: string,
  serviceName: string,
  now: number,
  horizonMs: number,
): Promise<number> {
  const locked = await client.query<{ ordering: string; rate_limit: number | null; rate_window_ms: number | null }>({
    name: 'messages_admission_lock',
    text: `SELECT ordering, rate_limit, rate_window_ms FROM registrations
           WHERE account_name = $1 AND service_name = $2 FOR NO KEY UPDATE SKIP LOCKED`,
    values: [accountName, serviceName],
  });
  if (!locked.rows[0]) return 0;
  // Read after the lock, by a statement of its own: its snapshot includes what the instance that
  // held the lock before wrote (read in the locking statement, it could be older).
  const state = await client.query<{ rate_next_at: string | null; fifo_head: string | null }>({
    name: 'messages_admission_state',
    text: 'SELECT rate_next_at, fifo_head FROM registration_state WHERE account_name = $1 AND service_name = $2',
    values: [accountName, serviceName],
  });
  const row = { ...locked.rows[0], ...(state.rows[0] ?? { rate_next_at: null, fifo_head: null }) };
  const r: HeldRegistration = {
    accountName,
    serviceName,
    ordering: row.ordering,
    rateLimit: row.rate_limit,
    rateWindowMs: row.rate_window_ms,
    rateNextAt: row.rate_next_at === null ? null : Number(row.rate_next_at),
    fifoHead: row.fifo_head,
  };
  let fifo: { head: HeadState | undefined; firstHeld: HeldMessage | undefined } | null = null;
  let ready: string[] = [];
  if (r.ordering === 'fifo') {
    let head: HeadState | undefined;
    if (r.fifoHead !== null) {
      const state = await client.query<{ status: string; next_attempt_at: string | null; held_until: string | null }>({
        name: 'messages_admission_head',
        text: 'SELECT status, next_attempt_at, held_until FROM messages WHERE id = $1',
        values: [r.fifoHead],
      });
      const h = state.rows[0];
      head = h && {
        status: h.status,
        nextAttemptAt: h.next_attempt_at === null ? null : Number(h.next_attempt_at),
        heldUntil: h.held_until === null ? null : Number(h.held_until),
      };
    }
    let firstHeld: HeldMessage | undefined;
    if (!headIsOpen(head)) {
      const first = await client.query<{ id: string; held_until: string | null }>({
        name: 'messages_admission_first',
        text: `SELECT id, held_until FROM messages
               WHERE status = 'pending' AND next_attempt_at IS NULL AND account_name = $1 AND service_name = $2
               ORDER BY seq LIMIT 1`,
        values: [accountName, serviceName],
      });
      const f = first.rows[0];
      firstHeld = f && { id: f.id, heldUntil: f.held_until === null ? null : Number(f.held_until) };
    }
    fifo = { head, firstHeld };
  } else {
    const fit = slotsThatFit(r, now, horizonMs);
    if (fit > 0) {
      const rows = await client.query<{ id: string }>({
        name: 'messages_admission_ready',
        text: `SELECT id FROM messages
               WHERE status = 'pending' AND next_attempt_at IS NULL AND account_name = $1 AND service_name = $2
                 AND (held_until IS NULL OR held_until <= $3)
               ORDER BY seq LIMIT $4`,
        values: [accountName, serviceName, now, fit],
      });
      ready = rows.rows.map((x) => x.id);
    }
  }
  const plan = admissionPlan(r, now, horizonMs, fifo, ready);
  let admitted = 0;
  if (plan.admit.length > 0) {
    const result = await client.query({
      name: 'messages_admit',
      text: `UPDATE messages m SET next_attempt_at = a.at, held_until = NULL
             FROM unnest($1::text[], $2::bigint[]) AS a(id, at)
             WHERE m.id = a.id AND m.status = 'pending' AND m.next_attempt_at IS NULL`,
      values: [plan.admit.map((a) => a.id), plan.admit.map((a) => a.at)],
    });
    admitted = result.rowCount ?? 0;
  }
  if (plan.rateNextAt !== r.rateNextAt || plan.fifoHead !== r.fifoHead) {
    await client.query({
      name: 'registration_state_admission',
      text: `INSERT INTO registration_state (account_name, service_name, rate_next_at, fifo_head)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_name, service_name) DO UPDATE SET rate_next_at = excluded.rate_next_at,
               fifo_head = excluded.fifo_head`,
      values: [accountName, serviceName, plan.rateNextAt, plan.fifoHead],
    });
  }
  return admitted;
}

/** A registration that no longer holds its messages: its held ones become due (a retry at its time). */
export async function releaseHeldMessages(
  db: Pick<Database, 'query'>,
  accountName: string,
  serviceName: string,
  now: number,
): Promise<number> {
  const result = await db.query(
    `UPDATE messages SET next_attempt_at = GREATEST($3, COALESCE(held_until, $3)), held_until = NULL
     WHERE account_name = $1 AND service_name = $2 AND status = 'pending' AND next_attempt_at IS NULL`,
    [accountName, serviceName, now],
  );
  return result.rowCount ?? 0;
}

/** A disabled registration's pending messages (held ones too) fail; those in flight keep their attempt. */
export async function failPendingMessages(
  db: Pick<Database, 'query'>,
  accountName: string,
  serviceName: string,
  reason: string,
  now: number,
): Promise<number> {
  const result = await db.query(
    `UPDATE messages SET status = 'failed', reason = $3, updated_at = $4, next_attempt_at = NULL, held_until = NULL
     WHERE account_name = $1 AND service_name = $2 AND status = 'pending'`,
    [accountName, serviceName, reason, now],
  );
  return result.rowCount ?? 0;
}
