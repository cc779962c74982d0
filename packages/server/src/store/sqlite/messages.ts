import type { Database, Statement } from 'better-sqlite3';
import type {
  Attempt,
  AttemptOutcome,
  CallbackMessage,
  ClaimedMessage,
  MessageFilter,
  MessagePage,
  MessageStats,
  MessageStatus,
  MessageStore,
  NewMessage,
  PublishedMessage,
  Registration,
  RegistrationStore,
} from '../types.js';
import { MESSAGE_STATUSES } from '../types.js';
import { unavailableReason } from './availability.js';
import { writeTransaction } from './transaction.js';

interface MessageRow {
  seq: number;
  id: string;
  account_name: string;
  service_name: string;
  payload: string;
  status: MessageStatus;
  attempts: number;
  max_attempts: number;
  next_attempt_at: number | null;
  locked_until: number | null;
  reason: string | null;
  idempotency_key: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

interface AttemptRow {
  message_id: string;
  attempt_number: number;
  started_at: number;
  url: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_excerpt: string | null;
}

interface PublishRequest {
  messages: NewMessage[];
  now: number;
  resolve(results: PublishedMessage[]): void;
  reject(error: unknown): void;
}

const MESSAGE_COLUMNS =
  'seq, id, account_name, service_name, payload, status, attempts, max_attempts, next_attempt_at, locked_until, reason, idempotency_key, created_at, updated_at, delivered_at';

/** Rows deleted per purge transaction, so a large purge never holds the write lock for long. */
const PURGE_CHUNK = 2_000;

function toMessage(row: MessageRow): CallbackMessage {
  return {
    id: row.id,
    accountName: row.account_name,
    serviceName: row.service_name,
    payload: row.payload,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    nextAttemptAt: row.next_attempt_at,
    lockedUntil: row.locked_until,
    reason: row.reason,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deliveredAt: row.delivered_at,
  };
}

function toAttempt(row: AttemptRow): Attempt {
  return {
    messageId: row.message_id,
    attemptNumber: row.attempt_number,
    startedAt: row.started_at,
    url: row.url,
    statusCode: row.status_code,
    latencyMs: row.latency_ms,
    error: row.error,
    responseExcerpt: row.response_excerpt,
  };
}

/** WHERE clause and parameters for a MessageFilter (column names are fixed, values are bound). */
function filterClause(filter: MessageFilter): { where: string[]; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.accountName !== undefined) {
    where.push('account_name = @accountName');
    params.accountName = filter.accountName;
  }
  if (filter.serviceName !== undefined) {
    where.push('service_name = @serviceName');
    params.serviceName = filter.serviceName;
  }
  if (filter.status !== undefined) {
    where.push('status = @status');
    params.status = filter.status;
  }
  if (filter.since !== undefined) {
    where.push('created_at >= @since');
    params.since = filter.since;
  }
  if (filter.until !== undefined) {
    where.push('created_at < @until');
    params.until = filter.until;
  }
  return { where, params };
}

/**
 * Messages and attempts on SQLite. Every multi-row change (publish, claim, complete, replay) runs in
 * one transaction; the claim and ack paths use prepared statements and walk the partial indexes
 * `messages_due` / `messages_lease`, so their cost does not grow with the number of stored messages.
 */
export class SqliteMessageStore implements MessageStore {
  private readonly registrationExists: Statement<[string, string]>;
  private readonly findByIdempotencyKey: Statement<[string]>;
  private readonly insertMessage: Statement;
  private readonly selectExpired: Statement;
  private readonly claimDueRows: Statement;
  private readonly claimOne: Statement;
  private readonly failUnregistered: Statement;
  private readonly insertAttempt: Statement;
  private readonly applyOutcome: Statement;
  private readonly replayOne: Statement;
  private readonly selectMessage: Statement<[string]>;
  private readonly selectAttempts: Statement<[string]>;
  private readonly nextPending: Statement<[]>;
  private readonly nextLease: Statement<[]>;
  private readonly countByStatus: Statement<[]>;
  private readonly purgeMessages: Statement;
  private readonly purgeAttempts: Statement<[string]>;
  private readonly releaseOne: Statement;

