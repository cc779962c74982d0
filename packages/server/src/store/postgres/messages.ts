import { TurnGroups, type Waiting } from '../../common/turn-groups.js';
import { MESSAGE_STATUSES } from '../../domain/statuses.js';
import { HELD_DUE_BASE } from '../admission.js';
import { decodeSeqCursor, encodeSeqCursor } from '../cursor.js';
import { StoreUnavailableError } from '../errors.js';
import {
  type AttemptRow,
  FAILED_CUTOFF_STATUSES_SQL,
  type MessageRow,
  messageFilterTerms,
  OPEN_STATUSES_SQL,
  toAttempt,
  toMessage,
} from '../rows.js';
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
  type RegistrationKey,
} from '../types.js';
import { classify, type Database, type Queryable, UNBOUNDED } from './database.js';
import { admitHeldMessages, releaseHeldMessages } from './message-admission.js';
import { type HistoryPartitions, isMissingPartition, listPartitions, type PartitionRange } from './partitions.js';

/** The channel that tells idle workers of every instance that messages became due. */
export const PUBLISHED_CHANNEL = 'ccb_published';

/**
 * The columns of MessageRow from the history row `h` and the queue row `q` (LEFT JOINed: null once
 * the message has ended). While queued, the queue row holds the status (leased: delivering), the
 * attempts, the due time or lease end, the last error and the last change.
 */
const MESSAGE_SELECT = `h.seq, h.id, h.account_name, h.service_name, h.payload,
  CASE WHEN q.message_id IS NULL THEN h.status WHEN q.leased THEN 'delivering' ELSE 'pending' END AS status,
  COALESCE(q.attempts, h.attempts) AS attempts, COALESCE(q.max_attempts, h.max_attempts) AS max_attempts,
  CASE WHEN NOT q.leased AND q.due_at < ${HELD_DUE_BASE} THEN q.due_at END AS next_attempt_at, CASE WHEN q.leased THEN COALESCE(q.lease_until, q.due_at) END AS locked_until,
  CASE WHEN q.message_id IS NULL THEN h.reason ELSE q.reason END AS reason,
  h.idempotency_key, h.created_at, COALESCE(q.updated_at, h.updated_at) AS updated_at, h.delivered_at`;
/** Rows deleted per purge statement, so a large purge never holds many locks for long. */
const PURGE_CHUNK = 2_000;

/**
 * The filter's WHERE terms (rows.ts) over `h` LEFT JOIN `q`, and PostgreSQL's own for a payload field;
 * values are appended to `values` and bound by position. A queued message's history row says pending:
 * pending and delivering are told apart by its queue row's lease.
 */
