import { TurnGroups, type Waiting } from '../../common/turn-groups.js';
import { MESSAGE_STATUSES } from '../../domain/statuses.js';
import { decodeSeqCursor, encodeSeqCursor } from '../cursor.js';
import { StoreUnavailableError } from '../errors.js';
import {
  type Attempt,
  type CallbackMessage,
  IdempotencyKeyTakenError,
  type IdempotencyRecord,
  type MessageChange,
  type MessageFilter,
  type MessageInsert,
  type MessagePage,
  type MessageStats,
  type MessageStatus,
  type MessageStore,
  type MessageTarget,
  type OpenMessageStats,
  type PurgeCutoffs,
} from '../types.js';
import type { Database, Queryable } from './database.js';

/** The channel that tells idle workers of every instance that messages became due. */
export const PUBLISHED_CHANNEL = 'ccb_published';

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
  error_kind: string | null;
  error: string | null;
  response_excerpt: string | null;
}

const MESSAGE_COLUMNS =
  'seq, id, account_name, service_name, payload, status, attempts, max_attempts, next_attempt_at, locked_until, reason, idempotency_key, created_at, updated_at, delivered_at';
/** Rows deleted per purge statement, so a large purge never holds many locks for long. */
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
    errorKind: row.error_kind,
    error: row.error,
    responseExcerpt: row.response_excerpt,
  };
}

/** WHERE terms for a MessageFilter; values are appended to `values` and bound by position. */
function filterClause(filter: MessageFilter, values: unknown[]): string[] {
  const where: string[] = [];
  const bind = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  if (filter.accountName !== undefined) where.push(`account_name = ${bind(filter.accountName)}`);
  if (filter.serviceName !== undefined) where.push(`service_name = ${bind(filter.serviceName)}`);
  if (filter.status !== undefined) where.push(`status = ${bind(filter.status)}`);
  if (filter.since !== undefined) where.push(`created_at >= ${bind(filter.since)}`);
  if (filter.until !== undefined) where.push(`created_at < ${bind(filter.until)}`);
  if (filter.id !== undefined) where.push(`id = ${bind(filter.id)}`);
  if (filter.reasonKind !== undefined) {
    where.push(`(reason = ${bind(filter.reasonKind)} OR starts_with(reason, ${bind(`${filter.reasonKind}: `)}))`);
  }
  if (filter.payloadField !== undefined) {
    const { name, value } = filter.payloadField;
    where.push(`(payload::jsonb ->> ${bind(name)}) = ${bind(value)}`);
  }
  return where;
}

/** One row per message; created_at and updated_at come per row, as a group holds several publishes. */
const INSERT_MESSAGES = `INSERT INTO messages (id, account_name, service_name, payload, status, attempts, max_attempts,
    next_attempt_at, locked_until, reason, idempotency_key, created_at, updated_at)
  SELECT id, account_name, service_name, payload, status, 0, max_attempts, next_attempt_at, locked_until, reason,
    idempotency_key, now, now
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[], $8::text[], $9::text[],
      $10::bigint[], $11::bigint[])
    WITH ORDINALITY AS m(id, account_name, service_name, payload, status, max_attempts, next_attempt_at, reason,
      idempotency_key, now, locked_until, n)
  ORDER BY n`;

/**
 * A key row is taken when absent or expired by $18 (the group's earliest publish time); a live one is
 * left, and the caller counts the rows taken. Its parameters follow those of INSERT_MESSAGES.
 */
const TAKE_KEYS = `INSERT INTO idempotency_keys (account_name, service_name, idempotency_key, message_id, fingerprint, expires_at)
  SELECT * FROM unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[])
  ON CONFLICT (account_name, service_name, idempotency_key) DO UPDATE SET message_id = excluded.message_id,
    fingerprint = excluded.fingerprint, expires_at = excluded.expires_at
  WHERE idempotency_keys.expires_at <= $18
  RETURNING 1`;

/** A publish waiting for the next group commit: its rows and their publish time. */
interface InsertRequest {
  messages: MessageInsert[];
  now: number;
}

/**
 * Group commits in flight at once: two keep one commit's wait for the disk overlapping the next
 * group's statement; publishes arriving meanwhile go together in the group after.
 */
const INSERT_COMMITS_IN_FLIGHT = 2;
/** Rows per group commit at most (a batch publish holds up to 1,000), so one statement stays a few MB. */
const INSERT_GROUP_ROWS = 5_000;

