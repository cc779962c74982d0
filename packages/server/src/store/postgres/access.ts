import { decodeSeqCursor, encodeSeqCursor } from '../cursor.js';
import type { AccessStore, ApiKeyRecord, AuditFilter, AuditRecord, PortalSessionRecord } from '../types.js';
import type { Database } from './database.js';

interface KeyRow {
  id: string;
  name: string;
  key_hash: string;
  scopes: string[];
  accounts: string[] | null;
  expires_at: number | null;
  created_at: number;
  revoked_at: number | null;
}

interface PortalSessionRow {
  token_hash: string;
  kind: 'portal-link' | 'portal-user';
  name: string;
  username: string | null;
  accounts: string[];
  expires_at: number;
  ends_at: number;
}

interface AuditRow {
  seq: number;
  id: string;
  at: number;
  actor_kind: string;
  actor_name: string;
  address: string;
  action: string;
  method: string;
  route: string;
  account_name: string | null;
  target: string | null;
  summary: string;
  status_code: number;
  outcome: AuditRecord['outcome'];
  error_code: string | null;
}

function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    keyHash: row.key_hash,
    scopes: row.scopes,
    accounts: row.accounts,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

function toSession(row: PortalSessionRow): PortalSessionRecord {
  return {
    tokenHash: row.token_hash,
    kind: row.kind,
    name: row.name,
    username: row.username,
    accounts: row.accounts,
    expiresAt: row.expires_at,
    endsAt: row.ends_at,
  };
}

function toAudit(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    at: row.at,
    actorKind: row.actor_kind,
    actorName: row.actor_name,
    address: row.address,
    action: row.action,
    method: row.method,
    route: row.route,
    accountName: row.account_name,
    target: row.target,
    summary: row.summary,
    statusCode: row.status_code,
    outcome: row.outcome,
    errorCode: row.error_code,
  };
}

/** API keys, portal links and sessions, shared attempt counters and the audit log on PostgreSQL. */
export class PostgresAccessStore implements AccessStore {
  constructor(private readonly db: Database) {}

  async insertKey(key: ApiKeyRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO api_keys (id, name, key_hash, scopes, accounts, expires_at, created_at, revoked_at)
       VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8)`,
      [
        key.id,
        key.name,
        key.keyHash,
        JSON.stringify(key.scopes),
        key.accounts === null ? null : JSON.stringify(key.accounts),
        key.expiresAt,
        key.createdAt,
        key.revokedAt,
      ],
    );
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    const result = await this.db.query<KeyRow>('SELECT * FROM api_keys ORDER BY created_at DESC, id DESC');
    return result.rows.map(toKey);
  }

  async getKeyByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const result = await this.db.query<KeyRow>({
      name: 'access_key_by_hash',
      text: 'SELECT * FROM api_keys WHERE key_hash = $1',
      values: [keyHash],
    });
    return result.rows[0] ? toKey(result.rows[0]) : null;
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
    await this.db.query(
      `INSERT INTO portal_sessions (token_hash, kind, name, username, accounts, expires_at, ends_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`,
      [
        session.tokenHash,
        session.kind,
        session.name,
        session.username,
        JSON.stringify(session.accounts),
        session.expiresAt,
        session.endsAt,
      ],
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

  async appendAudit(entry: AuditRecord): Promise<void> {
    await this.db.query({
      name: 'access_append_audit',
      text: `INSERT INTO audit_log (id, at, actor_kind, actor_name, address, action, method, route, account_name, target,
               summary, status_code, outcome, error_code)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      values: [
        entry.id,
        entry.at,
        entry.actorKind,
        entry.actorName,
        entry.address,
        entry.action,
        entry.method,
        entry.route,
        entry.accountName,
        entry.target,
        entry.summary,
        entry.statusCode,
        entry.outcome,
        entry.errorCode,
      ],
    });
  }

  async listAudit(
    filter: AuditFilter,
    limit: number,
    cursor: string | null,
  ): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    const terms: string[] = [];
    const values: unknown[] = [];
    const term = (sql: (n: string) => string, value: unknown) => {
      values.push(value);
      terms.push(sql(`$${values.length}`));
    };
    if (cursor !== null) term((n) => `seq < ${n}::bigint`, decodeSeqCursor(cursor));
    if (filter.actorName !== undefined) term((n) => `actor_name = ${n}`, filter.actorName);
    if (filter.action !== undefined) term((n) => `action = ${n}`, filter.action);
    if (filter.accountName !== undefined) term((n) => `account_name = ${n}`, filter.accountName);
    if (filter.target !== undefined) term((n) => `target = ${n}`, filter.target);
    if (filter.since !== undefined) term((n) => `at >= ${n}`, filter.since);
    if (filter.until !== undefined) term((n) => `at < ${n}`, filter.until);
    if (filter.accounts) term((n) => `account_name = ANY(${n}::text[])`, filter.accounts);
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
