import { TurnGroups } from '../../common/turn-groups.js';
import {
  controlsRow,
  healthRow,
  type RegistrationRow,
  registrationFieldsRow,
  toRegistration as toRecord,
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
import type { Database } from './database.js';
import { cancelOpenMessages } from './messages.js';

/** Registration lookups of publishes in flight at once; more wait for the next group. */
const EXISTS_QUERIES_IN_FLIGHT = 2;

/**
 * A registration row with its state (health), which may not exist yet. Writes that answer RETURNING *
 * (insert, rotate) have no state columns: their health reads as none.
 */
const SELECT_WITH_STATE = `SELECT r.*, s.consecutive_failures, s.failing_since, s.last_success_at, s.last_failure_at,
    s.recent_bits, s.recent_count, s.warned_at, s.disabled_at, s.recovery_due, s.health_version
  FROM registrations r LEFT JOIN registration_state s
    ON s.account_name = r.account_name AND s.service_name = r.service_name`;

/** PostgreSQL stores a flag as a boolean. */
const flag = (value: boolean) => value;

/** The update's and insert's first six parameters. */
const fieldValues = (fields: RegistrationFields) => {
  const row = registrationFieldsRow(fields);
  return [row.account_name, row.service_name, row.url, row.username, row.password_enc, row.updated_at];
};

/** Registration rows on PostgreSQL; every write moves `registration_changes` (a trigger, see migrations). */
export class PostgresRegistrationStore implements RegistrationStore {
  constructor(private readonly db: Database) {}

  async list(accountName: string): Promise<RegistrationRecord[]> {
    const result = await this.db.query<RegistrationRow>({
      name: 'registrations_list',
      text: `${SELECT_WITH_STATE} WHERE r.account_name = $1 ORDER BY r.service_name COLLATE "C"`,
      values: [accountName],
    });
    return result.rows.map(toRecord);
  }

  async listAll(): Promise<RegistrationRecord[]> {
    const result = await this.db.query<RegistrationRow>(
      `${SELECT_WITH_STATE} ORDER BY r.account_name COLLATE "C", r.service_name COLLATE "C"`,
    );
    return result.rows.map(toRecord);
  }

  async get(accountName: string, serviceName: string): Promise<RegistrationRecord | null> {
    const result = await this.db.query<RegistrationRow>({
      name: 'registrations_get',
      text: `${SELECT_WITH_STATE} WHERE r.account_name = $1 AND r.service_name = $2`,
      values: [accountName, serviceName],
    });
    return result.rows[0] ? toRecord(result.rows[0]) : null;
  }

  /**
   * Asked at every publish: the lookups of one event-loop turn (concurrent single publishes) are
   * answered by one query.
   */
  private readonly existsGroups = new TurnGroups<RegistrationKey[], boolean[]>(async (group) => {
    const keys = group.flatMap((entry) => entry.input);
    const result = await this.db.query<{ n: number }>({
      name: 'registrations_exist',
      text: `SELECT k.n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(account_name, service_name, n)
             WHERE EXISTS (SELECT 1 FROM registrations r
               WHERE r.account_name = k.account_name AND r.service_name = k.service_name)`,
      values: [keys.map((k) => k.accountName), keys.map((k) => k.serviceName)],
    });
    const found = new Set(result.rows.map((row) => Number(row.n)));
    let n = 0;
    for (const entry of group) entry.resolve(entry.input.map(() => found.has(++n)));
  }, EXISTS_QUERIES_IN_FLIGHT);

  exists(keys: RegistrationKey[]): Promise<boolean[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.existsGroups.add(keys);
  }

  async gates(keys: RegistrationKey[]): Promise<(RegistrationGate | null)[]> {
    if (keys.length === 0) return [];
    const result = await this.db.query<{ n: string; held: boolean; enabled: boolean }>({
      name: 'registrations_gates',
      text: `SELECT k.n, (r.ordering = 'fifo' OR r.rate_limit IS NOT NULL) AS held, r.enabled
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(account_name, service_name, n)
             JOIN registrations r ON r.account_name = k.account_name AND r.service_name = k.service_name`,
      values: [keys.map((k) => k.accountName), keys.map((k) => k.serviceName)],
    });
    const found = new Map(result.rows.map((row) => [Number(row.n), { held: row.held, enabled: row.enabled }]));
    return keys.map((_, i) => found.get(i + 1) ?? null);
  }

  async setControls(key: RegistrationKey, controls: DeliveryControls, now: number): Promise<RegistrationRecord | null> {
    // A FIFO turned off forgets its head; a rate limit changed starts from a free slot.
    const row = controlsRow(key, controls, now, flag);
    await this.db.query({
      name: 'registrations_set_controls',
      text: `WITH old AS (
               SELECT rate_limit, rate_window_ms FROM registrations WHERE account_name = $1 AND service_name = $2
             ), changed AS (
               UPDATE registrations SET ordering = $3, rate_limit = $4, rate_window_ms = $5,
                 auto_disable_after_ms = $6, auto_disable_warn_ms = $7, enabled = $8, updated_at = $9
               WHERE account_name = $1 AND service_name = $2 RETURNING 1
             )
             UPDATE registration_state s SET
               fifo_head = CASE WHEN $3 = 'fifo' THEN s.fifo_head END,
               rate_next_at = CASE WHEN old.rate_limit IS NOT DISTINCT FROM $4::int
                 AND old.rate_window_ms IS NOT DISTINCT FROM $5::int THEN s.rate_next_at END
             FROM old WHERE s.account_name = $1 AND s.service_name = $2 AND EXISTS (SELECT 1 FROM changed)`,
      values: [
        row.account_name,
        row.service_name,
        row.ordering,
        row.rate_limit,
        row.rate_window_ms,
        row.auto_disable_after_ms,
        row.auto_disable_warn_ms,
        row.enabled,
        row.updated_at,
      ],
    });
    return this.get(key.accountName, key.serviceName);
  }

  async writeHealth(key: RegistrationKey, health: RegistrationHealth, enabled?: boolean): Promise<boolean> {
    // The row appears at the first write; a later one replaces only the version it was computed from.
    const row = healthRow(key, health, enabled, flag);
    return this.db.transaction(async (client) => {
      const written = await client.query({
        name: 'registration_state_write_health',
        text: `INSERT INTO registration_state (account_name, service_name, consecutive_failures, failing_since,
                 last_success_at, last_failure_at, recent_bits, recent_count, warned_at, disabled_at, recovery_due,
                 health_version)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (account_name, service_name) DO UPDATE SET consecutive_failures = excluded.consecutive_failures,
                 failing_since = excluded.failing_since, last_success_at = excluded.last_success_at,
                 last_failure_at = excluded.last_failure_at, recent_bits = excluded.recent_bits,
                 recent_count = excluded.recent_count, warned_at = excluded.warned_at,
                 disabled_at = excluded.disabled_at, recovery_due = excluded.recovery_due,
                 health_version = excluded.health_version
               WHERE registration_state.health_version = excluded.health_version - 1`,
        values: [
          row.account_name,
          row.service_name,
          row.consecutive_failures,
          row.failing_since,
          row.last_success_at,
          row.last_failure_at,
          row.recent_bits,
          row.recent_count,
          row.warned_at,
          row.disabled_at,
          row.recovery_due,
          row.health_version,
        ],
      });
      const ok = (written.rowCount ?? 0) > 0;
      if (ok && row.enabled !== null) {
        await client.query({
          name: 'registrations_set_enabled',
          text: 'UPDATE registrations SET enabled = $3 WHERE account_name = $1 AND service_name = $2 AND enabled <> $3',
          values: [row.account_name, row.service_name, row.enabled],
        });
      }
      return ok;
    });
  }

  async anyHeld(): Promise<boolean> {
    const result = await this.db.query<{ held: boolean }>({
      name: 'registrations_any_held',
      text: "SELECT EXISTS (SELECT 1 FROM registrations WHERE ordering = 'fifo' OR rate_limit IS NOT NULL) AS held",
    });
    return result.rows[0].held;
  }

  async update(fields: RegistrationFields): Promise<boolean> {
    const result = await this.db.query({
      name: 'registrations_update',
      // Registering again keeps the settings and enables a disabled registration (the trigger of
      // migration 8 clears its failing streak); nothing is replayed.
      text: `UPDATE registrations SET url = $3, username = $4, password_enc = $5, updated_at = $6, enabled = true
             WHERE account_name = $1 AND service_name = $2`,
      values: fieldValues(fields),
    });
    return (result.rowCount ?? 0) > 0;
  }

  async insert(fields: RegistrationFields & { signingSecretEnc: string }): Promise<RegistrationRecord> {
    const result = await this.db.query<RegistrationRow>({
      name: 'registrations_insert',
      text: `INSERT INTO registrations (account_name, service_name, url, username, password_enc, signing_secret_enc,
               previous_secret_enc, previous_secret_expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $7, NULL, NULL, $6, $6)
             ON CONFLICT (account_name, service_name) DO UPDATE SET url = excluded.url, username = excluded.username,
               password_enc = excluded.password_enc, updated_at = excluded.updated_at, enabled = true
             RETURNING *`,
      values: [...fieldValues(fields), fields.signingSecretEnc],
    });
    return toRecord(result.rows[0]);
  }

  async remove(accountName: string, serviceName: string): Promise<boolean> {
    const result = await this.db.query({
      name: 'registrations_remove',
      text: 'DELETE FROM registrations WHERE account_name = $1 AND service_name = $2',
      values: [accountName, serviceName],
    });
    return (result.rowCount ?? 0) > 0;
  }

  async removeAndCancelOpen(accountName: string, serviceName: string, reason: string, now: number): Promise<boolean> {
    return this.db.transaction(async (client) => {
      const removed = await client.query({
        name: 'registrations_remove',
        text: 'DELETE FROM registrations WHERE account_name = $1 AND service_name = $2',
        values: [accountName, serviceName],
      });
      if ((removed.rowCount ?? 0) === 0) return false;
      await cancelOpenMessages(client, { accountName, serviceName }, reason, now);
      return true;
    });
  }

  async rotateSecret({
    accountName,
    serviceName,
    signingSecretEnc,
    previousExpiresAt,
    now,
  }: SecretRotation): Promise<RegistrationRecord | null> {
    const result = await this.db.query<RegistrationRow>({
      name: 'registrations_rotate',
      text: `UPDATE registrations SET previous_secret_enc = signing_secret_enc, signing_secret_enc = $3,
               previous_secret_expires_at = $4, updated_at = $5
             WHERE account_name = $1 AND service_name = $2
             RETURNING *`,
      values: [accountName, serviceName, signingSecretEnc, previousExpiresAt, now],
    });
    return result.rows[0] ? toRecord(result.rows[0]) : null;
  }

  async changeMark(): Promise<string> {
    const result = await this.db.query<{ n: number }>({
      name: 'registrations_change_mark',
      text: 'SELECT n FROM registration_changes WHERE id = 1',
    });
    return String(result.rows[0].n);
  }

  async sampleSecret(): Promise<string | null> {
    const result = await this.db.query<{ s: string }>('SELECT signing_secret_enc AS s FROM registrations LIMIT 1');
    return result.rows[0]?.s ?? null;
  }
}