/** The insert statement's arrays for a group of publishes (each row with its own publish time). */
function insertValues(group: readonly InsertRequest[]): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 11 }, () => []);
  for (const { messages, now } of group) {
    for (const m of messages) {
      columns[0].push(m.id);
      columns[1].push(m.accountName);
      columns[2].push(m.serviceName);
      columns[3].push(m.payload);
      columns[4].push(m.status);
      columns[5].push(m.maxAttempts);
      columns[6].push(m.nextAttemptAt);
      columns[7].push(m.reason);
      columns[8].push(m.idempotency?.key ?? null);
      columns[9].push(now);
      columns[10].push(m.lockedUntil ?? null);
    }
  }
  return columns;
}

/**
 * Messages and attempts on PostgreSQL. Publishes that arrive in the same turn of the event loop
 * commit together (group commit, one multi-row INSERT); claims take due rows with FOR UPDATE SKIP
 * LOCKED, so any number of workers in any number of processes claim disjoint batches; outcomes of a
 * batch are one statement over arrays (unnest); publishes and replays NOTIFY PUBLISHED_CHANNEL in the
 * same commit.
 */
export class PostgresMessageStore implements MessageStore {
  /**
   * Inserts wait for the end of the current event-loop turn and commit with every other insert of
   * that turn (one transaction, one INSERT). Each caller hears back only after the commit that holds
   * its messages; an insert that fails the group (say, a key taken meanwhile) is told alone, and the
   * others commit without it.
   */
  private readonly inserts = new TurnGroups<InsertRequest, void>(
    (group) => this.commitInserts(group),
    INSERT_COMMITS_IN_FLIGHT,
    INSERT_GROUP_ROWS,
    (request) => request.messages.length,
  );

  constructor(private readonly db: Database) {}

