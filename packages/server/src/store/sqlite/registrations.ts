import type { Database, Statement } from 'better-sqlite3';
import {
  controlsRow,
  healthRow,
  type RegistrationFieldsRow,
  type RegistrationRow,
  registrationFieldsRow,
  toRegistration,
} from '../rows.js';
import type {
  DeliveryControls,
  RegistrationFields,
  RegistrationGate,
  RegistrationHealth,
  RegistrationKey,
  RegistrationRecord,
  RegistrationStore,
  SecretRotation,
} from '../types.js';
import { writeTransaction } from './transaction.js';
import { turnCommit, turnRead } from './turn-commit.js';

/** `MessageStore.cancelOpen` run synchronously, so that it can join a transaction of this store. */
export type CancelOpenMessages = (accountName: string, serviceName: string, reason: string, now: number) => number;

/** SQLite stores a flag as 0/1. */
const flag = (value: boolean) => (value ? 1 : 0);

/**
 * Registering again (the platform's call) keeps the settings and enables a disabled registration,
 * its failing streak cleared so that auto-disable starts over; nothing is replayed.
 */
const REENABLE = `enabled = 1, disabled_at = NULL,
  consecutive_failures = CASE WHEN enabled = 0 THEN 0 ELSE consecutive_failures END,
  failing_since = CASE WHEN enabled = 0 THEN NULL ELSE failing_since END,
  warned_at = CASE WHEN enabled = 0 THEN NULL ELSE warned_at END,
  health_version = health_version + 1 - enabled`;

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
    gate: Statement<[string, string], { held: number; enabled: number }>;
    setControls: Statement<[ReturnType<typeof controlsRow>], RegistrationRow>;
    writeHealth: Statement<[ReturnType<typeof healthRow>]>;
    anyHeld: Statement<[], number>;
    update: Statement<[RegistrationFieldsRow]>;
    insert: Statement<[RegistrationFieldsRow & { signing_secret_enc: string }], RegistrationRow>;
    remove: Statement<[string, string]>;
    rotate: Statement<[string, number, number, string, string], RegistrationRow>;
    dataVersion: Statement<[], number>;
    sample: Statement<[], string>;
  };
  /** Gate reads (concurrent publishes), a turn at a time in one read transaction. */
  private readonly readGates: (keys: RegistrationKey[]) => Promise<(RegistrationGate | null)[]>;
  /** Registrations replaced in one event-loop turn (concurrent register calls), committed together. */
  private readonly updateInTurn: (fields: RegistrationFields) => Promise<boolean>;
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
      gate: db.prepare(
        `SELECT (ordering = 'fifo' OR rate_limit IS NOT NULL) AS held, enabled FROM registrations
         WHERE account_name = ? AND service_name = ?`,
      ),
      // A FIFO turned off forgets its head; a rate limit changed starts from a free slot.
      setControls: db.prepare(
        `UPDATE registrations SET ordering = @ordering, rate_limit = @rate_limit, rate_window_ms = @rate_window_ms,
           auto_disable_after_ms = @auto_disable_after_ms, auto_disable_warn_ms = @auto_disable_warn_ms,
           enabled = @enabled, updated_at = @updated_at,
           fifo_head = CASE WHEN @ordering = 'fifo' THEN fifo_head ELSE NULL END,
           rate_next_at = CASE WHEN rate_limit IS @rate_limit AND rate_window_ms IS @rate_window_ms
             THEN rate_next_at ELSE NULL END
         WHERE account_name = @account_name AND service_name = @service_name
         RETURNING *`,
      ),
      writeHealth: db.prepare(
        `UPDATE registrations SET consecutive_failures = @consecutive_failures, failing_since = @failing_since,
           last_success_at = @last_success_at, last_failure_at = @last_failure_at, recent_bits = @recent_bits,
           recent_count = @recent_count, warned_at = @warned_at, disabled_at = @disabled_at,
           recovery_due = @recovery_due, health_version = @health_version, enabled = COALESCE(@enabled, enabled)
         WHERE account_name = @account_name AND service_name = @service_name
           AND health_version = @health_version - 1`,
      ),
      anyHeld: db
        .prepare("SELECT EXISTS (SELECT 1 FROM registrations WHERE ordering = 'fifo' OR rate_limit IS NOT NULL)")
        .pluck() as Statement<[], number>,
      update: db.prepare(
        `UPDATE registrations SET url = @url, username = @username, password_enc = @password_enc,
           updated_at = @updated_at, ${REENABLE} WHERE account_name = @account_name AND service_name = @service_name`,
      ),
      insert: db.prepare(
        `INSERT INTO registrations (account_name, service_name, url, username, password_enc, signing_secret_enc,
           previous_secret_enc, previous_secret_expires_at, created_at, updated_at)
         VALUES (@account_name, @service_name, @url, @username, @password_enc, @signing_secret_enc,
           NULL, NULL, @updated_at, @updated_at)
         ON CONFLICT(account_name, service_name) DO UPDATE SET url = excluded.url, username = excluded.username,
           password_enc = excluded.password_enc, updated_at = excluded.updated_at, ${REENABLE}
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
    this.readGates = turnRead(db, (keys: RegistrationKey[]) =>
      keys.map((k) => {
        const row = this.statements.gate.get(k.accountName, k.serviceName);
        return row ? { held: row.held === 1, enabled: row.enabled === 1 } : null;
      }),
    );
    this.updateInTurn = turnCommit(db, (fields: RegistrationFields) => {
      return this.statements.update.run(registrationFieldsRow(fields)).changes > 0;
    });
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

  gates(keys: RegistrationKey[]): Promise<(RegistrationGate | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.readGates(keys);
  }

  async setControls(key: RegistrationKey, controls: DeliveryControls, now: number): Promise<RegistrationRecord | null> {
    const row = this.statements.setControls.get(controlsRow(key, controls, now, flag));
    return row ? toRegistration(row) : null;
  }

  async writeHealth(key: RegistrationKey, health: RegistrationHealth, enabled?: boolean): Promise<boolean> {
    return this.statements.writeHealth.run(healthRow(key, health, enabled, flag)).changes > 0;
  }

  async anyHeld(): Promise<boolean> {
    return this.statements.anyHeld.get() === 1;
  }

  update(fields: RegistrationFields): Promise<boolean> {
    return this.updateInTurn(fields);
  }

  async insert(fields: RegistrationFields & { signingSecretEnc: string }): Promise<RegistrationRecord> {
    return toRegistration(
      this.statements.insert.get({ ...registrationFieldsRow(fields), signing_secret_enc: fields.signingSecretEnc })!,
    );
  }

  async remove(accountName: string, serviceName: string): Promise<boolean> {
    return this.statements.remove.run(accountName, serviceName).changes > 0;
  }

  async removeAndCancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<boolean> {
    return this.removeCancellingOpen(accountName, serviceName, reason, now);
  }

  async rotateSecret({
    accountName,
    serviceName,
    signingSecretEnc,
    previousExpiresAt,
    now,
  }: SecretRotation): Promise<RegistrationRecord | null> {
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
