import type { Database, Statement } from 'better-sqlite3';
import { type RegistrationRow, toRegistration } from '../rows.js';
import type { RegistrationFields, RegistrationKey, RegistrationRecord, RegistrationStore } from '../types.js';
import { writeTransaction } from './transaction.js';

/** `MessageStore.cancelOpen` run synchronously, so that it can join a transaction of this store. */
export type CancelOpenMessages = (accountName: string, serviceName: string, reason: string, now: number) => number;

interface FieldsRow {
  account_name: string;
  service_name: string;
  url: string;
  username: string | null;
  password_enc: string | null;
  updated_at: number;
}

function toFieldsRow(fields: RegistrationFields): FieldsRow {
  return {
    account_name: fields.accountName,
    service_name: fields.serviceName,
    url: fields.url,
    username: fields.username,
    password_enc: fields.passwordEnc,
    updated_at: fields.updatedAt,
  };
}

/**
 * Registration rows on SQLite. Each method is one statement, except a deregistration, which cancels
 * the registration's messages in the same transaction.
 */
export class SqliteRegistrationStore implements RegistrationStore {
  private readonly statements: {
    list: Statement<[string], RegistrationRow>;
    listAll: Statement<[], RegistrationRow>;
    get: Statement<[string, string], RegistrationRow>;
    exists: Statement<[string, string]>;
    update: Statement<[FieldsRow]>;
    insert: Statement<[FieldsRow & { signing_secret_enc: string }], RegistrationRow>;
    remove: Statement<[string, string]>;
    rotate: Statement<[string, number, number, string, string], RegistrationRow>;
    dataVersion: Statement<[], number>;
    sample: Statement<[], string>;
  };
  private readonly removeCancellingOpen: (
    accountName: string,
    serviceName: string,
    reason: string,
    now: number,
  ) => boolean;

  constructor(db: Database, cancelOpen: CancelOpenMessages) {
    this.statements = {
      list: db.prepare('SELECT * FROM registrations WHERE account_name = ? ORDER BY service_name'),
      listAll: db.prepare('SELECT * FROM registrations ORDER BY account_name, service_name'),
      get: db.prepare('SELECT * FROM registrations WHERE account_name = ? AND service_name = ?'),
      exists: db.prepare('SELECT 1 FROM registrations WHERE account_name = ? AND service_name = ?').pluck(),
      update: db.prepare(
        `UPDATE registrations SET url = @url, username = @username, password_enc = @password_enc,
           updated_at = @updated_at WHERE account_name = @account_name AND service_name = @service_name`,
      ),
      insert: db.prepare(
        `INSERT INTO registrations (account_name, service_name, url, username, password_enc, signing_secret_enc,
           previous_secret_enc, previous_secret_expires_at, created_at, updated_at)
         VALUES (@account_name, @service_name, @url, @username, @password_enc, @signing_secret_enc,
           NULL, NULL, @updated_at, @updated_at)
         ON CONFLICT(account_name, service_name) DO UPDATE SET url = excluded.url, username = excluded.username,
           password_enc = excluded.password_enc, updated_at = excluded.updated_at
         RETURNING *`,
      ),
      remove: db.prepare('DELETE FROM registrations WHERE account_name = ? AND service_name = ?'),
      rotate: db.prepare(
        `UPDATE registrations SET previous_secret_enc = signing_secret_enc, signing_secret_enc = ?,
           previous_secret_expires_at = ?, updated_at = ?
         WHERE account_name = ? AND service_name = ?
         RETURNING *`,
      ),
      // Changes whenever another connection (another process on the file) commits.
      dataVersion: db.prepare('PRAGMA data_version').pluck() as Statement<[], number>,
      sample: db.prepare('SELECT signing_secret_enc FROM registrations LIMIT 1').pluck() as Statement<[], string>,
    };
    this.removeCancellingOpen = writeTransaction(db, (accountName, serviceName, reason, now) => {
      if (this.statements.remove.run(accountName, serviceName).changes === 0) return false;
      cancelOpen(accountName, serviceName, reason, now);
      return true;
    });
  }

  async list(accountName: string): Promise<RegistrationRecord[]> {
    return this.statements.list.all(accountName).map(toRegistration);
  }

  async listAll(): Promise<RegistrationRecord[]> {
    return this.statements.listAll.all().map(toRegistration);
  }

  async get(accountName: string, serviceName: string): Promise<RegistrationRecord | null> {
    const row = this.statements.get.get(accountName, serviceName);
    return row ? toRegistration(row) : null;
  }

  async exists(keys: RegistrationKey[]): Promise<boolean[]> {
    return keys.map((k) => this.statements.exists.get(k.accountName, k.serviceName) !== undefined);
  }

  async update(fields: RegistrationFields): Promise<boolean> {
    return this.statements.update.run(toFieldsRow(fields)).changes > 0;
  }

  async insert(fields: RegistrationFields & { signingSecretEnc: string }): Promise<RegistrationRecord> {
    return toRegistration(
      this.statements.insert.get({ ...toFieldsRow(fields), signing_secret_enc: fields.signingSecretEnc })!,
    );
  }

  async remove(accountName: string, serviceName: string): Promise<boolean> {
    return this.statements.remove.run(accountName, serviceName).changes > 0;
  }

  async removeAndCancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<boolean> {
    return this.removeCancellingOpen(accountName, serviceName, reason, now);
  }

  async rotateSecret(
    accountName: string,
    serviceName: string,
    signingSecretEnc: string,
    previousExpiresAt: number,
    now: number,
  ): Promise<RegistrationRecord | null> {
    const row = this.statements.rotate.get(signingSecretEnc, previousExpiresAt, now, accountName, serviceName);
    return row ? toRegistration(row) : null;
  }

  async changeMark(): Promise<string> {
    return String(this.statements.dataVersion.get());
  }

  async sampleSecret(): Promise<string | null> {
    return this.statements.sample.get() ?? null;
  }
}
