import { type ClientRow, toClient, toUser, type UserRow } from '../rows.js';
import type { AccessToken, AuthStore, OAuthClient, Session, User } from '../types.js';
import type { Database } from './database.js';

type NewUser = Omit<User, 'failedLogins' | 'lockedUntil'>;
const userValues = (u: NewUser) => [u.username, u.passwordHash, JSON.stringify(u.accounts), u.createdAt];

/** OAuth clients, users, access tokens and sessions on PostgreSQL. Tokens are stored only as hashes. */
export class PostgresAuthStore implements AuthStore {
  constructor(private readonly db: Database) {}

  async createClient(client: OAuthClient): Promise<boolean> {
    const result = await this.db.query(
      `INSERT INTO oauth_clients (client_id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (client_id) DO NOTHING`,
      [client.clientId, client.name, client.secretHash, client.createdAt],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async getClient(clientId: string): Promise<OAuthClient | null> {
    const result = await this.db.query<ClientRow>({
      name: 'auth_get_client',
      text: 'SELECT * FROM oauth_clients WHERE client_id = $1',
      values: [clientId],
    });
    return result.rows[0] ? toClient(result.rows[0]) : null;
  }

  async upsertUser(user: NewUser): Promise<void> {
    // Replacing a user keeps nothing of the old one: a fresh password also clears a lockout.
    await this.db.query(
      `INSERT INTO users (username, password_hash, accounts, failed_logins, locked_until, created_at)
       VALUES ($1, $2, $3::jsonb, 0, NULL, $4)
       ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, accounts = excluded.accounts,
         failed_logins = 0, locked_until = NULL`,
      userValues(user),
    );
  }

  async insertUserIfMissing(user: NewUser): Promise<boolean> {
    const result = await this.db.query(
      `INSERT INTO users (username, password_hash, accounts, failed_logins, locked_until, created_at)
       VALUES ($1, $2, $3::jsonb, 0, NULL, $4) ON CONFLICT (username) DO NOTHING`,
      userValues(user),
    );
    return (result.rowCount ?? 0) > 0;
  }

  async getUser(username: string): Promise<User | null> {
    const result = await this.db.query<UserRow>({
      name: 'auth_get_user',
      text: 'SELECT * FROM users WHERE username = $1',
      values: [username],
    });
    return result.rows[0] ? toUser(result.rows[0]) : null;
  }

  async reserveLoginAttempt(
    username: string,
    now: number,
    maxAttempts: number,
  ): Promise<{ user: User; admitted: boolean } | null> {
    // One UPDATE is atomic across connections and instances: no attempt can slip in between. A
    // lockout that has ended counts from zero again.
    const counted = await this.db.query<UserRow>(
      `UPDATE users SET
         failed_logins = CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END,
         locked_until = NULL, login_reserved_at = $3::bigint
       WHERE username = $1 AND (locked_until <= $3::bigint OR (locked_until IS NULL AND failed_logins < $2::int))
       RETURNING *`,
      [username, maxAttempts, now],
    );
    if (counted.rows[0]) return { user: toUser(counted.rows[0]), admitted: true };
    const user = await this.getUser(username);
    return user ? { user, admitted: false } : null;
  }

  async lockFailedLogins(
    username: string,
    maxAttempts: number,
    lockUntil: number,
    reservedBefore = Number.MAX_SAFE_INTEGER,
  ): Promise<User | null> {
    const locked = await this.db.query<UserRow>(
      `UPDATE users SET locked_until = $3::bigint
       WHERE username = $1 AND locked_until IS NULL AND failed_logins >= $2::int
         AND coalesce(login_reserved_at, 0) < $4::bigint
       RETURNING *`,
      [username, maxAttempts, lockUntil, reservedBefore],
    );
    return locked.rows[0] ? toUser(locked.rows[0]) : this.getUser(username);
  }

  async listUsers(): Promise<User[]> {
    return (await this.db.query<UserRow>('SELECT * FROM users ORDER BY username COLLATE "C"')).rows.map(toUser);
  }

  async updateUser(username: string, changes: { passwordHash?: string; accounts?: string[] }): Promise<User | null> {
    // A new password also clears a lockout.
    const result = await this.db.query<UserRow>(
      `UPDATE users SET password_hash = coalesce($2, password_hash), accounts = coalesce($3::jsonb, accounts),
         failed_logins = CASE WHEN $2::text IS NULL THEN failed_logins ELSE 0 END,
         locked_until = CASE WHEN $2::text IS NULL THEN locked_until ELSE NULL END
       WHERE username = $1 RETURNING *`,
      [username, changes.passwordHash ?? null, changes.accounts ? JSON.stringify(changes.accounts) : null],
    );
    return result.rows[0] ? toUser(result.rows[0]) : null;
  }

  async deleteUser(username: string): Promise<boolean> {
    const result = await this.db.query<{ n: number }>(
      `WITH s AS (DELETE FROM sessions WHERE username = $1), u AS (DELETE FROM users WHERE username = $1 RETURNING 1)
       SELECT count(*) AS n FROM u`,
      [username],
    );
    return Number(result.rows[0].n) > 0;
  }

  async deleteUserSessions(username: string): Promise<number> {
    return (await this.db.query('DELETE FROM sessions WHERE username = $1', [username])).rowCount ?? 0;
  }

  async listClients(): Promise<OAuthClient[]> {
    return (await this.db.query<ClientRow>('SELECT * FROM oauth_clients ORDER BY client_id COLLATE "C"')).rows.map(
      toClient,
    );
  }

  async replaceClientSecret(clientId: string, secretHash: string): Promise<boolean> {
    // A new secret revokes the client's access tokens, in the same statement.
    const result = await this.db.query<{ n: number }>(
      `WITH c AS (UPDATE oauth_clients SET secret_hash = $2 WHERE client_id = $1 RETURNING 1),
            t AS (DELETE FROM access_tokens WHERE client_id = $1 AND EXISTS (SELECT 1 FROM c))
       SELECT count(*) AS n FROM c`,
      [clientId, secretHash],
    );
    return Number(result.rows[0].n) > 0;
  }

  async deleteClient(clientId: string): Promise<boolean> {
    const result = await this.db.query<{ n: number }>(
      `WITH t AS (DELETE FROM access_tokens WHERE client_id = $1), s AS (DELETE FROM sessions WHERE client_id = $1),
            c AS (DELETE FROM oauth_clients WHERE client_id = $1 RETURNING 1)
       SELECT count(*) AS n FROM c`,
      [clientId],
    );
    return Number(result.rows[0].n) > 0;
  }

  async resetFailedLogins(username: string): Promise<void> {
    await this.db.query('UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = $1', [username]);
  }

  async saveAccessToken(token: AccessToken): Promise<void> {
    await this.db.query({
      name: 'auth_save_token',
      text: `INSERT INTO access_tokens (token_hash, client_id, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (token_hash) DO UPDATE SET client_id = excluded.client_id, expires_at = excluded.expires_at`,
      values: [token.tokenHash, token.clientId, token.expiresAt],
    });
  }

  async getAccessToken(tokenHash: string): Promise<AccessToken | null> {
    const result = await this.db.query<{ token_hash: string; client_id: string; expires_at: number }>({
      name: 'auth_get_token',
      text: 'SELECT * FROM access_tokens WHERE token_hash = $1',
      values: [tokenHash],
    });
    const row = result.rows[0];
    return row ? { tokenHash: row.token_hash, clientId: row.client_id, expiresAt: row.expires_at } : null;
  }

  async saveSession(session: Session): Promise<void> {
    await this.db.query(
      `INSERT INTO sessions (token_hash, username, client_id, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (token_hash) DO UPDATE SET username = excluded.username, client_id = excluded.client_id,
         expires_at = excluded.expires_at`,
      [session.tokenHash, session.username, session.clientId, session.expiresAt],
    );
  }

  async getSession(tokenHash: string): Promise<Session | null> {
    const result = await this.db.query<{ token_hash: string; username: string; client_id: string; expires_at: number }>(
      { name: 'auth_get_session', text: 'SELECT * FROM sessions WHERE token_hash = $1', values: [tokenHash] },
    );
    const row = result.rows[0];
    return row
      ? { tokenHash: row.token_hash, username: row.username, clientId: row.client_id, expiresAt: row.expires_at }
      : null;
  }

  async touchSession(tokenHash: string, expiresAt: number): Promise<void> {
    await this.db.query('UPDATE sessions SET expires_at = $2 WHERE token_hash = $1', [tokenHash, expiresAt]);
  }

  async deleteSession(tokenHash: string): Promise<boolean> {
    const result = await this.db.query('DELETE FROM sessions WHERE token_hash = $1', [tokenHash]);
    return (result.rowCount ?? 0) > 0;
  }

  async purgeExpired(now: number): Promise<number> {
    const result = await this.db.query<{ n: number }>(
      `WITH t AS (DELETE FROM access_tokens WHERE expires_at <= $1 RETURNING 1),
            s AS (DELETE FROM sessions WHERE expires_at <= $1 RETURNING 1)
       SELECT (SELECT count(*) FROM t) + (SELECT count(*) FROM s) AS n`,
      [now],
    );
    return Number(result.rows[0].n);
  }
}
