import type { Database, Statement } from 'better-sqlite3';
import { TurnGroups, type Waiting } from '../../common/turn-groups.js';
import type { IdempotencyRecord, MessageInsert, MessageStatus } from '../types.js';
import { IdempotencyKeyTakenError } from '../types.js';
import { unavailableReason } from './availability.js';
import { writeTransaction } from './transaction.js';

/** One publish's rows and its time, waiting for the group commit of its turn. */
interface InsertRequest {
  messages: MessageInsert[];
  now: number;
}

/** Publishing on SQLite: message rows and idempotency keys, committed a turn of the event loop at a time. */
export class SqliteMessageInserts {
  private readonly insertMessage: Statement;
  private readonly claimKey: Statement;
  private readonly findKey: Statement;
  private readonly registrationExists: Statement;
  private readonly insertTx: (messages: MessageInsert[], now: number) => string[];
  private readonly insertGroupTx: (group: Waiting<InsertRequest, string[]>[]) => string[][];
  private readonly inserts = new TurnGroups<InsertRequest, string[]>(async (group) => this.commitInserts(group), 1);

  constructor(db: Database) {
    this.insertMessage = db.prepare(
      `INSERT INTO messages (id, account_name, service_name, payload, status, attempts, max_attempts,
         next_attempt_at, locked_until, reason, idempotency_key, created_at, updated_at)
       VALUES (@id, @accountName, @serviceName, @payload, @status, 0, @maxAttempts, @nextAttemptAt, @lockedUntil,
         @reason, @idempotencyKey, @now, @now)`,
    );
    // A key row is taken when absent or expired; a live one stays (no change: the caller is told).
    this.claimKey = db.prepare(
      `INSERT INTO idempotency_keys (account_name, service_name, idempotency_key, message_id, fingerprint, expires_at)
       VALUES (@accountName, @serviceName, @key, @messageId, @fingerprint, @expiresAt)
       ON CONFLICT (account_name, service_name, idempotency_key) DO UPDATE SET message_id = excluded.message_id,
         fingerprint = excluded.fingerprint, expires_at = excluded.expires_at
       WHERE idempotency_keys.expires_at <= @now`,
    );
    this.findKey = db.prepare(
      `SELECT k.message_id, k.fingerprint, m.status FROM idempotency_keys k JOIN messages m ON m.id = k.message_id
       WHERE k.account_name = ? AND k.service_name = ? AND k.idempotency_key = ? AND k.expires_at > ?`,
    );
    this.registrationExists = db.prepare('SELECT 1 FROM registrations WHERE account_name = ? AND service_name = ?');
    this.insertTx = writeTransaction(db, (messages: MessageInsert[], now: number) => {
      const refused: string[] = [];
      for (const m of messages) {
        // Checked in this write transaction: no removal can come between the check and the row.
        if (m.requireRegistration && !this.registrationExists.get(m.accountName, m.serviceName)) {
          refused.push(m.id);
          continue;
        }
        this.insertMessage.run({
          id: m.id,
          accountName: m.accountName,
          serviceName: m.serviceName,
          payload: m.payload,
          status: m.status,
          maxAttempts: m.maxAttempts,
          nextAttemptAt: m.nextAttemptAt,
          lockedUntil: m.lockedUntil ?? null,
          reason: m.reason,
          idempotencyKey: m.idempotency?.key ?? null,
          now,
        });
        if (m.idempotency) {
          const taken = this.claimKey.run({
            accountName: m.accountName,
            serviceName: m.serviceName,
            key: m.idempotency.key,
            messageId: m.id,
            fingerprint: m.idempotency.fingerprint,
            expiresAt: m.idempotency.expiresAt,
            now,
          });
          if (taken.changes === 0) {
            throw new IdempotencyKeyTakenError(`idempotency key "${m.idempotency.key}" is held by another message`);
          }
        }
      }
      return refused;
    });
    this.insertGroupTx = writeTransaction(db, (group: Waiting<InsertRequest, string[]>[]) =>
      group.map(({ input }) => this.insertTx(input.messages, input.now)),
    );
  }

  /**
   * Inserts wait for the end of the current event-loop turn and commit together (group commit): at a
   * thousand single publishes a second, one transaction per turn instead of one per request. Each
   * caller still hears back only after the commit that holds its messages.
   */
  insert(messages: MessageInsert[], now: number): Promise<string[]> {
    return this.inserts.add({ messages, now });
  }
  private commitInserts(group: Waiting<InsertRequest, string[]>[]): void {
    try {
      const refused = this.insertGroupTx(group);
      for (const [i, entry] of group.entries()) entry.resolve(refused[i]);
    } catch (error) {
      // A lock held elsewhere or a full disk fails every one of them alike: no point trying each.
      if (unavailableReason(error) !== null) {
        for (const entry of group) entry.reject(error);
        return;
      }
      // One bad insert must not fail the others: commit them one by one to find out which.
      for (const entry of group) {
        try {
          entry.resolve(this.insertTx(entry.input.messages, entry.input.now));
        } catch (error) {
          entry.reject(error);
        }
      }
    }
  }
  async findIdempotencyKeys(
    keys: { accountName: string; serviceName: string; key: string }[],
    now: number,
  ): Promise<(IdempotencyRecord | null)[]> {
    return keys.map((k) => {
      const row = this.findKey.get(k.accountName, k.serviceName, k.key, now) as
        | { message_id: string; fingerprint: string | null; status: MessageStatus }
        | undefined;
      return row ? { ...k, messageId: row.message_id, fingerprint: row.fingerprint, status: row.status } : null;
    });
  }
}
