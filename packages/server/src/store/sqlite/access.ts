import type { Database, Statement } from 'better-sqlite3';
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
import { turnCommit, turnRead } from './turn-commit.js';

/** `@column`, bound from the row object. */
const namedPlaceholder = (column: string) => `@${column}`;

/** API keys, portal links and sessions, shared attempt counters and the audit log on SQLite. */
export class SqliteAccessStore implements AccessStore {
  private readonly statements: {
    insertKey: Statement<[KeyRow]>;
    listKeys: Statement<[], KeyRow>;
    keyByHash: Statement<[string], KeyRow>;
    revokeKey: Statement<[{ id: string; now: number }], KeyRow>;
    insertLink: Statement<[Record<string, unknown>]>;
    consumeLink: Statement<[{ hash: string; now: number }], { account_name: string }>;
    saveSession: Statement<[PortalSessionRow]>;
    getSession: Statement<[string], PortalSessionRow>;
    touchSession: Statement<[{ hash: string; expires: number }]>;
    deleteSession: Statement<[string]>;
    deleteUserSessions: Statement<[string]>;
    countAttempt: Statement<[{ key: string; now: number; ends: number }], { attempts: number; window_ends_at: number }>;
    releaseAttempt: Statement<[{ key: string; now: number }]>;
    appendAudit: Statement<[Omit<AuditRow, 'seq'>]>;
  };
  /** Key lookups (concurrent requests with API keys), a turn at a time in one read transaction. */
  private readonly keyByHash: (keyHash: string) => Promise<ApiKeyRecord | null>;
  /** Audit entries of one event-loop turn, committed in one transaction. */
  private readonly appendAuditInTurn: (entry: AuditRecord) => Promise<void>;

  constructor(private readonly db: Database) {
    this.statements = {
      insertKey: db.prepare(insertSql('api_keys', KEY_COLUMNS, namedPlaceholder)),
      listKeys: db.prepare('SELECT * FROM api_keys ORDER BY created_at DESC, id DESC'),
      keyByHash: db.prepare('SELECT * FROM api_keys WHERE key_hash = ?'),
      revokeKey: db.prepare('UPDATE api_keys SET revoked_at = coalesce(revoked_at, @now) WHERE id = @id RETURNING *'),
      insertLink: db.prepare(
        `INSERT INTO portal_links (token_hash, account_name, created_by, created_at, expires_at)
         VALUES (@tokenHash, @accountName, @createdBy, @createdAt, @expiresAt)`,
      ),
      consumeLink: db.prepare(
        `UPDATE portal_links SET used_at = @now
         WHERE token_hash = @hash AND used_at IS NULL AND expires_at > @now RETURNING account_name`,
      ),
      saveSession: db.prepare(insertSql('portal_sessions', SESSION_COLUMNS, namedPlaceholder)),
      getSession: db.prepare('SELECT * FROM portal_sessions WHERE token_hash = ?'),
      touchSession: db.prepare(
        'UPDATE portal_sessions SET expires_at = max(expires_at, @expires) WHERE token_hash = @hash',
      ),
      deleteSession: db.prepare('DELETE FROM portal_sessions WHERE token_hash = ?'),
      deleteUserSessions: db.prepare('DELETE FROM portal_sessions WHERE username = ?'),
      countAttempt: db.prepare(
        `INSERT INTO attempt_counters (key, window_ends_at, attempts) VALUES (@key, @ends, 1)
         ON CONFLICT (key) DO UPDATE SET
           attempts = CASE WHEN window_ends_at <= @now THEN 1 ELSE attempts + 1 END,
           window_ends_at = CASE WHEN window_ends_at <= @now THEN @ends ELSE window_ends_at END
         RETURNING attempts, window_ends_at`,
      ),
      releaseAttempt: db.prepare(
        'UPDATE attempt_counters SET attempts = attempts - 1 WHERE key = @key AND window_ends_at > @now AND attempts > 0',
      ),
      appendAudit: db.prepare(insertSql('audit_log', AUDIT_COLUMNS, namedPlaceholder)),
    };
    this.keyByHash = turnRead(db, (keyHash: string) => {
      const row = this.statements.keyByHash.get(keyHash);
      return row ? toKey(row) : null;
    });
    this.appendAuditInTurn = turnCommit(db, (entry: AuditRecord) => {
      this.statements.appendAudit.run(auditRow(entry));
    });
  }

