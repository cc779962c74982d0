import type { Database, Statement } from 'better-sqlite3';
import {
  admissionPlan,
  type HeadState,
  type HeldMessage,
  type HeldRegistration,
  headIsOpen,
  slotsThatFit,
} from '../admission.js';
import type { MessageStatus } from '../types.js';
import { writeTransaction } from './transaction.js';

/** A registration whose messages are held until admitted (FIFO or a rate limit). */
interface HeldRegistrationRow {
  account_name: string;
  service_name: string;
  ordering: string;
  rate_limit: number | null;
  rate_window_ms: number | null;
  rate_next_at: number | null;
  fifo_head: string | null;
}

/**
 * Delivery controls on SQLite: held messages of FIFO and rate-limited registrations admitted (the
 * plan of store/admission.ts, one transaction for every registration), and a disabled registration's
 * pending messages failed.
 */
export class SqliteMessageAdmission {
  private readonly failPendingRows: Statement;
  private readonly releaseHeldRows: Statement;
  private readonly heldRegistrations: Statement<[], HeldRegistrationRow>;
  private readonly headState: Statement<
    [string],
    { status: MessageStatus; next_attempt_at: number | null; held_until: number | null }
  >;
  private readonly firstHeld: Statement;
  private readonly readyHeld: Statement;
  private readonly admitOne: Statement;
  private readonly saveAdmission: Statement;
  private readonly admitTx: (now: number, horizonMs: number) => number;

  constructor(db: Database) {
    this.failPendingRows = db.prepare(
      `UPDATE messages SET status = 'failed', reason = @reason, updated_at = @now, next_attempt_at = NULL,
         held_until = NULL
       WHERE seq IN (SELECT seq FROM messages INDEXED BY messages_due
         WHERE status = 'pending' AND account_name = @accountName AND service_name = @serviceName)`,
    );
    this.releaseHeldRows = db.prepare(
      `UPDATE messages SET next_attempt_at = MAX(@now, COALESCE(held_until, @now)), held_until = NULL
       WHERE seq IN (SELECT seq FROM messages INDEXED BY messages_held
         WHERE status = 'pending' AND next_attempt_at IS NULL AND account_name = @accountName
           AND service_name = @serviceName)`,
    );
    this.heldRegistrations = db.prepare(
      `SELECT account_name, service_name, ordering, rate_limit, rate_window_ms, rate_next_at, fifo_head
       FROM registrations WHERE ordering = 'fifo' OR rate_limit IS NOT NULL`,
    ) as Statement<[], HeldRegistrationRow>;
    this.headState = db.prepare('SELECT status, next_attempt_at, held_until FROM messages WHERE id = ?') as Statement<
      [string],
      { status: MessageStatus; next_attempt_at: number | null; held_until: number | null }
    >;
    this.firstHeld = db.prepare(
      `SELECT id, held_until FROM messages INDEXED BY messages_held
       WHERE status = 'pending' AND next_attempt_at IS NULL AND account_name = ? AND service_name = ?
       ORDER BY seq LIMIT 1`,
    );
    this.readyHeld = db
      .prepare(
        `SELECT id FROM messages INDEXED BY messages_held
         WHERE status = 'pending' AND next_attempt_at IS NULL AND account_name = ? AND service_name = ?
           AND (held_until IS NULL OR held_until <= ?)
         ORDER BY seq LIMIT ?`,
      )
      .pluck();
    this.admitOne = db.prepare(
      `UPDATE messages SET next_attempt_at = ?, held_until = NULL
       WHERE id = ? AND status = 'pending' AND next_attempt_at IS NULL`,
    );
    this.saveAdmission = db.prepare(
      'UPDATE registrations SET rate_next_at = ?, fifo_head = ? WHERE account_name = ? AND service_name = ?',
    );
    this.admitTx = writeTransaction(db, (now: number, horizonMs: number) => {
      let admitted = 0;
      for (const row of this.heldRegistrations.all()) {
        const r: HeldRegistration = {
          accountName: row.account_name,
          serviceName: row.service_name,
          ordering: row.ordering,
          rateLimit: row.rate_limit,
          rateWindowMs: row.rate_window_ms,
          rateNextAt: row.rate_next_at,
          fifoHead: row.fifo_head,
        };
        let fifo: { head: HeadState | undefined; firstHeld: HeldMessage | undefined } | null = null;
        let ready: string[] = [];
        if (r.ordering === 'fifo') {
          const state = r.fifoHead === null ? undefined : this.headState.get(r.fifoHead);
          const head = state && {
            status: state.status,
            nextAttemptAt: state.next_attempt_at,
            heldUntil: state.held_until,
          };
          const first = headIsOpen(head)
            ? undefined
            : (this.firstHeld.get(r.accountName, r.serviceName) as
                | { id: string; held_until: number | null }
                | undefined);
          fifo = { head, firstHeld: first && { id: first.id, heldUntil: first.held_until } };
        } else {
          const fit = slotsThatFit(r, now, horizonMs);
          if (fit > 0) ready = this.readyHeld.all(r.accountName, r.serviceName, now, fit) as string[];
        }
        const plan = admissionPlan({ registration: r, now, horizonMs, fifo, ready });
        for (const { id, at } of plan.admit) admitted += this.admitOne.run(at, id).changes;
        if (plan.rateNextAt !== r.rateNextAt || plan.fifoHead !== r.fifoHead) {
          this.saveAdmission.run(plan.rateNextAt, plan.fifoHead, r.accountName, r.serviceName);
        }
      }
      return admitted;
    });
  }

  async admitHeld(now: number, horizonMs: number): Promise<number> {
    return this.admitTx(now, horizonMs);
  }

  async releaseHeld(accountName: string, serviceName: string, now: number): Promise<number> {
    return this.releaseHeldRows.run({ accountName, serviceName, now }).changes;
  }

  async failPending(accountName: string, serviceName: string, reason: string, now: number): Promise<number> {
    return this.failPendingRows.run({ accountName, serviceName, reason, now }).changes;
  }
}
