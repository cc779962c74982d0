import { randomBytes } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import type { FieldCipher } from '../../security/encryption.js';
import type { Registration, RegistrationInput, RegistrationStore } from '../types.js';
import { writeTransaction } from './transaction.js';

interface RegistrationRow {
  account_name: string;
  service_name: string;
  url: string;
  username: string | null;
  password_enc: string | null;
  signing_secret_enc: string;
  previous_secret_enc: string | null;
  previous_secret_expires_at: number | null;
  created_at: number;
  updated_at: number;
}

type UpsertFields = Pick<
  RegistrationRow,
  'account_name' | 'service_name' | 'url' | 'username' | 'password_enc' | 'updated_at'
>;

/** A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** How stale the cache may be after another process (on the same file) changed a registration. */
export const DATA_VERSION_CHECK_MS = 200;

/**
 * Registrations on SQLite. Passwords and signing secrets are encrypted at rest; decrypted
 * registrations are cached per account, updated on every write through this store and dropped
 * within DATA_VERSION_CHECK_MS of another connection (another process on the same file) committing.
 */
export class SqliteRegistrationStore implements RegistrationStore {
  private readonly cache = new Map<string, Registration[]>();
  private cachedDataVersion = -1;
  private dataVersionCheckedAt = 0;
  private readonly removeTransaction: (accountName: string, serviceName: string, now: number) => boolean;
  private readonly statements: {
    list: Statement<[string], RegistrationRow>;
    listAll: Statement<[], RegistrationRow>;
    get: Statement<[string, string], RegistrationRow>;
    replace: Statement<[UpsertFields]>;
    upsert: Statement<[UpsertFields & Pick<RegistrationRow, 'signing_secret_enc'>], RegistrationRow>;
    remove: Statement<[string, string]>;
    cancelMessages: Statement<[number, string, string]>;
    rotate: Statement<[string, number, number, string, string]>;
    dataVersion: Statement<[], number>;
  };

  constructor(
    db: Database,
    private readonly cipher: FieldCipher,
    private readonly clock: () => number = Date.now,
  ) {
    this.statements = {
      list: db.prepare('SELECT * FROM registrations WHERE account_name = ? ORDER BY service_name'),
      listAll: db.prepare('SELECT * FROM registrations ORDER BY account_name, service_name'),
      get: db.prepare('SELECT * FROM registrations WHERE account_name = ? AND service_name = ?'),
      // A replacement keeps its signing secrets, so listeners need not be reconfigured.
      replace: db.prepare(
        `UPDATE registrations SET url = @url, username = @username, password_enc = @password_enc,
           updated_at = @updated_at WHERE account_name = @account_name AND service_name = @service_name`,
      ),
      // Only a new row takes the fresh secret offered; a row inserted meanwhile by another process is replaced.
      upsert: db.prepare(
        `INSERT INTO registrations (account_name, service_name, url, username, password_enc, signing_secret_enc,
           previous_secret_enc, previous_secret_expires_at, created_at, updated_at)
         VALUES (@account_name, @service_name, @url, @username, @password_enc, @signing_secret_enc,
           NULL, NULL, @updated_at, @updated_at)
         ON CONFLICT(account_name, service_name) DO UPDATE SET url = excluded.url, username = excluded.username,
           password_enc = excluded.password_enc, updated_at = excluded.updated_at
         RETURNING *`,
      ),
      remove: db.prepare('DELETE FROM registrations WHERE account_name = ? AND service_name = ?'),
      // Deregistration stops delivery (SPEC §4): what has not been delivered yet is cancelled.
      cancelMessages: db.prepare(
        `UPDATE messages SET status = 'cancelled', reason = 'registration_removed', updated_at = ?,
           next_attempt_at = NULL, locked_until = NULL
         WHERE account_name = ? AND service_name = ? AND status IN ('pending', 'delivering')`,
      ),
      rotate: db.prepare(
        `UPDATE registrations SET previous_secret_enc = signing_secret_enc, signing_secret_enc = ?,
           previous_secret_expires_at = ?, updated_at = ?
         WHERE account_name = ? AND service_name = ?`,
      ),
      dataVersion: db.prepare('PRAGMA data_version').pluck() as Statement<[], number>,
    };
    // Built once: better-sqlite3 transaction wrappers are costly to create per call.
    this.removeTransaction = writeTransaction(db, (accountName: string, serviceName: string, now: number): boolean => {
      if (this.statements.remove.run(accountName, serviceName).changes === 0) return false;
      this.statements.cancelMessages.run(now, accountName, serviceName);
      return true;
    });
  }

