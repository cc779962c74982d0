import { TurnGroups, type Waiting } from '../../common/turn-groups.js';
import { decodeSeqCursor, encodeSeqCursor } from '../cursor.js';
import {
  AUDIT_COLUMNS,
  type AuditRow,
  auditFilterTerms,
  auditRow,
  insertSql,
  KEY_COLUMNS,
  type KeyRow,
  keyRow,
  type PortalSessionRow,
  SESSION_COLUMNS,
  sessionRow,
  toAudit,
  toKey,
  toSession,
} from '../rows.js';
import type { AccessStore, ApiKeyRecord, AuditFilter, AuditRecord, PortalSessionRecord } from '../types.js';
import type { Database } from './database.js';

/** `$1`, `$2`, … */
const pgPlaceholder = (_column: string, index: number) => `$${index + 1}`;

/** The array type each audit column is sent as, for the grouped insert. */
const AUDIT_ARRAY_TYPES: Record<(typeof AUDIT_COLUMNS)[number], string> = {
  id: 'text[]',
  at: 'bigint[]',
  actor_kind: 'text[]',
  actor_name: 'text[]',
  address: 'text[]',
  action: 'text[]',
  method: 'text[]',
  route: 'text[]',
  account_name: 'text[]',
  target: 'text[]',
  summary: 'text[]',
  status_code: 'integer[]',
  outcome: 'text[]',
  error_code: 'text[]',
};

/** Every audit entry of a group in one statement: one array parameter per column. */
const APPEND_AUDIT_SQL = `INSERT INTO audit_log (${AUDIT_COLUMNS.join(', ')})
  SELECT * FROM unnest(${AUDIT_COLUMNS.map((column, i) => `$${i + 1}::${AUDIT_ARRAY_TYPES[column]}`).join(', ')})`;

/** Grouped key lookups in flight at once; lookups asked meanwhile wait for the next group. */
const KEY_LOOKUPS_IN_FLIGHT = 2;

/** Grouped audit inserts in flight at once; entries appended meanwhile wait for the next group. */
const AUDIT_INSERTS_IN_FLIGHT = 2;

/** API keys, portal links and sessions, shared attempt counters and the audit log on PostgreSQL. */
export class PostgresAccessStore implements AccessStore {
  /** Audit entries of one event-loop turn, inserted by one statement. */
  private readonly auditGroups = new TurnGroups<AuditRecord, void>(
    async (group) => this.insertAudit(group),
    AUDIT_INSERTS_IN_FLIGHT,
  );

  /** The key lookups of one event-loop turn (concurrent requests with API keys), answered by one query. */
  private readonly keyLookups = new TurnGroups<string, ApiKeyRecord | null>(async (group) => {
    const result = await this.db.query<KeyRow>({
      name: 'access_keys_by_hash',
      text: 'SELECT * FROM api_keys WHERE key_hash = ANY($1::text[])',
      values: [[...new Set(group.map((entry) => entry.input))]],
    });
    const found = new Map(result.rows.map((row) => [row.key_hash, row]));
    for (const entry of group) {
      const row = found.get(entry.input);
      entry.resolve(row ? toKey(row) : null);
    }
  }, KEY_LOOKUPS_IN_FLIGHT);

  constructor(private readonly db: Database) {}

  async insertKey(key: ApiKeyRecord): Promise<void> {
    const row = keyRow(key);
    await this.db.query(
      insertSql('api_keys', KEY_COLUMNS, pgPlaceholder),
      KEY_COLUMNS.map((column) => row[column]),
    );
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    const result = await this.db.query<KeyRow>('SELECT * FROM api_keys ORDER BY created_at DESC, id DESC');
    return result.rows.map(toKey);
  }

  getKeyByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    return this.keyLookups.add(keyHash);
  }

  async revokeKey(id: string, now: number): Promise<ApiKeyRecord | null> {
    const result = await this.db.query<KeyRow>(
      'UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING *',
      [id, now],
    );
    return result.rows[0] ? toKey(result.rows[0]) : null;
  }

  async insertPortalLink(link: {
    tokenHash: string;
    accountName: string;
    createdBy: string;
    createdAt: number;
    expiresAt: number;
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO portal_links (token_hash, account_name, created_by, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [link.tokenHash, link.accountName, link.createdBy, link.createdAt, link.expiresAt],
    );
  }

  async consumePortalLink(tokenHash: string, now: number): Promise<{ accountName: string } | null> {
    const result = await this.db.query<{ account_name: string }>(
      `UPDATE portal_links SET used_at = $2
       WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING account_name`,
      [tokenHash, now],
    );
    return result.rows[0] ? { accountName: result.rows[0].account_name } : null;
  }

  async savePortalSession(session: PortalSessionRecord): Promise<void> {
    const row = sessionRow(session);
    await this.db.query(
      insertSql('portal_sessions', SESSION_COLUMNS, pgPlaceholder),
      SESSION_COLUMNS.map((column) => row[column]),
    );
  }

  async getPortalSession(tokenHash: string): Promise<PortalSessionRecord | null> {
    const result = await this.db.query<PortalSessionRow>({
      name: 'access_portal_session',
      text: 'SELECT * FROM portal_sessions WHERE token_hash = $1',
      values: [tokenHash],
    });
    return result.rows[0] ? toSession(result.rows[0]) : null;
  }

  async touchPortalSession(tokenHash: string, expiresAt: number): Promise<void> {
    await this.db.query('UPDATE portal_sessions SET expires_at = greatest(expires_at, $2) WHERE token_hash = $1', [
      tokenHash,
      expiresAt,
    ]);
  }

  async deletePortalSession(tokenHash: string): Promise<boolean> {
    const result = await this.db.query('DELETE FROM portal_sessions WHERE token_hash = $1', [tokenHash]);
    return (result.rowCount ?? 0) > 0;
  }

  async deleteUserPortalSessions(username: string): Promise<number> {
    const result = await this.db.query('DELETE FROM portal_sessions WHERE username = $1', [username]);
    return result.rowCount ?? 0;
  }

  async countAttempt(key: string, now: number, windowMs: number): Promise<{ attempts: number; windowEndsAt: number }> {
    const result = await this.db.query<{ attempts: number; window_ends_at: number }>({
      name: 'access_count_attempt',
      text: `INSERT INTO attempt_counters AS c (key, window_ends_at, attempts) VALUES ($1, $3, 1)
             ON CONFLICT (key) DO UPDATE SET
               attempts = CASE WHEN c.window_ends_at <= $2 THEN 1 ELSE c.attempts + 1 END,
               window_ends_at = CASE WHEN c.window_ends_at <= $2 THEN $3 ELSE c.window_ends_at END
             RETURNING attempts, window_ends_at`,
      values: [key, now, now + windowMs],
    });
    const row = result.rows[0];
    return { attempts: row.attempts, windowEndsAt: row.window_ends_at };
  }

  async releaseAttempt(key: string, now: number): Promise<void> {
    await this.db.query(
      'UPDATE attempt_counters SET attempts = attempts - 1 WHERE key = $1 AND window_ends_at > $2 AND attempts > 0',
      [key, now],
    );
  }

  appendAudit(entry: AuditRecord): Promise<void> {
    return this.auditGroups.add(entry);
  }

  private async insertAudit(group: Waiting<AuditRecord, void>[]): Promise<void> {
    const rows = group.map((entry) => auditRow(entry.input));
    const values = AUDIT_COLUMNS.map((column) => rows.map((row) => row[column]));
    try {
      await this.db.query({ name: 'access_append_audit', text: APPEND_AUDIT_SQL, values });
      for (const entry of group) entry.resolve();
    } catch (error) {
      // A failing database fails them all alike; a bad entry (a data or constraint error, SQLSTATE
      // class 22 or 23) must not fail the others: each again on its own.
      const code = String((error as { code?: unknown }).code ?? '');
      if (group.length === 1 || !(code.startsWith('22') || code.startsWith('23'))) throw error;
      await Promise.all(group.map((entry) => this.insertAudit([entry]).catch((single) => entry.reject(single))));
    }
  }

  async listAudit(
    filter: AuditFilter,
    limit: number,
    cursor: string | null,
  ): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    const values: unknown[] = [];
    const bind = (value: unknown) => {
      values.push(value);
      return `$${values.length}`;
    };
    const terms = auditFilterTerms(
      filter,
      cursor === null ? null : Number(decodeSeqCursor(cursor)),
      bind,
      (column, list) => `${column} = ANY(${bind(list)}::text[])`,
    );
    values.push(limit + 1);
    const where = terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '';
    const result = await this.db.query<AuditRow>(
      `SELECT * FROM audit_log ${where} ORDER BY seq DESC LIMIT $${values.length}`,
      values,
    );
    const more = result.rows.length > limit;
    const page = more ? result.rows.slice(0, limit) : result.rows;
    return { items: page.map(toAudit), nextCursor: more ? encodeSeqCursor(page[page.length - 1].seq) : null };
  }

  async purge(auditBefore: number, now: number): Promise<number> {
    let removed = 0;
    for (const [sql, values] of [
      ['DELETE FROM audit_log WHERE at < $1', [auditBefore]],
      ['DELETE FROM portal_links WHERE used_at IS NOT NULL OR expires_at <= $1', [now]],
      ['DELETE FROM portal_sessions WHERE expires_at <= $1 OR ends_at <= $1', [now]],
      ['DELETE FROM attempt_counters WHERE window_ends_at <= $1', [now]],
    ] as const) {
      removed += (await this.db.query(sql, [...values])).rowCount ?? 0;
    }
    return removed;
  }
}
