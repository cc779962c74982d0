import {
  admissionPlan,
  HELD_DUE_BASE,
  type HeadState,
  type HeldMessage,
  type HeldRegistration,
  headIsOpen,
  slotsThatFit,
} from '../admission.js';
import type { RegistrationKey } from '../types.js';
import type { Database, Queryable } from './database.js';

/**
 * Delivery controls on PostgreSQL, on the queue table: a held message's queue row is due at
 * HELD_DUE_BASE + the time from which it may be admitted (store/admission.ts), so no claim reaches it;
 * admission gives it its real due time. Each registration is admitted in a transaction of its own,
 * under a lock on its registration row (SKIP LOCKED: an instance finding it taken moves on), and
 * reads the admission state after taking the lock.
 */
export async function admitHeldMessages(db: Database, now: number, horizonMs: number): Promise<number> {
  const held = await db.query<{ account_name: string; service_name: string }>({
    name: 'queue_held_registrations',
    text: `SELECT account_name, service_name FROM registrations WHERE ordering = 'fifo' OR rate_limit IS NOT NULL`,
  });
  let admitted = 0;
  for (const { account_name, service_name } of held.rows) {
    admitted += await db.transaction((client) =>
      admitFor(client, { accountName: account_name, serviceName: service_name }, now, horizonMs),
    );
  }
  return admitted;
}

const num = (value: string | number | null) => (value === null ? null : Number(value));

async function admitFor(
  client: Queryable,
  { accountName, serviceName }: RegistrationKey,
  now: number,
  horizonMs: number,
): Promise<number> {
  const locked = await client.query<{ ordering: string; rate_limit: number | null; rate_window_ms: number | null }>({
    name: 'queue_admission_lock',
    text: `SELECT ordering, rate_limit, rate_window_ms FROM registrations
           WHERE account_name = $1 AND service_name = $2 FOR NO KEY UPDATE SKIP LOCKED`,
    values: [accountName, serviceName],
  });
  if (!locked.rows[0]) return 0;
  // Read after the lock, by a statement of its own: its snapshot includes what the instance that held
  // the lock before wrote (read in the locking statement, it could be older).
  const state = await client.query<{ rate_next_at: string | null; fifo_head: string | null }>({
    name: 'queue_admission_state',
    text: 'SELECT rate_next_at, fifo_head FROM registration_state WHERE account_name = $1 AND service_name = $2',
    values: [accountName, serviceName],
  });
  const row = locked.rows[0];
  const r: HeldRegistration = {
    accountName,
    serviceName,
    ordering: row.ordering,
    rateLimit: row.rate_limit,
    rateWindowMs: num(row.rate_window_ms),
    rateNextAt: num(state.rows[0]?.rate_next_at ?? null),
    fifoHead: state.rows[0]?.fifo_head ?? null,
  };
  let fifo: { head: HeadState | undefined; firstHeld: HeldMessage | undefined } | null = null;
  let ready: string[] = [];
  if (r.ordering === 'fifo') {
    let head: HeadState | undefined;
    if (r.fifoHead !== null) {
      const found = await client.query<{ leased: boolean; due_at: string }>({
        name: 'queue_admission_head',
        text: 'SELECT leased, due_at FROM queue WHERE message_id = $1',
        values: [r.fifoHead],
      });
      const q = found.rows[0];
      if (q) {
        const due = Number(q.due_at);
        const held = !q.leased && due >= HELD_DUE_BASE;
        head = {
          status: q.leased ? 'delivering' : 'pending',
          nextAttemptAt: q.leased || held ? null : due,
          heldUntil: held ? due - HELD_DUE_BASE : null,
        };
      }
    }
    let firstHeld: HeldMessage | undefined;
    if (!headIsOpen(head)) {
      const first = await client.query<{ id: string; due_at: string }>({
        name: 'queue_admission_first',
        text: `SELECT q.message_id AS id, q.due_at FROM queue q
                 JOIN messages h ON h.id = q.message_id AND h.part_at = q.part_at
               WHERE q.account_name = $1 AND q.service_name = $2 AND q.due_at >= ${HELD_DUE_BASE}
               ORDER BY h.seq LIMIT 1`,
        values: [accountName, serviceName],
      });
      const f = first.rows[0];
      firstHeld = f && { id: f.id, heldUntil: Number(f.due_at) - HELD_DUE_BASE };
    }
    fifo = { head, firstHeld };
  } else {
    const fit = slotsThatFit(r, now, horizonMs);
    if (fit > 0) {
      const rows = await client.query<{ id: string }>({
        name: 'queue_admission_ready',
        text: `SELECT q.message_id AS id FROM queue q
                 JOIN messages h ON h.id = q.message_id AND h.part_at = q.part_at
               WHERE q.account_name = $1 AND q.service_name = $2 AND q.due_at >= ${HELD_DUE_BASE}
                 AND q.due_at <= ${HELD_DUE_BASE} + $3::bigint
               ORDER BY h.seq LIMIT $4`,
        values: [accountName, serviceName, now, fit],
      });
      ready = rows.rows.map((x) => x.id);
    }
  }
  const plan = admissionPlan({ registration: r, now, horizonMs, fifo, ready });
  let admitted = 0;
  if (plan.admit.length > 0) {
    const result = await client.query({
      name: 'queue_admit',
      text: `UPDATE queue q SET due_at = a.at FROM unnest($1::text[], $2::bigint[]) AS a(id, at)
             WHERE q.message_id = a.id AND NOT q.leased AND q.due_at >= ${HELD_DUE_BASE}`,
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
    `UPDATE queue SET due_at = GREATEST($3::bigint, due_at - ${HELD_DUE_BASE})
     WHERE account_name = $1 AND service_name = $2 AND NOT leased AND due_at >= ${HELD_DUE_BASE}`,
    [accountName, serviceName, now],
  );
  return result.rowCount ?? 0;
}
