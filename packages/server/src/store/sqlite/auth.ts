import type { Database, Statement } from 'better-sqlite3';
import { type ClientRow, toClient, toUser, type UserRow } from '../rows.js';
import type { AccessToken, AuthStore, OAuthClient, Session, User } from '../types.js';
import { writeTransaction } from './transaction.js';

interface TokenRow {
  token_hash: string;
  client_id: string;
  expires_at: number;
}

interface SessionRow extends TokenRow {
  username: string;
}

/** OAuth clients, users, access tokens and sessions on SQLite. Tokens are stored only as hashes. */
export class SqliteAuthStore implements AuthStore {
  private readonly statements: {
    insertClient: Statement<[ClientRow]>;
    getClient: Statement<[string], ClientRow>;
    upsertUser: Statement<[Omit<UserRow, 'failed_logins' | 'locked_until'>]>;
    insertUser: Statement<[Omit<UserRow, 'failed_logins' | 'locked_until'>]>;
    getUser: Statement<[string], UserRow>;
    countAttempt: Statement<[{ username: string; max: number; now: number }], UserRow>;
    lockLogins: Statement<[{ username: string; max: number; lockUntil: number; reservedBefore: number }], UserRow>;
    resetLogins: Statement<[string]>;
    listUsers: Statement<[], UserRow>;
    updateUser: Statement<[{ username: string; password_hash: string | null; accounts: string | null }], UserRow>;
    deleteUser: Statement<[string]>;
    deleteUserSessions: Statement<[string]>;
    listClients: Statement<[], ClientRow>;
    replaceSecret: Statement<[string, string]>;
    deleteClient: Statement<[string]>;
    deleteClientTokens: Statement<[string]>;
    deleteClientSessions: Statement<[string]>;
    insertToken: Statement<[TokenRow]>;
    getToken: Statement<[string], TokenRow>;
    insertSession: Statement<[SessionRow]>;
    getSession: Statement<[string], SessionRow>;
    touchSession: Statement<[number, string]>;
    deleteSession: Statement<[string]>;
    purgeTokens: Statement<[number]>;
    purgeSessions: Statement<[number]>;
  };

  private readonly deleteUserTx: (username: string) => boolean;
  private readonly replaceSecretTx: (clientId: string, secretHash: string) => boolean;
  private readonly deleteClientTx: (clientId: string) => boolean;