  insert(messages: MessageInsert[], now: number): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return this.inserts.add({ messages, now });
  }

  private async commitInserts(group: Waiting<InsertRequest, void>[]): Promise<void> {
    try {
      await this.insertGroup(group.map((entry) => entry.input));
    } catch (error) {
      // Out of reach fails every one of them alike; otherwise one bad insert must not fail the
      // others: each commits on its own to find out which.
      if (group.length === 1 || error instanceof StoreUnavailableError) throw error;
      await Promise.all(
        group.map((entry) =>
          this.insertGroup([entry.input]).then(
            () => entry.resolve(),
            (alone: unknown) => entry.reject(alone),
          ),
        ),
      );
      return;
    }
    for (const entry of group) entry.resolve();
  }

  /** One commit for the group: the rows, their keys, and the wake-up of idle workers when something is due. */
  private async insertGroup(group: readonly InsertRequest[]): Promise<void> {
    const values = insertValues(group);
    const due = group.some((entry) => entry.messages.some((m) => m.status === 'pending'));
    const keyed: MessageInsert[] = [];
    for (const { messages } of group) for (const m of messages) if (m.idempotency !== null) keyed.push(m);
    if (keyed.length === 0) {
      // One round trip, autocommit: the insert and, when something is due, the notification.
      await this.db.query({
        name: due ? 'messages_insert_group_notify' : 'messages_insert_group',
        text: due
          ? `WITH inserted AS (${INSERT_MESSAGES}) SELECT pg_notify('${PUBLISHED_CHANNEL}', '')`
          : INSERT_MESSAGES,
        values,
      });
      return;
    }
    // Rows and keys in one statement; a key found live rolls the whole group back.
    await this.db.transaction(async (client) => {
      const result = await client.query<{ taken: number }>({
        name: due ? 'messages_insert_keyed_notify' : 'messages_insert_keyed',
        text: `WITH inserted AS (${INSERT_MESSAGES}), taken AS (${TAKE_KEYS})
               SELECT (SELECT count(*) FROM taken)::int AS taken${due ? `, pg_notify('${PUBLISHED_CHANNEL}', '')` : ''}`,
        values: [
          ...values,
          keyed.map((m) => m.accountName),
          keyed.map((m) => m.serviceName),
          keyed.map((m) => m.idempotency?.key),
          keyed.map((m) => m.id),
          keyed.map((m) => m.idempotency?.fingerprint),
          keyed.map((m) => m.idempotency?.expiresAt),
          group.reduce((earliest, entry) => Math.min(earliest, entry.now), Number.POSITIVE_INFINITY),
        ],
      });
      if (result.rows[0].taken < keyed.length) {
        throw new IdempotencyKeyTakenError('an idempotency key of this publish is held by another message');
      }
    });
  }

  async findIdempotencyKeys(
    keys: { accountName: string; serviceName: string; key: string }[],
    now: number,
  ): Promise<(IdempotencyRecord | null)[]> {
    if (keys.length === 0) return [];
    const result = await this.db.query<{
      n: number;
      message_id: string;
      fingerprint: string | null;
      status: MessageStatus;
    }>({
      name: 'messages_find_keys',
      text: `SELECT k.n, i.message_id, i.fingerprint, m.status
             FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(account_name, service_name, key, n)
             JOIN idempotency_keys i ON i.account_name = k.account_name AND i.service_name = k.service_name
               AND i.idempotency_key = k.key AND i.expires_at > $4
             JOIN messages m ON m.id = i.message_id`,
      values: [keys.map((k) => k.accountName), keys.map((k) => k.serviceName), keys.map((k) => k.key), now],
    });
    const found = new Map(result.rows.map((row) => [Number(row.n), row]));
    return keys.map((k, i) => {
      const row = found.get(i + 1);
      return row ? { ...k, messageId: row.message_id, fingerprint: row.fingerprint, status: row.status } : null;
    });
  }

  async claim(now: number, limit: number, leaseMs: number): Promise<CallbackMessage[]> {
    if (limit <= 0) return [];
    // Expired leases (a worker died) first, then due messages; rows locked by another claim are skipped.
    const result = await this.db.queryRelaxed<MessageRow>({
      name: 'messages_claim',
      text: `WITH expired AS (
               SELECT seq FROM messages WHERE status = 'delivering' AND locked_until <= $1
               ORDER BY locked_until LIMIT $3 FOR UPDATE SKIP LOCKED
             ), due AS (
               SELECT seq FROM messages WHERE status = 'pending' AND next_attempt_at <= $1
               ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED
             ), picked AS (
               SELECT seq FROM (SELECT seq, 0 AS rank FROM expired UNION ALL SELECT seq, 1 FROM due) p
               ORDER BY rank LIMIT $3
             )
             UPDATE messages m SET status = 'delivering', locked_until = $2, updated_at = $1
             FROM picked WHERE m.seq = picked.seq
             RETURNING ${MESSAGE_COLUMNS.split(', ')
               .map((c) => `m.${c}`)
               .join(', ')}`,
      values: [now, now + leaseMs, limit],
    });
    const rows = result.rows;
    // RETURNING gives no order: back into due order (by due time, then by insertion).
    rows.sort((a, b) => (a.next_attempt_at ?? 0) - (b.next_attempt_at ?? 0) || a.seq - b.seq);
    return rows.map(toMessage);
  }

  async update(changes: MessageChange[], now: number): Promise<void> {
    if (changes.length === 0) return;
    // One attempt row per (message, number): a repeat in the batch would make ON CONFLICT fail.
    const attempts = new Map<string, Attempt>();
    for (const c of changes)
      if (c.attempt) attempts.set(`${c.attempt.messageId}\u0000${c.attempt.attemptNumber}`, c.attempt);
    const a = [...attempts.values()];
    // The attempt always counts; the other fields move only while the message is still claimed
    // (`delivering`): a message cancelled or re-queued meanwhile keeps them.
    await this.db.queryRelaxed({
      name: 'messages_update',
      text: `WITH c AS (
               SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::text[], $6::bigint[])
                 AS c(id, attempt_number, status, next_attempt_at, reason, delivered_at)
             ), recorded AS (
               INSERT INTO attempts (message_id, attempt_number, started_at, url, status_code, latency_ms, error,
                 response_excerpt, error_kind)
               SELECT * FROM unnest($8::text[], $9::int[], $10::bigint[], $11::text[], $12::int[], $13::float8[],
                 $14::text[], $15::text[], $16::text[])
               ON CONFLICT (message_id, attempt_number) DO UPDATE SET started_at = excluded.started_at,
                 url = excluded.url, status_code = excluded.status_code, latency_ms = excluded.latency_ms,
                 error = excluded.error, response_excerpt = excluded.response_excerpt, error_kind = excluded.error_kind
             )
             UPDATE messages m SET
               attempts = GREATEST(m.attempts, c.attempt_number),
               next_attempt_at = CASE WHEN m.status = 'delivering' THEN c.next_attempt_at ELSE m.next_attempt_at END,
               reason = CASE WHEN m.status = 'delivering' THEN c.reason ELSE m.reason END,
               delivered_at = CASE WHEN m.status = 'delivering' THEN COALESCE(c.delivered_at, m.delivered_at)
                 ELSE m.delivered_at END,
               locked_until = CASE WHEN m.status = 'delivering' THEN NULL ELSE m.locked_until END,
               status = CASE WHEN m.status = 'delivering' THEN c.status ELSE m.status END,
               updated_at = $7
             FROM c WHERE m.id = c.id`,
      values: [
        changes.map((c) => c.id),
        changes.map((c) => c.attempt?.attemptNumber ?? 0),
        changes.map((c) => c.status),
        changes.map((c) => c.nextAttemptAt),
        changes.map((c) => c.reason),
        changes.map((c) => c.deliveredAt),
        now,
        a.map((x) => x.messageId),
        a.map((x) => x.attemptNumber),
        a.map((x) => x.startedAt),
        a.map((x) => x.url),
        a.map((x) => x.statusCode),
        a.map((x) => x.latencyMs),
        a.map((x) => x.error),
        a.map((x) => x.responseExcerpt),
        a.map((x) => x.errorKind),
      ],
    });
  }

  async release(ids: string[], nextAttemptAt: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.queryRelaxed({
      name: 'messages_release',
      text: `WITH released AS (
               UPDATE messages SET status = 'pending', next_attempt_at = $2, locked_until = NULL
               WHERE id = ANY($1::text[]) AND status = 'delivering' RETURNING 1
             )
             SELECT pg_notify('${PUBLISHED_CHANNEL}', '') FROM (SELECT 1 FROM released LIMIT 1) r
             WHERE $2 <= $3`,
      values: [ids, nextAttemptAt, Date.now()],
    });
  }

  async nextDueAt(): Promise<number | null> {
    const result = await this.db.query<{ pending: number | null; lease: number | null }>({
      name: 'messages_next_due',
      text: `SELECT (SELECT min(next_attempt_at) FROM messages WHERE status = 'pending') AS pending,
                    (SELECT min(locked_until) FROM messages WHERE status = 'delivering') AS lease`,
    });
    const { pending, lease } = result.rows[0];
    if (pending === null) return lease;
    if (lease === null) return pending;
    return Math.min(pending, lease);
  }

  async get(id: string): Promise<{ message: CallbackMessage; attempts: Attempt[] } | null> {
    const message = await this.db.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1`, [id]);
    if (!message.rows[0]) return null;
    const attempts = await this.db.query<AttemptRow>(
      'SELECT * FROM attempts WHERE message_id = $1 ORDER BY attempt_number',
      [id],
    );
    return { message: toMessage(message.rows[0]), attempts: attempts.rows.map(toAttempt) };
  }

  async list(filter: MessageFilter, limit: number, cursor: string | null): Promise<MessagePage> {
    const values: unknown[] = [];
    const where = filterClause(filter, values);
    if (cursor !== null) {
      values.push(decodeSeqCursor(cursor));
      where.push(`seq < $${values.length}::bigint`);
    }
    values.push(limit + 1);
    const result = await this.db.query<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq DESC LIMIT $${values.length}`,
      values,
    );
    const rows = result.rows;
    const more = rows.length > limit;
    if (more) rows.pop();
    return { items: rows.map(toMessage), nextCursor: more ? encodeSeqCursor(rows[rows.length - 1].seq) : null };
  }

  async stats(now: number): Promise<MessageStats> {
    // Each part reads one partial index instead of scanning the table.
    const result = await this.db.query<{ status: MessageStatus; n: number; oldest: number | null }>({
      name: 'messages_stats',
      text: `SELECT 'pending' AS status, count(*) AS n, min(next_attempt_at) AS oldest FROM messages WHERE status = 'pending'
             UNION ALL SELECT 'delivering', count(*), NULL FROM messages WHERE status = 'delivering'
             UNION ALL SELECT status, count(*), NULL FROM messages WHERE status IN ('delivered', 'failed', 'cancelled')
               GROUP BY status`,
    });
    const counts = Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, 0])) as Record<MessageStatus, number>;
    let oldestDue: number | null = null;
    for (const row of result.rows) {
      counts[row.status] = Number(row.n);
      if (row.status === 'pending') oldestDue = row.oldest;
    }
    return {
      counts,
      queueDepth: counts.pending + counts.delivering,
      oldestDueAgeMs: oldestDue !== null && oldestDue <= now ? now - oldestDue : 0,
    };
  }

  async openStats(now: number): Promise<OpenMessageStats> {
    // The partial indexes of pending and delivering messages only: no finished row is read.
    const result = await this.db.query<{ pending: string; delivering: string; oldest: string | null }>({
      name: 'messages_open_stats',
      text: `SELECT (SELECT count(*) FROM messages WHERE status = 'pending') AS pending,
                    (SELECT count(*) FROM messages WHERE status = 'delivering') AS delivering,
                    (SELECT min(next_attempt_at) FROM messages WHERE status = 'pending') AS oldest`,
    });
    const row = result.rows[0];
    const oldest = row.oldest === null ? null : Number(row.oldest);
    return {
      pending: Number(row.pending),
      delivering: Number(row.delivering),
      oldestDueAgeMs: oldest !== null && oldest <= now ? now - oldest : 0,
    };
  }

  async requeue(ids: string[], from: readonly MessageStatus[], extraAttempts: number, now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const result = await this.db.transaction(async (client) => {
      const requeued = await client.query<{ id: string }>(
        `UPDATE messages SET status = 'pending', next_attempt_at = $4, locked_until = NULL, reason = NULL,
           max_attempts = attempts + $3, updated_at = $4
         WHERE id = ANY($1::text[]) AND status = ANY($2::text[])
         RETURNING id`,
        [ids, [...from], extraAttempts, now],
      );
      if (requeued.rows.length > 0) await notify(client);
      return requeued.rows;
    });
    const requeued = new Set(result.map((row) => row.id));
    return ids.filter((id) => requeued.has(id));
  }

  async cancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<number> {
    return cancelOpenMessages(this.db, accountName, serviceName, reason, now);
  }

  async targetsOf(ids: string[]): Promise<MessageTarget[]> {
    if (ids.length === 0) return [];
    const result = await this.db.query<MessageTarget>(
      `SELECT id, account_name AS "accountName", service_name AS "serviceName" FROM messages WHERE id = ANY($1::text[])`,
      [ids],
    );
    return result.rows;
  }

  async findIds(filter: MessageFilter, limit: number, afterId: string | null): Promise<string[]> {
    const values: unknown[] = [];
    const where = filterClause(filter, values);
    if (afterId !== null) {
      values.push(afterId);
      where.push(`seq > (SELECT seq FROM messages WHERE id = $${values.length})`);
    }
    values.push(limit);
    const result = await this.db.query<{ id: string }>(
      `SELECT id FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq LIMIT $${values.length}`,
      values,
    );
    return result.rows.map((row) => row.id);
  }

  /** Chunks are taken with SKIP LOCKED, so instances purging at the same time never share one. */
  async purge(cutoffs: PurgeCutoffs): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await this.db.query({
        name: 'messages_purge',
        text: `WITH doomed AS (
                 SELECT seq, id FROM messages WHERE status IN ('delivered', 'failed', 'cancelled')
                   AND ((status = 'delivered' AND updated_at < $1) OR (status IN ('failed', 'cancelled') AND updated_at < $2))
                 LIMIT $3 FOR UPDATE SKIP LOCKED
               ), attempts_gone AS (
                 DELETE FROM attempts WHERE message_id IN (SELECT id FROM doomed)
               ), keys_gone AS (
                 DELETE FROM idempotency_keys WHERE message_id IN (SELECT id FROM doomed)
               )
               DELETE FROM messages WHERE seq IN (SELECT seq FROM doomed)`,
        values: [cutoffs.deliveredBefore, cutoffs.failedBefore, PURGE_CHUNK],
      });
      const n = result.rowCount ?? 0;
      total += n;
      if (n < PURGE_CHUNK) break;
    }
    for (;;) {
      const result = await this.db.query({
        name: 'messages_purge_keys',
        text: `DELETE FROM idempotency_keys WHERE ctid IN (
                 SELECT ctid FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        values: [cutoffs.keysExpiredBy, PURGE_CHUNK],
      });
      if ((result.rowCount ?? 0) < PURGE_CHUNK) break;
    }
    return total;
  }
}

async function notify(client: Queryable): Promise<void> {
  await client.query(`SELECT pg_notify('${PUBLISHED_CHANNEL}', '')`);
}

/**
 * `MessageStore.cancelOpen` on any connection: the store's own, or the transaction of a
 * deregistration (`PostgresRegistrationStore.removeAndCancelOpen`).
 */
export async function cancelOpenMessages(
  db: Pick<Database, 'query'>,
  accountName: string,
  serviceName: string,
  reason: string,
  now: number,
): Promise<number> {
  const result = await db.query(
    `UPDATE messages SET status = 'cancelled', reason = $3, updated_at = $4, next_attempt_at = NULL, locked_until = NULL
     WHERE account_name = $1 AND service_name = $2 AND status IN ('pending', 'delivering')`,
    [accountName, serviceName, reason, now],
  );
  return result.rowCount ?? 0;
}