  async list(accountName: string): Promise<Registration[]> {
    return [...this.cachedList(accountName)];
  }

  async listAll(): Promise<Registration[]> {
    return this.statements.listAll.all().map((row) => this.decode(row));
  }

  async get(accountName: string, serviceName: string): Promise<Registration | null> {
    return this.cachedList(accountName).find((r) => r.serviceName === serviceName) ?? null;
  }

  async upsert(input: RegistrationInput): Promise<Registration> {
    const now = this.clock();
    const previous = this.cachedList(input.accountName).find((r) => r.serviceName === input.serviceName);
    const username = input.username ?? null;
    const password = input.password ?? null;
    const fields = {
      account_name: input.accountName,
      service_name: input.serviceName,
      url: input.url,
      username,
      password_enc: password !== null ? this.cipher.encrypt(password) : null,
      updated_at: now,
    };
    // Each is one statement, so no transaction is needed. Replacing is tried first: it is the common
    // case and needs no new secret, which costs more to make and encrypt than the write itself.
    let registration: Registration;
    if (this.statements.replace.run(fields).changes > 0) {
      registration = previous
        ? { ...previous, url: input.url, username, password, updatedAt: now }
        : this.decode(this.statements.get.get(input.accountName, input.serviceName)!);
    } else {
      const signingSecret = newSigningSecret();
      const signingSecretEnc = this.cipher.encrypt(signingSecret);
      const row = this.statements.upsert.get({ ...fields, signing_secret_enc: signingSecretEnc })!;
      registration =
        row.signing_secret_enc === signingSecretEnc
          ? {
              accountName: input.accountName,
              serviceName: input.serviceName,
              url: input.url,
              username,
              password,
              signingSecret,
              previousSecret: null,
              previousSecretExpiresAt: null,
              createdAt: now,
              updatedAt: now,
            }
          : this.decode(row);
    }
    // Write-through rather than invalidate: a list right after a register needs no query.
    const list = this.cache.get(input.accountName);
    if (list) {
      const next = list.filter((r) => r.serviceName !== input.serviceName);
      next.push(registration);
      next.sort((a, b) => (a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : 0));
      this.cache.set(input.accountName, next);
    }
    return registration;
  }

  async remove(accountName: string, serviceName: string): Promise<boolean> {
    const removed = this.removeTransaction(accountName, serviceName, this.clock());
    this.cache.delete(accountName);
    return removed;
  }

  async rotateSecret(accountName: string, serviceName: string, graceMs: number): Promise<Registration | null> {
    const now = this.clock();
    const secret = this.cipher.encrypt(newSigningSecret());
    const changed = this.statements.rotate.run(secret, now + graceMs, now, accountName, serviceName).changes;
    this.cache.delete(accountName);
    if (changed === 0) return null;
    return this.get(accountName, serviceName);
  }

  private cachedList(accountName: string): Registration[] {
    // Asking SQLite whether another connection committed costs more than the cached read itself,
    // so it is asked at most every DATA_VERSION_CHECK_MS.
    const now = Date.now();
    if (now - this.dataVersionCheckedAt >= DATA_VERSION_CHECK_MS) {
      this.dataVersionCheckedAt = now;
      const version = this.statements.dataVersion.get() as number;
      if (version !== this.cachedDataVersion) {
        this.cache.clear();
        this.cachedDataVersion = version;
      }
    }
    let list = this.cache.get(accountName);
    if (!list) {
      list = this.statements.list.all(accountName).map((row) => this.decode(row));
      this.cache.set(accountName, list);
    }
    return list;
  }

  private decode(row: RegistrationRow): Registration {
    return {
      accountName: row.account_name,
      serviceName: row.service_name,
      url: row.url,
      username: row.username,
      password: row.password_enc != null ? this.cipher.decrypt(row.password_enc) : null,
      signingSecret: this.cipher.decrypt(row.signing_secret_enc),
      previousSecret: row.previous_secret_enc != null ? this.cipher.decrypt(row.previous_secret_enc) : null,
      previousSecretExpiresAt: row.previous_secret_expires_at,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}