  constructor(private readonly db: Database) {
    this.statements = {
      insertClient: db.prepare(
        `INSERT INTO oauth_clients (client_id, name, secret_hash, created_at) VALUES (@client_id, @name, @secret_hash, @created_at)
         ON CONFLICT (client_id) DO NOTHING`,
      ),
      getClient: db.prepare('SELECT * FROM oauth_clients WHERE client_id = ?'),
      // Replacing a user keeps nothing of the old one: a fresh password also clears a lockout.
      upsertUser: db.prepare(
        `INSERT INTO users (username, password_hash, accounts, failed_logins, locked_until, created_at)
         VALUES (@username, @password_hash, @accounts, 0, NULL, @created_at)
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
           accounts = excluded.accounts, failed_logins = 0, locked_until = NULL`,
      ),
      insertUser: db.prepare(
        `INSERT INTO users (username, password_hash, accounts, failed_logins, locked_until, created_at)
         VALUES (@username, @password_hash, @accounts, 0, NULL, @created_at)
         ON CONFLICT (username) DO NOTHING`,
      ),
      getUser: db.prepare('SELECT * FROM users WHERE username = ?'),
      // A lockout that has ended counts from zero again.
      countAttempt: db.prepare(
        `UPDATE users SET
           failed_logins = CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END,
           locked_until = NULL, login_reserved_at = @now
         WHERE username = @username AND (locked_until <= @now OR (locked_until IS NULL AND failed_logins < @max))
         RETURNING *`,
      ),
      lockLogins: db.prepare(
        `UPDATE users SET locked_until = @lockUntil
         WHERE username = @username AND locked_until IS NULL AND failed_logins >= @max
           AND coalesce(login_reserved_at, 0) < @reservedBefore
         RETURNING *`,
      ),
      resetLogins: db.prepare('UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = ?'),
      listUsers: db.prepare('SELECT * FROM users ORDER BY username'),
      updateUser: db.prepare(
        `UPDATE users SET password_hash = coalesce(@password_hash, password_hash),
           accounts = coalesce(@accounts, accounts),
           failed_logins = CASE WHEN @password_hash IS NULL THEN failed_logins ELSE 0 END,
           locked_until = CASE WHEN @password_hash IS NULL THEN locked_until ELSE NULL END
         WHERE username = @username RETURNING *`,
      ),
      deleteUser: db.prepare('DELETE FROM users WHERE username = ?'),
      deleteUserSessions: db.prepare('DELETE FROM sessions WHERE username = ?'),
      listClients: db.prepare('SELECT * FROM oauth_clients ORDER BY client_id'),
      replaceSecret: db.prepare('UPDATE oauth_clients SET secret_hash = ? WHERE client_id = ?'),
      deleteClient: db.prepare('DELETE FROM oauth_clients WHERE client_id = ?'),
      deleteClientTokens: db.prepare('DELETE FROM access_tokens WHERE client_id = ?'),
      deleteClientSessions: db.prepare('DELETE FROM sessions WHERE client_id = ?'),
      insertToken: db.prepare(
        'INSERT OR REPLACE INTO access_tokens (token_hash, client_id, expires_at) VALUES (@token_hash, @client_id, @expires_at)',
      ),
      getToken: db.prepare('SELECT * FROM access_tokens WHERE token_hash = ?'),
      insertSession: db.prepare(
        `INSERT OR REPLACE INTO sessions (token_hash, username, client_id, expires_at)
         VALUES (@token_hash, @username, @client_id, @expires_at)`,
      ),
      getSession: db.prepare('SELECT * FROM sessions WHERE token_hash = ?'),
      touchSession: db.prepare('UPDATE sessions SET expires_at = ? WHERE token_hash = ?'),
      deleteSession: db.prepare('DELETE FROM sessions WHERE token_hash = ?'),
      purgeTokens: db.prepare('DELETE FROM access_tokens WHERE expires_at <= ?'),
      purgeSessions: db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),
    };
    const st = this.statements;
    this.deleteUserTx = writeTransaction(db, (username: string) => {
      st.deleteUserSessions.run(username);
      return st.deleteUser.run(username).changes > 0;
    });
    this.replaceSecretTx = writeTransaction(db, (clientId: string, secretHash: string) => {
      if (st.replaceSecret.run(secretHash, clientId).changes === 0) return false;
      st.deleteClientTokens.run(clientId);
      return true;
    });
    this.deleteClientTx = writeTransaction(db, (clientId: string) => {
      st.deleteClientTokens.run(clientId);
      st.deleteClientSessions.run(clientId);
      return st.deleteClient.run(clientId).changes > 0;
    });
  }

  async createClient(client: OAuthClient): Promise<boolean> {
    const inserted = this.statements.insertClient.run({
      client_id: client.clientId,
      name: client.name,
      secret_hash: client.secretHash,
      created_at: client.createdAt,
    });
    return inserted.changes > 0;
  }

  async getClient(clientId: string): Promise<OAuthClient | null> {
    const row = this.statements.getClient.get(clientId);
    return row ? toClient(row) : null;
  }

  async upsertUser(user: Omit<User, 'failedLogins' | 'lockedUntil'>): Promise<void> {
    this.statements.upsertUser.run({
      username: user.username,
      password_hash: user.passwordHash,
      accounts: JSON.stringify(user.accounts),
      created_at: user.createdAt,
    });
  }

  async insertUserIfMissing(user: Omit<User, 'failedLogins' | 'lockedUntil'>): Promise<boolean> {
    const inserted = this.statements.insertUser.run({
      username: user.username,
      password_hash: user.passwordHash,
      accounts: JSON.stringify(user.accounts),
      created_at: user.createdAt,
    });
    return inserted.changes > 0;
  }

  async getUser(username: string): Promise<User | null> {
    const row = this.statements.getUser.get(username);
    return row ? toUser(row) : null;
  }

  async reserveLoginAttempt(
    username: string,
    now: number,
    maxAttempts: number,
  ): Promise<{ user: User; admitted: boolean } | null> {
    // One UPDATE is atomic across connections and processes: no attempt can slip in between.
    const counted = this.statements.countAttempt.get({ username, max: maxAttempts, now });
    if (counted) return { user: toUser(counted), admitted: true };
    const row = this.statements.getUser.get(username);
    return row ? { user: toUser(row), admitted: false } : null;
  }

  async lockFailedLogins(
    username: string,
    maxAttempts: number,
    lockUntil: number,
    reservedBefore = Number.MAX_SAFE_INTEGER,
  ): Promise<User | null> {
    const row =
      this.statements.lockLogins.get({ username, max: maxAttempts, lockUntil, reservedBefore }) ??
      this.statements.getUser.get(username);
    return row ? toUser(row) : null;
  }

  async listUsers(): Promise<User[]> {
    return this.statements.listUsers.all().map(toUser);
  }

  async updateUser(username: string, changes: { passwordHash?: string; accounts?: string[] }): Promise<User | null> {
    const row = this.statements.updateUser.get({
      username,
      password_hash: changes.passwordHash ?? null,
      accounts: changes.accounts ? JSON.stringify(changes.accounts) : null,
    });
    return row ? toUser(row) : null;
  }

  async deleteUser(username: string): Promise<boolean> {
    return this.deleteUserTx(username);
  }

  async deleteUserSessions(username: string): Promise<number> {
    return this.statements.deleteUserSessions.run(username).changes;
  }

  async listClients(): Promise<OAuthClient[]> {
    return this.statements.listClients.all().map(toClient);
  }

  async replaceClientSecret(clientId: string, secretHash: string): Promise<boolean> {
    return this.replaceSecretTx(clientId, secretHash);
  }

  async deleteClient(clientId: string): Promise<boolean> {
    return this.deleteClientTx(clientId);
  }

  async resetFailedLogins(username: string): Promise<void> {
    this.statements.resetLogins.run(username);
  }

  async saveAccessToken(token: AccessToken): Promise<void> {
    this.statements.insertToken.run({
      token_hash: token.tokenHash,
      client_id: token.clientId,
      expires_at: token.expiresAt,
    });
  }

  async getAccessToken(tokenHash: string): Promise<AccessToken | null> {
    const row = this.statements.getToken.get(tokenHash);
    return row ? { tokenHash: row.token_hash, clientId: row.client_id, expiresAt: row.expires_at } : null;
  }

  async saveSession(session: Session): Promise<void> {
    this.statements.insertSession.run({
      token_hash: session.tokenHash,
      username: session.username,
      client_id: session.clientId,
      expires_at: session.expiresAt,
    });
  }

  async getSession(tokenHash: string): Promise<Session | null> {
    const row = this.statements.getSession.get(tokenHash);
    return row
      ? { tokenHash: row.token_hash, username: row.username, clientId: row.client_id, expiresAt: row.expires_at }
      : null;
  }

  async touchSession(tokenHash: string, expiresAt: number): Promise<void> {
    this.statements.touchSession.run(expiresAt, tokenHash);
  }

  async deleteSession(tokenHash: string): Promise<boolean> {
    return this.statements.deleteSession.run(tokenHash).changes > 0;
  }

  async purgeExpired(now: number): Promise<number> {
    return this.db.transaction(
      () => this.statements.purgeTokens.run(now).changes + this.statements.purgeSessions.run(now).changes,
    )();
  }
}