  async insertKey(key: ApiKeyRecord): Promise<void> {
    this.statements.insertKey.run(keyRow(key));
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return this.statements.listKeys.all().map(toKey);
  }

  getKeyByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    return this.keyByHash(keyHash);
  }

  async revokeKey(id: string, now: number): Promise<ApiKeyRecord | null> {
    const row = this.statements.revokeKey.get({ id, now });
    return row ? toKey(row) : null;
  }

  async insertPortalLink(link: {
    tokenHash: string;
    accountName: string;
    createdBy: string;
    createdAt: number;
    expiresAt: number;
  }): Promise<void> {
    this.statements.insertLink.run(link);
  }

  async consumePortalLink(tokenHash: string, now: number): Promise<{ accountName: string } | null> {
    const row = this.statements.consumeLink.get({ hash: tokenHash, now });
    return row ? { accountName: row.account_name } : null;
  }

  async savePortalSession(session: PortalSessionRecord): Promise<void> {
    this.statements.saveSession.run(sessionRow(session));
  }

  async getPortalSession(tokenHash: string): Promise<PortalSessionRecord | null> {
    const row = this.statements.getSession.get(tokenHash);
    return row ? toSession(row) : null;
  }

  async touchPortalSession(tokenHash: string, expiresAt: number): Promise<void> {
    this.statements.touchSession.run({ hash: tokenHash, expires: expiresAt });
  }

  async deletePortalSession(tokenHash: string): Promise<boolean> {
    return this.statements.deleteSession.run(tokenHash).changes > 0;
  }

  async deleteUserPortalSessions(username: string): Promise<number> {
    return this.statements.deleteUserSessions.run(username).changes;
  }

  async countAttempt(key: string, now: number, windowMs: number): Promise<{ attempts: number; windowEndsAt: number }> {
    const row = this.statements.countAttempt.get({ key, now, ends: now + windowMs });
    if (!row) throw new Error('the attempt counter returned no row');
    return { attempts: row.attempts, windowEndsAt: row.window_ends_at };
  }

  async releaseAttempt(key: string, now: number): Promise<void> {
    this.statements.releaseAttempt.run({ key, now });
  }

  appendAudit(entry: AuditRecord): Promise<void> {
    return this.appendAuditInTurn(entry);
  }

  async listAudit(
    filter: AuditFilter,
    limit: number,
    cursor: string | null,
  ): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    const values: unknown[] = [];
    const bind = (value: unknown) => {
      values.push(value);
      return '?';
    };
    const terms = auditFilterTerms(
      filter,
      cursor === null ? null : Number(decodeSeqCursor(cursor)),
      bind,
      (column, list) => `${column} IN (SELECT value FROM json_each(${bind(JSON.stringify(list))}))`,
    );
    const where = terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '';
    const rows = this.db
      .prepare(`SELECT * FROM audit_log ${where} ORDER BY seq DESC LIMIT ?`)
      .all(...values, limit + 1) as AuditRow[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return { items: page.map(toAudit), nextCursor: more ? encodeSeqCursor(page[page.length - 1].seq) : null };
  }

  async purge(auditBefore: number, now: number): Promise<number> {
    return this.db.transaction(() => {
      let removed = this.db.prepare('DELETE FROM audit_log WHERE at < ?').run(auditBefore).changes;
      removed += this.db
        .prepare('DELETE FROM portal_links WHERE used_at IS NOT NULL OR expires_at <= ?')
        .run(now).changes;
      removed += this.db
        .prepare('DELETE FROM portal_sessions WHERE expires_at <= ? OR ends_at <= ?')
        .run(now, now).changes;
      removed += this.db.prepare('DELETE FROM attempt_counters WHERE window_ends_at <= ?').run(now).changes;
      return removed;
    })();
  }
}