function filterClause(filter: MessageFilter, values: unknown[]): string[] {
  const bind = (_name: string, value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const where = messageFilterTerms(filter, {
    bind,
    table: 'h',
    statusTerm: (status) =>
      status === 'pending'
        ? `h.status = 'pending' AND q.leased IS FALSE`
        : status === 'delivering'
          ? `h.status = 'pending' AND q.leased IS TRUE`
          : undefined,
    startsWith: (column, prefix) => `starts_with(${column}, ${prefix})`,
  });
  if (filter.payloadField !== undefined) {
    const { name, value } = filter.payloadField;
    where.push(`(h.payload::jsonb ->> ${bind('payloadName', name)}) = ${bind('payloadValue', value)}`);
  }
  return where;
}

/**
 * One history row per message and, for an open one, its queue row; created_at, updated_at and
 * part_at come per row, as a group holds several publishes.
 */
const INSERT_MESSAGES = `m AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[],
      $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bool[])
      WITH ORDINALITY AS m(id, account_name, service_name, payload, status, max_attempts, next_attempt_at, reason,
        idempotency_key, now, locked_until, requires, n)
  ), registered AS (
    -- Locked until the commit: a removal of one of them waits, then cancels what this inserts.
    SELECT r.account_name, r.service_name FROM registrations r
    WHERE (r.account_name, r.service_name) IN (SELECT account_name, service_name FROM m WHERE requires)
    FOR KEY SHARE
  ), ok AS (
    SELECT * FROM m
    WHERE NOT requires OR (account_name, service_name) IN (SELECT account_name, service_name FROM registered)
  ), history AS (
    INSERT INTO messages (part_at, id, account_name, service_name, idempotency_key, created_at, payload, max_attempts,
      status, attempts, reason, updated_at)
    SELECT now, id, account_name, service_name, idempotency_key, now, payload, max_attempts,
      CASE WHEN status IN (${OPEN_STATUSES_SQL}) THEN 'pending' ELSE status END, 0, reason, now
    FROM ok ORDER BY n
  ), queued AS (
    INSERT INTO queue (message_id, part_at, account_name, service_name, due_at, leased, lease_until, attempts,
      max_attempts, reason, updated_at)
    SELECT id, now, account_name, service_name, CASE WHEN status = 'delivering' THEN now ELSE COALESCE(next_attempt_at, now) END,
      status = 'delivering', CASE WHEN status = 'delivering' THEN locked_until END, 0, max_attempts, reason, now
    FROM ok WHERE status IN (${OPEN_STATUSES_SQL})
  )`;

/** The ids of INSERT_MESSAGES left out: their registration was gone. */
const REFUSED = 'ARRAY(SELECT id FROM m WHERE id NOT IN (SELECT id FROM ok)) AS refused';

/**
 * A key row of a message inserted is taken when absent or expired by $19 (the group's earliest
 * publish time); a live one is left, and the caller counts the rows taken against those wanted
 * (WANTED_KEYS). Its parameters follow those of INSERT_MESSAGES.
 */
const TAKE_KEYS = `INSERT INTO idempotency_keys (account_name, service_name, idempotency_key, message_id, fingerprint, expires_at)
  SELECT k.* FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::bigint[])
    AS k(account_name, service_name, idempotency_key, message_id, fingerprint, expires_at)
  WHERE k.message_id IN (SELECT id FROM ok)
  ON CONFLICT (account_name, service_name, idempotency_key) DO UPDATE SET message_id = excluded.message_id,
    fingerprint = excluded.fingerprint, expires_at = excluded.expires_at
  WHERE idempotency_keys.expires_at <= $19
  RETURNING 1`;
const WANTED_KEYS = '(SELECT count(*) FROM unnest($16::text[]) AS k(id) WHERE k.id IN (SELECT id FROM ok))::int';

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
  const columns: unknown[][] = Array.from({ length: 12 }, () => []);
  for (const { messages, now } of group) {
    for (const m of messages) {
      columns[0].push(m.id);
      columns[1].push(m.accountName);
      columns[2].push(m.serviceName);
      columns[3].push(m.payload);
      columns[4].push(m.status);
      columns[5].push(m.maxAttempts);
      // A held message (pending, no due time) waits in the queue at HELD_DUE_BASE + its publish time.
      columns[6].push(m.nextAttemptAt ?? (m.status === 'pending' ? HELD_DUE_BASE + now : null));
      columns[7].push(m.reason);
      columns[8].push(m.idempotency?.key ?? null);
      columns[9].push(now);
      columns[10].push(m.lockedUntil ?? null);
      columns[11].push(m.requireRegistration === true);
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
  private readonly inserts = new TurnGroups<InsertRequest, string[]>(
    (group) => this.commitInserts(group),
    INSERT_COMMITS_IN_FLIGHT,
    INSERT_GROUP_ROWS,
    (request) => request.messages.length,
  );

  constructor(
    private readonly db: Database,
    private readonly partitions: HistoryPartitions,
    /** The store's clock (the database's, see PostgresStore.now). */
    private readonly clock: () => number,
  ) {}

  insert(messages: MessageInsert[], now: number): Promise<string[]> {
    if (messages.length === 0) return Promise.resolve([]);
    return this.inserts.add({ messages, now });
  }

  private async commitInserts(group: Waiting<InsertRequest, string[]>[]): Promise<void> {
    let refused: Set<string>;
    try {
      refused = new Set(await this.insertGroup(group.map((entry) => entry.input)));
    } catch (error) {
      // Out of reach fails every one of them alike; otherwise one bad insert must not fail the
      // others: each commits on its own to find out which.
      if (group.length === 1 || error instanceof StoreUnavailableError) throw error;
      await Promise.all(
        group.map((entry) =>
          this.insertGroup([entry.input]).then(
            (alone) => entry.resolve(alone),
            (alone: unknown) => entry.reject(alone),
          ),
        ),
      );
      return;
    }
    for (const entry of group) {
      entry.resolve(refused.size === 0 ? [] : entry.input.messages.filter((m) => refused.has(m.id)).map((m) => m.id));
    }
  }

  /**
   * One commit for the group: the rows, their keys, and the wake-up of idle workers when something is
   * due. A time with no history partition yet (a clock far off, fixed test times) gets one, and the
   * group is tried again: nothing was written.
   */
  private async insertGroup(group: readonly InsertRequest[]): Promise<string[]> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.insertGroupOnce(group);
      } catch (error) {
        if (!isMissingPartition(error) || tries >= 3) throw error;
        await this.partitions.ensure(group.map((entry) => entry.now));
      }
    }
  }

  /** One statement for the group; returns the ids left out for want of a registration. */
  private async insertGroupOnce(group: readonly InsertRequest[]): Promise<string[]> {
    const values = insertValues(group);
    const due = group.some((entry) => entry.messages.some((m) => m.status === 'pending'));
    const notify = due ? `, pg_notify('${PUBLISHED_CHANNEL}', '')` : '';
    const keyed: MessageInsert[] = [];
    for (const { messages } of group) for (const m of messages) if (m.idempotency !== null) keyed.push(m);
    if (keyed.length === 0) {
      // One round trip, autocommit: the rows and, when something is due, the notification.
      const result = await this.db.query<{ refused: string[] }>({
        name: due ? 'messages_insert_group_notify' : 'messages_insert_group',
        text: `WITH ${INSERT_MESSAGES} SELECT ${REFUSED}${notify}`,
        values,
      });
      return result.rows[0].refused;
    }
    // Rows and keys in one statement; a key found live rolls the whole group back.
    return this.db.transaction(async (client) => {
      const result = await client.query<{ taken: number; wanted: number; refused: string[] }>({
        name: due ? 'messages_insert_keyed_notify' : 'messages_insert_keyed',
        text: `WITH ${INSERT_MESSAGES}, taken AS (${TAKE_KEYS})
               SELECT (SELECT count(*) FROM taken)::int AS taken, ${WANTED_KEYS} AS wanted, ${REFUSED}${notify}`,
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
      const { taken, wanted, refused } = result.rows[0];
      if (taken < wanted) {
        throw new IdempotencyKeyTakenError('an idempotency key of this publish is held by another message');
      }
      return refused;
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
      text: `SELECT k.n, i.message_id, i.fingerprint,
               CASE WHEN q.message_id IS NULL THEN h.status WHEN q.leased THEN 'delivering' ELSE 'pending' END AS status
             FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(account_name, service_name, key, n)
             JOIN idempotency_keys i ON i.account_name = k.account_name AND i.service_name = k.service_name
               AND i.idempotency_key = k.key AND i.expires_at > $4
             JOIN messages h ON h.id = i.message_id
             LEFT JOIN queue q ON q.message_id = i.message_id`,
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
    // One index (due_at) holds what is due and, at its head, what is leased (a lease leaves due_at
    // alone); a lease that ran out (a worker died) is taken again, rows locked by another claim are
    // skipped. Only the queue row is written, and none of its indexed columns: the new version stays
    // on its page with no index entry (HOT). The payload is read from history, one index lookup per
    // claimed row (LATERAL … LIMIT 1: as a plain join, the planner may hash the whole history
    // partition, a read that grows with the history until statistics catch up).
    const result = await this.db.queryRelaxed<MessageRow>({
      name: 'messages_claim',
      text: `WITH picked AS (
               SELECT message_id, due_at FROM queue
               WHERE due_at <= $1 AND (NOT leased OR COALESCE(lease_until, due_at) <= $1)
               ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED
             ), q AS (
               UPDATE queue q SET leased = true, lease_until = $2, updated_at = $1
               FROM picked WHERE q.message_id = picked.message_id
               RETURNING q.*, picked.due_at AS was_due
             )
             SELECT ${MESSAGE_SELECT}
             FROM q CROSS JOIN LATERAL (
               SELECT * FROM messages h WHERE h.id = q.message_id AND h.part_at = q.part_at LIMIT 1) h
             ORDER BY q.was_due, h.seq`,
      values: [now, now + leaseMs, limit],
    });
    return result.rows.map(toMessage);
  }

  async update(changes: MessageChange[], now: number): Promise<void> {
    if (changes.length === 0) return;
    // One attempt row per (message, number): a repeat in the batch would make ON CONFLICT fail.
    const attempts = new Map<string, Attempt>();
    for (const c of changes)
      if (c.attempt) attempts.set(`${c.attempt.messageId}\u0000${c.attempt.attemptNumber}`, c.attempt);
    const a = [...attempts.values()];
    const attemptValues = [
      a.map((x) => x.messageId),
      a.map((x) => x.attemptNumber),
      a.map((x) => x.startedAt),
      a.map((x) => x.url),
      a.map((x) => x.statusCode),
      a.map((x) => x.latencyMs),
      a.map((x) => x.error),
      a.map((x) => x.responseExcerpt),
      a.map((x) => x.errorKind),
    ];
    // Messages still queued: a leased one that ends leaves the queue and its history row is written
    // once; a leased one retried is pending again; one no longer leased (re-queued meanwhile) only
    // counts the attempt. The attempts are recorded with the history row's partition.
    const statement = (upsert: boolean) => ({
      name: upsert ? 'messages_update_upsert' : 'messages_update',
      text: `WITH c AS (
               SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::text[], $6::bigint[])
                 AS c(id, attempt_number, status, next_attempt_at, reason, delivered_at)
             ), ended AS (
               DELETE FROM queue q USING c
               WHERE q.message_id = c.id AND q.leased AND c.status <> 'pending'
               RETURNING q.message_id, q.part_at, GREATEST(q.attempts, c.attempt_number) AS attempts, c.status, c.reason,
                 c.delivered_at
             ), moved AS (
               UPDATE queue q SET attempts = GREATEST(q.attempts, c.attempt_number),
                 due_at = CASE WHEN q.leased THEN COALESCE(c.next_attempt_at, $7) ELSE q.due_at END,
                 reason = CASE WHEN q.leased THEN c.reason ELSE q.reason END,
                 leased = false, lease_until = NULL, updated_at = CASE WHEN q.leased THEN $7 ELSE q.updated_at END
               FROM c WHERE q.message_id = c.id AND NOT (q.leased AND c.status <> 'pending')
               RETURNING q.message_id, q.part_at
             ), written AS (
               UPDATE messages h SET status = ended.status, attempts = ended.attempts, reason = ended.reason,
                 delivered_at = ended.delivered_at, updated_at = $7
               FROM ended WHERE h.id = ended.message_id AND h.part_at = ended.part_at
             ), found AS (
               SELECT message_id, part_at FROM ended UNION ALL SELECT message_id, part_at FROM moved
             ), recorded AS (
               INSERT INTO attempts (part_at, message_id, attempt_number, started_at, url, status_code, latency_ms, error,
                 response_excerpt, error_kind)
               SELECT found.part_at, a.* FROM unnest($8::text[], $9::int[], $10::bigint[], $11::text[], $12::int[],
                 $13::float8[], $14::text[], $15::text[], $16::text[])
                 AS a(message_id, attempt_number, started_at, url, status_code, latency_ms, error, response_excerpt, error_kind)
               JOIN found ON found.message_id = a.message_id
               ${upsert ? ATTEMPT_UPSERT : ''}
             )
             SELECT ARRAY(SELECT id FROM c WHERE id NOT IN (SELECT message_id FROM found)) AS orphans`,
      values: [
        changes.map((c) => c.id),
        changes.map((c) => c.attempt?.attemptNumber ?? 0),
        changes.map((c) => c.status),
        // A held registration's retry is held again, from its retry time on.
        changes.map((c) => (c.heldUntil === undefined ? c.nextAttemptAt : HELD_DUE_BASE + c.heldUntil)),
        changes.map((c) => c.reason),
        changes.map((c) => c.deliveredAt),
        now,
        ...attemptValues,
      ],
    });
    // A plain insert of the attempts: ON CONFLICT would make each a speculative insertion, which
    // logs a confirmation record per row (48 WAL bytes). An attempt recorded before (its outcome
    // written twice) fails the statement, which changed nothing: it runs again replacing that row.
    let result: { rows: { orphans: string[] }[] };
    try {
      result = await this.db.queryRelaxed<{ orphans: string[] }>(statement(false));
    } catch (error) {
      if (!isAttemptRecorded(error)) throw error;
      result = await this.db.queryRelaxed<{ orphans: string[] }>(statement(true));
    }
    const orphans = new Set(result.rows[0].orphans);
    if (orphans.size === 0) return;
    // Messages that ended meanwhile (cancelled by a deregistration while their attempt was in
    // flight): the attempt still counts and joins their history; nothing else changes.
    const late = a.filter((x) => orphans.has(x.messageId));
    if (late.length === 0) return;
    await this.db.queryRelaxed({
      name: 'messages_update_ended',
      text: `WITH counted AS (
               UPDATE messages h SET attempts = GREATEST(h.attempts, c.n)
               FROM (SELECT message_id, max(attempt_number) AS n FROM unnest($1::text[], $2::int[])
                 AS c(message_id, attempt_number) GROUP BY message_id) c
               WHERE h.id = c.message_id AND h.status <> 'pending'
               RETURNING h.id, h.part_at
             )
             INSERT INTO attempts (part_at, message_id, attempt_number, started_at, url, status_code, latency_ms, error,
               response_excerpt, error_kind)
             SELECT counted.part_at, a.* FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::int[],
               $6::float8[], $7::text[], $8::text[], $9::text[])
               AS a(message_id, attempt_number, started_at, url, status_code, latency_ms, error, response_excerpt, error_kind)
             JOIN counted ON counted.id = a.message_id
             ON CONFLICT (message_id, attempt_number, part_at) DO UPDATE SET started_at = excluded.started_at,
               url = excluded.url, status_code = excluded.status_code, latency_ms = excluded.latency_ms,
               error = excluded.error, response_excerpt = excluded.response_excerpt, error_kind = excluded.error_kind`,
      values: [
        late.map((x) => x.messageId),
        late.map((x) => x.attemptNumber),
        late.map((x) => x.startedAt),
        late.map((x) => x.url),
        late.map((x) => x.statusCode),
        late.map((x) => x.latencyMs),
        late.map((x) => x.error),
        late.map((x) => x.responseExcerpt),
        late.map((x) => x.errorKind),
      ],
    });
  }

  async release(ids: string[], nextAttemptAt: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.queryRelaxed({
      name: 'messages_release',
      text: `WITH released AS (
               UPDATE queue SET leased = false, lease_until = NULL, due_at = $2
               WHERE message_id = ANY($1::text[]) AND leased RETURNING 1
             )
             SELECT pg_notify('${PUBLISHED_CHANNEL}', '') FROM (SELECT 1 FROM released LIMIT 1) r
             WHERE $2 <= $3`,
      values: [ids, nextAttemptAt, this.clock()],
    });
  }

  async renew(leases: { id: string; lockedUntil: number }[], lockedUntil: number, now: number): Promise<string[]> {
    if (leases.length === 0) return [];
    const result = await this.db.queryRelaxed<{ message_id: string }>({
      name: 'messages_renew',
      text: `UPDATE queue q SET lease_until = $3
             FROM unnest($1::text[], $2::bigint[]) AS l(id, held)
             WHERE q.message_id = l.id AND q.leased AND COALESCE(q.lease_until, q.due_at) = l.held
               AND COALESCE(q.lease_until, q.due_at) > $4
             RETURNING q.message_id`,
      values: [leases.map((l) => l.id), leases.map((l) => l.lockedUntil), lockedUntil, now],
    });
    return result.rows.map((row) => row.message_id);
  }

  /**
   * The earliest pending due time (the head of queue_due past the leased rows there) or lease end,
   * whichever comes first. Only the leased rows due before that pending head are read: a lease ends
   * after its row's due time, so one due later cannot end earlier than the head.
   */
  async nextDueAt(): Promise<number | null> {
    const result = await this.db.query<{ due: number | null }>({
      name: 'messages_next_due',
      text: `WITH pending AS (SELECT due_at AS at FROM queue WHERE NOT leased ORDER BY due_at LIMIT 1)
             SELECT LEAST((SELECT at FROM pending), (SELECT min(COALESCE(lease_until, due_at)) FROM queue
               WHERE leased AND due_at < COALESCE((SELECT at FROM pending), ${Number.MAX_SAFE_INTEGER}))) AS due`,
    });
    return result.rows[0].due;
  }

  async get(id: string): Promise<{ message: CallbackMessage; attempts: Attempt[] } | null> {
    const message = await this.db.query<MessageRow & { part_at: number }>({
      name: 'messages_get',
      text: `SELECT ${MESSAGE_SELECT}, h.part_at FROM messages h LEFT JOIN queue q ON q.message_id = h.id WHERE h.id = $1`,
      values: [id],
    });
    const row = message.rows[0];
    if (!row) return null;
    const attempts = await this.db.query<AttemptRow>({
      name: 'messages_get_attempts',
      text: 'SELECT * FROM attempts WHERE message_id = $1 AND part_at = $2 ORDER BY attempt_number',
      values: [id, row.part_at],
    });
    return { message: toMessage(row), attempts: attempts.rows.map(toAttempt) };
  }

  async list(filter: MessageFilter, limit: number, cursor: string | null): Promise<MessagePage> {
    const values: unknown[] = [];
    const where = filterClause(filter, values);
    if (cursor !== null) {
      values.push(decodeSeqCursor(cursor));
      where.push(`h.seq < $${values.length}::bigint`);
    }
    values.push(limit + 1);
    const result = await this.db.query<MessageRow>(
      `SELECT ${MESSAGE_SELECT} FROM messages h LEFT JOIN queue q ON q.message_id = h.id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY h.seq DESC LIMIT $${values.length}`,
      values,
    );
    const rows = result.rows;
    const more = rows.length > limit;
    if (more) rows.pop();
    return { items: rows.map(toMessage), nextCursor: more ? encodeSeqCursor(rows[rows.length - 1].seq) : null };
  }

  async stats(now: number): Promise<MessageStats> {
    // Open messages from the queue table; ended ones from history.
    const result = await this.db.query<{ status: MessageStatus; n: number; oldest: number | null }>({
      name: 'messages_stats',
      text: `SELECT CASE WHEN leased THEN 'delivering' ELSE 'pending' END AS status, count(*) AS n,
               min(due_at) FILTER (WHERE NOT leased) AS oldest
             FROM queue GROUP BY leased
             UNION ALL SELECT status, count(*), NULL FROM messages WHERE status <> 'pending' GROUP BY status`,
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
    // The queue table only: no history row is read.
    const result = await this.db.query<{ pending: string; delivering: string; oldest: string | null }>({
      name: 'messages_open_stats',
      text: `SELECT count(*) FILTER (WHERE NOT leased) AS pending, count(*) FILTER (WHERE leased) AS delivering,
               min(due_at) FILTER (WHERE NOT leased) AS oldest
             FROM queue`,
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
      // Ended messages get a queue row again (their history row becomes 'pending'); a queued one
      // that is not leased is made due now.
      const requeued = await client.query<{ id: string }>(
        `WITH reopened AS (
           UPDATE messages h SET status = 'pending', reason = NULL, max_attempts = h.attempts + $3, updated_at = $4
           WHERE h.id = ANY($1::text[]) AND h.status <> 'pending' AND h.status = ANY($2::text[])
           RETURNING h.id, h.part_at, h.account_name, h.service_name, h.attempts, h.max_attempts
         ), queued AS (
           INSERT INTO queue (message_id, part_at, account_name, service_name, due_at, leased, attempts, max_attempts,
             reason, updated_at)
           SELECT id, part_at, account_name, service_name,
             CASE WHEN EXISTS (SELECT 1 FROM registrations r WHERE r.account_name = reopened.account_name AND r.service_name = reopened.service_name AND (r.ordering = 'fifo' OR r.rate_limit IS NOT NULL)) THEN ${HELD_DUE_BASE} + $4::bigint ELSE $4::bigint END,
             false, attempts, max_attempts, NULL, $4 FROM reopened
         ), due AS (
           UPDATE queue q SET due_at = CASE WHEN EXISTS (SELECT 1 FROM registrations r WHERE r.account_name = q.account_name AND r.service_name = q.service_name AND (r.ordering = 'fifo' OR r.rate_limit IS NOT NULL)) THEN ${HELD_DUE_BASE} + $4::bigint ELSE $4::bigint END,
             reason = NULL, max_attempts = q.attempts + $3, updated_at = $4
           WHERE q.message_id = ANY($1::text[]) AND NOT q.leased AND 'pending' = ANY($2::text[])
           RETURNING q.message_id
         )
         SELECT id FROM reopened UNION ALL SELECT message_id FROM due`,
        [ids, [...from], extraAttempts, now],
      );
      if (requeued.rows.length > 0) await notify(client);
      return requeued.rows;
    });
    const requeued = new Set(result.map((row) => row.id));
    return ids.filter((id) => requeued.has(id));
  }

  admitHeld(now: number, horizonMs: number): Promise<number> {
    return admitHeldMessages(this.db, now, horizonMs);
  }

  failPending(accountName: string, serviceName: string, reason: string, now: number): Promise<number> {
    return failPendingMessages(this.db, { accountName, serviceName }, reason, now);
  }

  releaseHeld(accountName: string, serviceName: string, now: number): Promise<number> {
    return releaseHeldMessages(this.db, accountName, serviceName, now);
  }

  async cancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<number> {
    return cancelOpenMessages(this.db, { accountName, serviceName }, reason, now);
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
      where.push(`h.seq > (SELECT seq FROM messages WHERE id = $${values.length} LIMIT 1)`);
    }
    values.push(limit);
    const result = await this.db.query<{ id: string }>(
      `SELECT h.id FROM messages h LEFT JOIN queue q ON q.message_id = h.id
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY h.seq LIMIT $${values.length}`,
      values,
    );
    return result.rows.map((row) => row.id);
  }

  /**
   * Retention works in steps of the partition width: the retention task rounds its cutoffs down to
   * it, so every message past them is in a partition that goes whole.
   */
  get retentionStepMs(): number {
    return this.partitions.widthMs;
  }

  /**
   * Ended messages past their cutoffs go with their attempts and keys. Whole partitions first: each
   * partition that ends before the newest cutoff is detached (CONCURRENTLY) and dropped, after the
   * rows in it that must stay (open messages, and ended ones still within their own retention) were
   * moved to the partition that is dropped when they expire. Then, row by row in chunks, what is left
   * past the cutoffs in older partitions (none when the cutoffs are on the partition grid, as the
   * retention task gives them); then expired idempotency keys.
   */
  async purge(cutoffs: PurgeCutoffs): Promise<number> {
    const newest = Math.max(cutoffs.deliveredBefore, cutoffs.failedBefore);
    let total = await this.dropExpiredPartitions(cutoffs, newest);
    for (;;) {
      const result = await this.db.query({
        name: 'messages_purge',
        text: `WITH doomed AS (
                 SELECT part_at, id FROM messages WHERE part_at < $4 AND status <> 'pending'
                   AND ((status = 'delivered' AND updated_at < $1) OR (status IN (${FAILED_CUTOFF_STATUSES_SQL}) AND updated_at < $2))
                 LIMIT $3 FOR UPDATE SKIP LOCKED
               ), attempts_gone AS (
                 DELETE FROM attempts a USING doomed WHERE a.message_id = doomed.id AND a.part_at = doomed.part_at
               ), keys_gone AS (
                 DELETE FROM idempotency_keys WHERE message_id IN (SELECT id FROM doomed)
               )
               DELETE FROM messages h USING doomed WHERE h.id = doomed.id AND h.part_at = doomed.part_at`,
        values: [cutoffs.deliveredBefore, cutoffs.failedBefore, PURGE_CHUNK, newest],
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

  /**
   * Detaches and drops the history partitions that end before `newest`, one instance at a time (an
   * advisory lock; another instance purging meanwhile skips this part). Returns the rows dropped (as
   * PostgreSQL's statistics count them).
   */
  private async dropExpiredPartitions(cutoffs: PurgeCutoffs, newest: number): Promise<number> {
    const expired = (await listPartitions(this.db, 'messages')).filter((p) => p.to <= newest);
    const expiredAttempts = (await listPartitions(this.db, 'attempts')).filter((p) => p.to <= newest);
    if (expired.length === 0 && expiredAttempts.length === 0) return 0;
    const client = await this.db.pool.connect();
    let broken = false;
    let dropped = 0;
    try {
      const locked = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [RETENTION_LOCK]);
      if (!locked.rows[0].ok) return 0;
      // A move reads a whole partition and a detach waits for the queries using it: no statement
      // timeout on this connection meanwhile (it is set back before the connection goes back).
      await client.query('SET statement_timeout = 0');
      try {
        for (const partition of expired) {
          await this.moveSurvivors(client, partition, cutoffs, newest);
          if (!(await detach(client, 'messages', partition.name))) continue;
          // Rows that became survivors between the move and the detach (a replay) go back in.
          await this.moveSurvivors(client, partition, cutoffs, newest);
          dropped += await rowEstimate(client, partition.name);
          await client.query(`DROP TABLE ${quoteIdent(partition.name)}`);
        }
        // Attempts go with their messages: a partition of attempts whose range no remaining partition
        // of messages overlaps holds only attempts of dropped messages (those of moved ones moved too).
        const remaining = await listPartitions(this.db, 'messages');
        for (const partition of expiredAttempts) {
          if (remaining.some((m) => m.from < partition.to && partition.from < m.to)) continue;
          if (!(await detach(client, 'attempts', partition.name))) continue;
          await client.query(`DROP TABLE ${quoteIdent(partition.name)}`);
        }
      } finally {
        await client.query('RESET statement_timeout');
        await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK]);
      }
    } catch (error) {
      broken = true;
      throw classify(error);
    } finally {
      client.release(broken);
    }
    return dropped;
  }

  /**
   * Moves the rows of the partition `range` (of messages, attached or just detached) that must outlive
   * it: an open message to the partition of now, an ended one to the partition that is dropped when
   * its own retention ends (its last change plus the difference between the newest cutoff and its
   * status's). Their attempts and queue rows follow. Partitions missing for those times are made.
   */
  private async moveSurvivors(
    client: Queryable,
    range: PartitionRange,
    cutoffs: PurgeCutoffs,
    newest: number,
  ): Promise<number> {
    const source = range.name;
    // An open message goes to the partition of now, which is never one that expires here.
    const now = Math.max(this.clock(), newest);
    const survivor = `(h.status = 'pending' OR (h.status = 'delivered' AND h.updated_at >= $2)
      OR (h.status IN (${FAILED_CUTOFF_STATUSES_SQL}) AND h.updated_at >= $3))`;
    const target = `CASE WHEN h.status = 'pending' THEN $4::bigint
      WHEN h.status = 'delivered' THEN h.updated_at + ($1::bigint - $2::bigint)
      ELSE h.updated_at + ($1::bigint - $3::bigint) END`;
    const values = [newest, cutoffs.deliveredBefore, cutoffs.failedBefore, now, range.from, range.to];
    const targets = await client.query<{ at: number }>({
      text: `SELECT DISTINCT ${target} AS at FROM ${quoteIdent(source)} h
             WHERE h.part_at >= $5 AND h.part_at < $6 AND ${survivor}`,
      values,
      ...UNBOUNDED,
    });
    if (targets.rows.length === 0) return 0;
    await this.partitions.ensure(targets.rows.map((row) => row.at));
    const attached = source === 'messages' || (await isAttached(client, source));
    // Attached: the rows move within the partitioned table (an UPDATE of the partition key). Detached:
    // they are copied back into it and deleted from the detached table.
    const moved = attached
      ? `UPDATE messages h SET part_at = ${target} WHERE h.part_at >= $5 AND h.part_at < $6 AND ${survivor}
           AND h.tableoid = ${quoteLiteral(source)}::regclass RETURNING h.id, h.part_at`
      : `INSERT INTO messages (part_at, seq, id, account_name, service_name, idempotency_key, created_at, payload,
             max_attempts, status, attempts, reason, updated_at, delivered_at)
           SELECT ${target}, seq, id, account_name, service_name, idempotency_key, created_at, payload, max_attempts,
             status, attempts, reason, updated_at, delivered_at
           FROM ${quoteIdent(source)} h WHERE h.part_at >= $5 AND h.part_at < $6 AND ${survivor}
           RETURNING id, part_at`;
    const result = await client.query<{ n: number }>({
      text: `WITH moved AS (${moved}), attempts_moved AS (
         UPDATE attempts a SET part_at = moved.part_at FROM moved
         WHERE a.message_id = moved.id AND a.part_at >= $5 AND a.part_at < $6
       ), queue_moved AS (
         UPDATE queue q SET part_at = moved.part_at FROM moved WHERE q.message_id = moved.id
       )
       SELECT count(*)::int AS n FROM moved`,
      values,
      ...UNBOUNDED,
    });
    return result.rows[0].n;
  }
}

/** What an attempt recorded again replaces of the row recorded before. */
const ATTEMPT_UPSERT = `ON CONFLICT (message_id, attempt_number, part_at) DO UPDATE SET started_at = excluded.started_at,
  url = excluded.url, status_code = excluded.status_code, latency_ms = excluded.latency_ms,
  error = excluded.error, response_excerpt = excluded.response_excerpt, error_kind = excluded.error_kind`;

/** A unique violation of an attempts partition's primary key: that attempt was recorded before. */
function isAttemptRecorded(error: unknown): boolean {
  const { code, table } = error as { code?: string; table?: string };
  return code === '23505' && typeof table === 'string' && table.startsWith('attempts');
}

/** Held by the instance detaching and dropping partitions (any fixed number). */
const RETENTION_LOCK = 0x63636202;

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`;

async function isAttached(client: Queryable, table: string): Promise<boolean> {
  const result = await client.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_inherits WHERE inhrelid = $1::regclass',
    [table],
  );
  return result.rows[0].n > 0;
}

/**
 * DETACH PARTITION … CONCURRENTLY (outside any transaction: it waits for the queries that use the
 * partition instead of locking the parent ACCESS EXCLUSIVE). A detach that an interrupted run left
 * pending is finished; a partition already detached by another instance is left to it (false).
 */
async function detach(client: Queryable, parent: string, partition: string): Promise<boolean> {
  try {
    await client.query({
      text: `ALTER TABLE ${quoteIdent(parent)} DETACH PARTITION ${quoteIdent(partition)} CONCURRENTLY`,
      ...UNBOUNDED,
    });
    return true;
  } catch (error) {
    const message = String((error as Error).message);
    if (/pending detach/i.test(message)) {
      await client.query({
        text: `ALTER TABLE ${quoteIdent(parent)} DETACH PARTITION ${quoteIdent(partition)} FINALIZE`,
        ...UNBOUNDED,
      });
      return true;
    }
    if (/is not a partition|does not exist/i.test(message)) return false;
    throw error;
  }
}

/** Rows in a table as its statistics have them (an exact count when it has none yet). */
async function rowEstimate(client: Queryable, table: string): Promise<number> {
  const result = await client.query<{ n: number }>(
    'SELECT reltuples::bigint AS n FROM pg_class WHERE oid = $1::regclass',
    [table],
  );
  const estimate = Number(result.rows[0]?.n ?? -1);
  if (estimate >= 0) return estimate;
  const counted = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteIdent(table)}`);
  return counted.rows[0].n;
}

async function notify(client: Queryable): Promise<void> {
  await client.query(`SELECT pg_notify('${PUBLISHED_CHANNEL}', '')`);
}

/**
 * Ends a registration's queued messages: the queue rows go and each history row is written once, with
 * `status` and `reason`. `leased` says whether messages in flight end too (a deregistration) or keep
 * their attempt (a disabled registration).
 */
async function endQueuedMessages(
  db: Pick<Database, 'query'>,
  { accountName, serviceName }: RegistrationKey,
  end: { status: 'cancelled' | 'failed'; reason: string; now: number; leased: boolean },
): Promise<number> {
  const result = await db.query<{ n: number }>(
    `WITH gone AS (
       DELETE FROM queue WHERE account_name = $1 AND service_name = $2${end.leased ? '' : ' AND NOT leased'}
       RETURNING message_id, part_at, attempts
     ), written AS (
       UPDATE messages h SET status = $3, reason = $4, updated_at = $5, attempts = gone.attempts
       FROM gone WHERE h.id = gone.message_id AND h.part_at = gone.part_at
     )
     SELECT count(*)::int AS n FROM gone`,
    [accountName, serviceName, end.status, end.reason, end.now],
  );
  return result.rows[0].n;
}

/**
 * `MessageStore.cancelOpen` on any connection: the store's own, or the transaction of a
 * deregistration (`PostgresRegistrationStore.removeAndCancelOpen`).
 */
export function cancelOpenMessages(
  db: Pick<Database, 'query'>,
  key: RegistrationKey,
  reason: string,
  now: number,
): Promise<number> {
  return endQueuedMessages(db, key, { status: 'cancelled', reason, now, leased: true });
}

/** A disabled registration's pending messages (held ones too) fail; those in flight keep their attempt. */
function failPendingMessages(
  db: Pick<Database, 'query'>,
  key: RegistrationKey,
  reason: string,
  now: number,
): Promise<number> {
  return endQueuedMessages(db, key, { status: 'failed', reason, now, leased: false });
}
