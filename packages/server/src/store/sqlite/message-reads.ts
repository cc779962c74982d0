import type { Database, Statement } from 'better-sqlite3';
import { MESSAGE_STATUSES } from '../../domain/statuses.js';
import { decodeSeqCursor, encodeSeqCursor } from '../cursor.js';
import {
  type AttemptRow,
  FINAL_STATUSES_SQL,
  MESSAGE_COLUMNS,
  type MessageRow,
  messageFilterTerms,
  toAttempt,
  toMessage,
} from '../rows.js';
import type {
  Attempt,
  CallbackMessage,
  MessageFilter,
  MessagePage,
  MessageStats,
  MessageStatus,
  MessageTarget,
  OpenMessageStats,
} from '../types.js';

/** The first attempt as its message's row holds it (migration 6); first_started_at is null when none is. */
interface FirstAttemptColumns {
  first_started_at: number | null;
  first_url: string | null;
  first_status_code: number | null;
  first_latency_ms: number | null;
  first_error_kind: string | null;
  first_error: string | null;
  first_response_excerpt: string | null;
}

const FIRST_ATTEMPT_COLUMNS =
  'first_started_at, first_url, first_status_code, first_latency_ms, first_error_kind, first_error, first_response_excerpt';

function firstAttempt(id: string, row: FirstAttemptColumns): Attempt | null {
  if (row.first_started_at === null) return null;
  return {
    messageId: id,
    attemptNumber: 1,
    startedAt: row.first_started_at,
    url: row.first_url as string,
    statusCode: row.first_status_code,
    latencyMs: row.first_latency_ms as number,
    errorKind: row.first_error_kind,
    error: row.first_error,
    responseExcerpt: row.first_response_excerpt,
  };
}

/** The filter's WHERE terms (rows.ts) and SQLite's own for a payload field; values go into `params`. */
function filterTerms(filter: MessageFilter, params: Record<string, unknown>): string[] {
  const where = messageFilterTerms(filter, (name, value) => {
    params[name] = value;
    return `@${name}`;
  });
  if (filter.payloadField !== undefined) {
    // json_extract gives 1/0 for booleans: the JSON type names them as PostgreSQL's ->> does.
    where.push(
      `(CASE json_type(payload, @payloadPath) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
        ELSE CAST(json_extract(payload, @payloadPath) AS TEXT) END) = @payloadValue`,
    );
    params.payloadPath = `$.${JSON.stringify(filter.payloadField.name)}`;
    params.payloadValue = filter.payloadField.value;
  }
  return where;
}

/** Reading messages on SQLite: one with its attempts, pages of a filter, ids for a bulk replay, counts. */
export class SqliteMessageReads {
  private readonly selectMessage: Statement<[string]>;
  private readonly selectAttempts: Statement<[string]>;
  private readonly countByStatus: Statement<[]>;
  private readonly nextPending: Statement<[]>;
  private readonly countOpen: Statement<[]>;
  private readonly selectTargets: Statement<[string]>;

  constructor(private readonly db: Database) {
    this.selectMessage = db.prepare(
      `SELECT ${MESSAGE_COLUMNS}, ${FIRST_ATTEMPT_COLUMNS} FROM messages WHERE id = ?`,
    ) as Statement<[string]>;
    this.selectAttempts = db.prepare(
      'SELECT * FROM attempts WHERE message_id = ? ORDER BY attempt_number',
    ) as Statement<[string]>;
    this.nextPending = db.prepare(
      "SELECT MIN(next_attempt_at) AS at FROM messages WHERE status = 'pending'",
    ) as Statement<[]>;
    // The partial indexes of pending and delivering messages only: no finished row is read.
    this.countOpen = db.prepare(
      `SELECT (SELECT COUNT(*) FROM messages WHERE status = 'pending') AS pending,
              (SELECT COUNT(*) FROM messages WHERE status = 'delivering') AS delivering,
              (SELECT MIN(next_attempt_at) FROM messages WHERE status = 'pending') AS oldest`,
    ) as Statement<[]>;
    this.selectTargets = db.prepare(
      `SELECT id, account_name AS accountName, service_name AS serviceName FROM messages
       WHERE id IN (SELECT value FROM json_each(?))`,
    ) as Statement<[string]>;
    // Each part reads one partial index instead of scanning the table.
    this.countByStatus = db.prepare(
      `SELECT 'pending' AS status, COUNT(*) AS n FROM messages WHERE status = 'pending'
       UNION ALL SELECT 'delivering', COUNT(*) FROM messages WHERE status = 'delivering'
       UNION ALL SELECT status, COUNT(*) FROM messages WHERE status IN (${FINAL_STATUSES_SQL})
         GROUP BY status`,
    ) as Statement<[]>;
  }

  async get(id: string): Promise<{ message: CallbackMessage; attempts: Attempt[] } | null> {
    const row = this.selectMessage.get(id) as (MessageRow & FirstAttemptColumns) | undefined;
    if (!row) return null;
    const attempts = (this.selectAttempts.all(id) as AttemptRow[]).map(toAttempt);
    const first = firstAttempt(id, row);
    // Attempt 1 of a message stored before migration 6 is a row of attempts; the row's own is newer.
    if (first) return { message: toMessage(row), attempts: [first, ...attempts.filter((a) => a.attemptNumber !== 1)] };
    return { message: toMessage(row), attempts };
  }
  async list(filter: MessageFilter, limit: number, cursor: string | null): Promise<MessagePage> {
    const params: Record<string, unknown> = {};
    const where = filterTerms(filter, params);
    if (cursor !== null) {
      where.push('seq < @cursor');
      params.cursor = Number(decodeSeqCursor(cursor));
    }
    params.limit = limit + 1;
    const sql = `SELECT ${MESSAGE_COLUMNS} FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq DESC LIMIT @limit`;
    const rows = this.db.prepare(sql).all(params) as MessageRow[];
    const more = rows.length > limit;
    if (more) rows.pop();
    return { items: rows.map(toMessage), nextCursor: more ? encodeSeqCursor(rows[rows.length - 1].seq) : null };
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
  async openStats(now: number): Promise<OpenMessageStats> {
    const row = this.countOpen.get() as { pending: number; delivering: number; oldest: number | null };
    return {
      pending: row.pending,
      delivering: row.delivering,
      oldestDueAgeMs: row.oldest !== null && row.oldest <= now ? now - row.oldest : 0,
    };
  }
  async targetsOf(ids: string[]): Promise<MessageTarget[]> {
    if (ids.length === 0) return [];
    return this.selectTargets.all(JSON.stringify(ids)) as MessageTarget[];
  }
  async findIds(filter: MessageFilter, limit: number, afterId: string | null): Promise<string[]> {
    const params: Record<string, unknown> = {};
    const where = filterTerms(filter, params);
    if (afterId !== null) {
      where.push('seq > (SELECT seq FROM messages WHERE id = @afterId)');
      params.afterId = afterId;
    }
    params.limit = limit;
    const sql = `SELECT id FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq LIMIT @limit`;
    return (this.db.prepare(sql).pluck().all(params) as string[]).slice();
  }
}