  private readonly publishTx: (messages: NewMessage[], now: number) => PublishedMessage[];
  private readonly publishGroupTx: (group: PublishRequest[]) => PublishedMessage[][];
  private publishQueue: PublishRequest[] = [];
  private readonly claimTx: (now: number, limit: number, leaseMs: number) => MessageRow[];
  private readonly completeTx: (outcomes: AttemptOutcome[], now: number) => void;
  private readonly replayTx: (ids: string[], maxAttempts: number, now: number) => string[];
  private readonly releaseTx: (ids: string[], nextAttemptAt: number) => void;

  constructor(
    readonly db: Database,
    readonly registrations: RegistrationStore,
  ) {
    this.registrationExists = db.prepare(
      'SELECT 1 FROM registrations WHERE account_name = ? AND service_name = ?',
    ) as Statement<[string, string]>;
    this.findByIdempotencyKey = db.prepare('SELECT id, status FROM messages WHERE idempotency_key = ?') as Statement<
      [string]
    >;
    this.insertMessage = db.prepare(
      `INSERT INTO messages (id, account_name, service_name, payload, status, attempts, max_attempts,
         next_attempt_at, reason, idempotency_key, created_at, updated_at)
       VALUES (@id, @accountName, @serviceName, @payload, @status, 0, @maxAttempts, @nextAttemptAt, @reason,
         @idempotencyKey, @now, @now)`,
    );
    // Expired leases are rare: they are selected from their partial index, then updated one by one by rowid.
    this.selectExpired = db
      .prepare(
        `SELECT seq FROM messages WHERE status = 'delivering' AND locked_until <= @now
         ORDER BY locked_until LIMIT @limit`,
      )
      .pluck();
    // Due messages are claimed by one statement, some 15% cheaper per message than an UPDATE per row.
    // RETURNING gives no order, so the caller sorts the rows back into due order.
    this.claimDueRows = db.prepare(
      `UPDATE messages SET status = 'delivering', locked_until = @lockedUntil, updated_at = @now
       WHERE seq IN (SELECT seq FROM messages WHERE status = 'pending' AND next_attempt_at <= @now
         ORDER BY next_attempt_at LIMIT @limit)
       RETURNING ${MESSAGE_COLUMNS}`,
    );
    this.claimOne = db.prepare(
      `UPDATE messages SET status = 'delivering', locked_until = @lockedUntil, updated_at = @now
       WHERE seq = @seq
       RETURNING ${MESSAGE_COLUMNS}`,
    );
    this.failUnregistered = db.prepare(
      `UPDATE messages SET status = 'failed', reason = 'no_registration', locked_until = NULL,
         next_attempt_at = NULL, updated_at = @now
       WHERE id = @id AND status = 'delivering'`,
    );
    this.insertAttempt = db.prepare(
      `INSERT OR REPLACE INTO attempts (message_id, attempt_number, started_at, url, status_code, latency_ms, error,
         response_excerpt)
       VALUES (@messageId, @attemptNumber, @startedAt, @url, @statusCode, @latencyMs, @error, @responseExcerpt)`,
    );
    // The attempt always counts; the status only moves while the message is still ours (`delivering`):
    // a message cancelled by deregistration or already re-queued keeps its status.
    this.applyOutcome = db.prepare(
      `UPDATE messages SET
         attempts = MAX(attempts, @attemptNumber),
         next_attempt_at = CASE WHEN status = 'delivering' THEN @nextAttemptAt ELSE next_attempt_at END,
         reason = CASE WHEN status = 'delivering' THEN @reason ELSE reason END,
         delivered_at = CASE WHEN status = 'delivering' AND @status = 'delivered' THEN @now ELSE delivered_at END,
         locked_until = CASE WHEN status = 'delivering' THEN NULL ELSE locked_until END,
         status = CASE WHEN status = 'delivering' THEN @status ELSE status END,
         updated_at = @now
       WHERE id = @id`,
    );
    this.replayOne = db.prepare(
      `UPDATE messages SET status = 'pending', next_attempt_at = @now, locked_until = NULL, reason = NULL,
         max_attempts = attempts + @maxAttempts, updated_at = @now
       WHERE id = @id AND status IN ('failed', 'delivered', 'cancelled')
       RETURNING id`,
    );
    this.releaseOne = db.prepare(
      `UPDATE messages SET status = 'pending', next_attempt_at = @nextAttemptAt, locked_until = NULL
       WHERE id = @id AND status = 'delivering'`,
    );
    this.selectMessage = db.prepare(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ?`) as Statement<[string]>;
    this.selectAttempts = db.prepare(
      'SELECT * FROM attempts WHERE message_id = ? ORDER BY attempt_number',
    ) as Statement<[string]>;
    this.nextPending = db.prepare(
      "SELECT MIN(next_attempt_at) AS at FROM messages WHERE status = 'pending'",
    ) as Statement<[]>;
    this.nextLease = db.prepare(
      "SELECT MIN(locked_until) AS at FROM messages WHERE status = 'delivering'",
    ) as Statement<[]>;
    // Each part reads one partial index instead of scanning the table.
    this.countByStatus = db.prepare(
      `SELECT 'pending' AS status, COUNT(*) AS n FROM messages WHERE status = 'pending'
       UNION ALL SELECT 'delivering', COUNT(*) FROM messages WHERE status = 'delivering'
       UNION ALL SELECT status, COUNT(*) FROM messages WHERE status IN ('delivered', 'failed', 'cancelled')
         GROUP BY status`,
    ) as Statement<[]>;
    this.purgeMessages = db.prepare(
      `DELETE FROM messages WHERE seq IN (
         SELECT seq FROM messages WHERE status IN ('delivered', 'failed', 'cancelled')
           AND status = 'delivered' AND updated_at < @deliveredBefore
         UNION ALL
         SELECT seq FROM messages WHERE status IN ('delivered', 'failed', 'cancelled')
           AND status = 'failed' AND updated_at < @failedBefore
         UNION ALL
         SELECT seq FROM messages WHERE status IN ('delivered', 'failed', 'cancelled')
           AND status = 'cancelled' AND updated_at < @failedBefore
         LIMIT @limit)
       RETURNING id`,
    );
    this.purgeAttempts = db.prepare('DELETE FROM attempts WHERE message_id = ?') as Statement<[string]>;

    this.publishTx = writeTransaction(db, (messages: NewMessage[], now: number) => {
      const registered = new Map<string, boolean>();
      const results: PublishedMessage[] = [];
      for (const m of messages) {
        if (m.idempotencyKey) {
          const earlier = this.findByIdempotencyKey.get(m.idempotencyKey) as
            | { id: string; status: MessageStatus }
            | undefined;
          if (earlier) {
            results.push({ id: earlier.id, status: earlier.status, duplicate: true });
            continue;
          }
        }
        const key = `${m.accountName}\u0000${m.serviceName}`;
        let exists = registered.get(key);
        if (exists === undefined) {
          exists = this.registrationExists.get(m.accountName, m.serviceName) !== undefined;
          registered.set(key, exists);
        }
        const status: MessageStatus = exists ? 'pending' : 'failed';
        this.insertMessage.run({
          id: m.id,
          accountName: m.accountName,
          serviceName: m.serviceName,
          payload: m.payload,
          status,
          maxAttempts: m.maxAttempts,
          nextAttemptAt: exists ? now : null,
          reason: exists ? null : 'no_registration',
          idempotencyKey: m.idempotencyKey ?? null,
          now,
        });
        results.push({ id: m.id, status, duplicate: false });
      }
      return results;
    });

    this.publishGroupTx = writeTransaction(db, (group: PublishRequest[]) =>
      group.map((entry) => this.publishTx(entry.messages, entry.now)),
    );

    this.claimTx = writeTransaction(db, (now: number, limit: number, leaseMs: number) => {
      const rows: MessageRow[] = [];
      const lockedUntil = now + leaseMs;
      // Expired leases are rare (a worker died); the MIN over the lease index tells cheaply whether to look.
      const leaseEnd = (this.nextLease.get() as { at: number | null }).at;
      if (leaseEnd !== null && leaseEnd <= now) {
        for (const seq of this.selectExpired.all({ now, limit }) as number[]) {
          rows.push(this.claimOne.get({ seq, lockedUntil, now }) as MessageRow);
        }
      }
      if (rows.length < limit) {
        const due = this.claimDueRows.all({ now, lockedUntil, limit: limit - rows.length }) as MessageRow[];
        // The order of the due index: by due time, then by insertion.
        due.sort((a, b) => (a.next_attempt_at as number) - (b.next_attempt_at as number) || a.seq - b.seq);
        for (const row of due) rows.push(row);
      }
      return rows;
    });

    this.completeTx = writeTransaction(db, (outcomes: AttemptOutcome[], now: number) => {
      for (const outcome of outcomes) {
        const a = outcome.attempt;
        this.insertAttempt.run(a);
        this.applyOutcome.run({
          id: a.messageId,
          attemptNumber: a.attemptNumber,
          status: outcome.kind === 'retry' ? 'pending' : outcome.kind,
          nextAttemptAt: outcome.kind === 'retry' ? outcome.nextAttemptAt : null,
          reason: outcome.kind === 'failed' ? outcome.reason : outcome.kind === 'retry' ? a.error : null,
          now,
        });
      }
    });

    this.replayTx = writeTransaction(db, (ids: string[], maxAttempts: number, now: number) => {
      const replayed: string[] = [];
      for (const id of ids) {
        if (this.replayOne.get({ id, maxAttempts, now })) replayed.push(id);
      }
      return replayed;
    });

    this.releaseTx = writeTransaction(db, (ids: string[], nextAttemptAt: number) => {
      for (const id of ids) this.releaseOne.run({ id, nextAttemptAt });
    });
  }

  /**
   * Publishes wait for the end of the current event-loop turn and commit together (group commit): at a
   * thousand single publishes a second, one transaction per turn instead of one per request. Each
   * caller still hears back only after the commit that holds its messages.
   */
  publish(messages: NewMessage[], now: number): Promise<PublishedMessage[]> {
    return new Promise((resolve, reject) => {
      this.publishQueue.push({ messages, now, resolve, reject });
      if (this.publishQueue.length === 1) setImmediate(() => this.commitPublishes());
    });
  }

  private commitPublishes(): void {
    const group = this.publishQueue;
    this.publishQueue = [];
    try {
      const results = this.publishGroupTx(group);
      group.forEach((entry, i) => {
        entry.resolve(results[i]);
      });
    } catch (error) {
      // A lock held elsewhere or a full disk fails every one of them alike: no point trying each.
      if (unavailableReason(error) !== null) {
        for (const entry of group) entry.reject(error);
        return;
      }
      // One bad publish must not fail the others: commit them one by one to find out which.
      for (const entry of group) {
        try {
          entry.resolve(this.publishTx(entry.messages, entry.now));
        } catch (error) {
          entry.reject(error);
        }
      }
    }
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
    if (limit <= 0) return [];
    const rows = this.claimTx(now, limit, leaseMs);
    if (rows.length === 0) return [];
    // One registration lookup per (account, service) in the batch, not per message.
    const registrations = new Map<string, Promise<Registration | null>>();
    const claimed: ClaimedMessage[] = [];
    const unregistered: string[] = [];
    for (const row of rows) {
      const key = `${row.account_name}\u0000${row.service_name}`;
      let lookup = registrations.get(key);
      if (!lookup) {
        lookup = this.registrations.get(row.account_name, row.service_name);
        registrations.set(key, lookup);
      }
      const registration = await lookup;
      if (registration) claimed.push({ message: toMessage(row), registration });
      else unregistered.push(row.id);
    }
    // Only a replay can queue a message whose registration is gone; it fails again, still replayable.
    if (unregistered.length > 0) {
      writeTransaction(this.db, () => {
        for (const id of unregistered) this.failUnregistered.run({ id, now });
      })();
    }
    return claimed;
  }

  async complete(outcomes: AttemptOutcome[], now: number): Promise<void> {
    if (outcomes.length > 0) this.completeTx(outcomes, now);
  }

  /** Hands claimed messages back unattempted (pending again at `nextAttemptAt`); see MessageStore.release. */
  async release(ids: string[], nextAttemptAt: number): Promise<void> {
    if (ids.length > 0) this.releaseTx(ids, nextAttemptAt);
  }

  async nextDueAt(): Promise<number | null> {
    const pending = (this.nextPending.get() as { at: number | null }).at;
    const lease = (this.nextLease.get() as { at: number | null }).at;
    if (pending === null) return lease;
    if (lease === null) return pending;
    return Math.min(pending, lease);
  }

  async get(id: string): Promise<{ message: CallbackMessage; attempts: Attempt[] } | null> {
    const row = this.selectMessage.get(id) as MessageRow | undefined;
    if (!row) return null;
    return { message: toMessage(row), attempts: (this.selectAttempts.all(id) as AttemptRow[]).map(toAttempt) };
  }

  async list(filter: MessageFilter, limit: number, cursor: string | null): Promise<MessagePage> {
    const { where, params } = filterClause(filter);
    if (cursor !== null) {
      const seq = Number(cursor);
      if (!Number.isSafeInteger(seq)) throw new RangeError(`invalid cursor "${cursor}"`);
      where.push('seq < @cursor');
      params.cursor = seq;
    }
    params.limit = limit + 1;
    const sql = `SELECT ${MESSAGE_COLUMNS} FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq DESC LIMIT @limit`;
    const rows = this.db.prepare(sql).all(params) as MessageRow[];
    const more = rows.length > limit;
    if (more) rows.pop();
    return { items: rows.map(toMessage), nextCursor: more ? String(rows[rows.length - 1].seq) : null };
  }

  async stats(now: number): Promise<MessageStats> {
    const counts = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as Record<MessageStatus, number>;
    for (const row of this.countByStatus.all() as { status: MessageStatus; n: number }[]) counts[row.status] = row.n;
    const oldestDue = (this.nextPending.get() as { at: number | null }).at;
    return {
      counts,
      queueDepth: counts.pending + counts.delivering,
      oldestDueAgeMs: oldestDue !== null && oldestDue <= now ? now - oldestDue : 0,
    };
  }

  async replay(ids: string[], maxAttempts: number, now: number): Promise<string[]> {
    return ids.length > 0 ? this.replayTx(ids, maxAttempts, now) : [];
  }

  async findIds(filter: MessageFilter, limit: number, afterId: string | null): Promise<string[]> {
    const { where, params } = filterClause(filter);
    if (afterId !== null) {
      where.push('seq > (SELECT seq FROM messages WHERE id = @afterId)');
      params.afterId = afterId;
    }
    params.limit = limit;
    const sql = `SELECT id FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq LIMIT @limit`;
    return (this.db.prepare(sql).pluck().all(params) as string[]).slice();
  }

  async purge(deliveredBefore: number, failedBefore: number): Promise<number> {
    const chunk = writeTransaction(this.db, () => {
      const ids = this.purgeMessages.pluck().all({ deliveredBefore, failedBefore, limit: PURGE_CHUNK }) as string[];
      for (const id of ids) this.purgeAttempts.run(id);
      return ids.length;
    });
    let total = 0;
    for (;;) {
      const n = chunk();
      total += n;
      if (n < PURGE_CHUNK) return total;
      // Let other work (claims, publishes) in between chunks.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
