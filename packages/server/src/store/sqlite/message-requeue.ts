import type { Database, Statement } from 'better-sqlite3';
import type { MessageStatus } from '../types.js';
import { writeTransaction } from './transaction.js';

/** Replays and cancellations on SQLite: messages made due again, open messages cancelled. */
export class SqliteMessageRequeue {
  private readonly requeueOne: Statement;
  private readonly cancelOpenRows: Statement;
  private readonly requeueTx: (ids: string[], from: string, extraAttempts: number, now: number) => string[];

  constructor(db: Database) {
    this.requeueOne = db.prepare(
      // A message of a held registration (FIFO or rate limit) is held again rather than due at once.
      `UPDATE messages SET status = 'pending', locked_until = NULL, reason = NULL, held_until = NULL,
         next_attempt_at = CASE WHEN EXISTS (SELECT 1 FROM registrations r WHERE r.account_name = messages.account_name
             AND r.service_name = messages.service_name AND (r.ordering = 'fifo' OR r.rate_limit IS NOT NULL))
           THEN NULL ELSE @now END,
         max_attempts = attempts + @extraAttempts, updated_at = @now
       WHERE id = @id AND status IN (SELECT value FROM json_each(@from))
       RETURNING id`,
    );
    // The open messages are found through the partial indexes of the queue, so the cost grows with the
    // backlog, not with the account's history (messages_account would walk every message it has kept).
    this.cancelOpenRows = db.prepare(
      `UPDATE messages SET status = 'cancelled', reason = @reason, updated_at = @now,
         next_attempt_at = NULL, locked_until = NULL
       WHERE seq IN (
         SELECT seq FROM messages INDEXED BY messages_due
           WHERE status = 'pending' AND account_name = @accountName AND service_name = @serviceName
         UNION ALL
         SELECT seq FROM messages INDEXED BY messages_lease
           WHERE status = 'delivering' AND account_name = @accountName AND service_name = @serviceName)`,
    );
    this.requeueTx = writeTransaction(db, (ids: string[], from: string, extraAttempts: number, now: number) => {
      const requeued: string[] = [];
      for (const id of ids) {
        if (this.requeueOne.get({ id, from, extraAttempts, now })) requeued.push(id);
      }
      return requeued;
    });
  }

  async requeue(ids: string[], from: readonly MessageStatus[], extraAttempts: number, now: number): Promise<string[]> {
    return ids.length > 0 ? this.requeueTx(ids, JSON.stringify(from), extraAttempts, now) : [];
  }
  async cancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<number> {
    return this.cancelOpenNow(accountName, serviceName, reason, now);
  }
  /** `cancelOpen` without a promise, for a transaction of another store (a deregistration). */
  cancelOpenNow(accountName: string, serviceName: string, reason: string, now: number): number {
    return this.cancelOpenRows.run({ accountName, serviceName, reason, now }).changes;
  }
}
