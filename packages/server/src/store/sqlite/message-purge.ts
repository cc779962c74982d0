import type { Database, Statement } from 'better-sqlite3';
import { FINAL_STATUSES_SQL } from '../rows.js';
import type { PurgeCutoffs } from '../types.js';
import { writeTransaction } from './transaction.js';

/** What a purge needs to know of a deleted message to delete what belongs to it. */
interface PurgedRow {
  id: string;
  attempts: number;
  first_in_row: 0 | 1;
  keyed: 0 | 1;
}

/** Rows deleted per purge transaction, so a large purge never holds the write lock for long. */
const PURGE_CHUNK = 2_000;

/** Retention on SQLite: finished messages past their cutoff, with their attempts and keys, in chunks. */
export class SqliteMessagePurge {
  private readonly purgeMessages: Statement;
  private readonly purgeAttempts: Statement<[string]>;
  private readonly purgeMessageKeys: Statement<[string]>;
  private readonly purgeExpiredKeys: Statement;

  constructor(private readonly db: Database) {
    this.purgeMessages = db.prepare(
      `DELETE FROM messages WHERE seq IN (
         SELECT seq FROM messages WHERE status IN (${FINAL_STATUSES_SQL})
           AND status = 'delivered' AND updated_at < @deliveredBefore
         UNION ALL
         SELECT seq FROM messages WHERE status IN (${FINAL_STATUSES_SQL})
           AND status = 'failed' AND updated_at < @failedBefore
         UNION ALL
         SELECT seq FROM messages WHERE status IN (${FINAL_STATUSES_SQL})
           AND status = 'cancelled' AND updated_at < @failedBefore
         LIMIT @limit)
       RETURNING id, attempts, first_started_at IS NOT NULL AS first_in_row, idempotency_key IS NOT NULL AS keyed`,
    );
    this.purgeAttempts = db.prepare('DELETE FROM attempts WHERE message_id = ?') as Statement<[string]>;
    this.purgeMessageKeys = db.prepare('DELETE FROM idempotency_keys WHERE message_id = ?') as Statement<[string]>;
    this.purgeExpiredKeys = db.prepare(
      `DELETE FROM idempotency_keys WHERE rowid IN (
         SELECT rowid FROM idempotency_keys WHERE expires_at <= @now LIMIT @limit)`,
    );
  }

  async purge(cutoffs: PurgeCutoffs): Promise<number> {
    const { deliveredBefore, failedBefore, keysExpiredBy } = cutoffs;
    const chunk = writeTransaction(this.db, () => {
      const rows = this.purgeMessages.all({ deliveredBefore, failedBefore, limit: PURGE_CHUNK }) as PurgedRow[];
      for (const row of rows) {
        // Most messages have no attempt row (only the first attempt, kept in their own row) and no key.
        if (row.attempts > 1 || (row.attempts === 1 && row.first_in_row === 0)) this.purgeAttempts.run(row.id);
        if (row.keyed === 1) this.purgeMessageKeys.run(row.id);
      }
      return rows.length;
    });
    const keyChunk = writeTransaction(
      this.db,
      () => this.purgeExpiredKeys.run({ now: keysExpiredBy, limit: PURGE_CHUNK }).changes,
    );
    let total = 0;
    for (;;) {
      const n = chunk();
      total += n;
      if (n < PURGE_CHUNK) break;
      // Let other work (claims, publishes) in between chunks.
      await new Promise((resolve) => setImmediate(resolve));
    }
    while (keyChunk() === PURGE_CHUNK) await new Promise((resolve) => setImmediate(resolve));
    return total;
  }
}
