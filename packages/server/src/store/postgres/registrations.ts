import { TurnGroups } from '../../common/turn-groups.js';
import type { RegistrationFields, RegistrationKey, RegistrationRecord, RegistrationStore } from '../types.js';
import type { Database } from './database.js';
import { cancelOpenMessages } from './messages.js';

/** Registration lookups of publishes in flight at once; more wait for the next group. */
const EXISTS_QUERIES_IN_FLIGHT = 2;

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

function toRecord(row: RegistrationRow): RegistrationRecord {
  return {
    accountName: row.account_name,
    serviceName: row.service_name,
    url: row.url,
    username: row.username,
    passwordEnc: row.password_enc,
    signingSecretEnc: row.signing_secret_enc,
    previousSecretEnc: row.previous_secret_enc,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const fieldValues = (f: RegistrationFields) => [
  f.accountName,
  f.serviceName,
  f.url,
  f.username,
  f.passwordEnc,
  f.updatedAt,
];

/** Registration rows on PostgreSQL; every write moves `registration_changes` (a trigger, see migrations). */
export class PostgresRegistrationStore implements RegistrationStore {
  constructor(private readonly db: Database) {}

  async list(accountName: string): Promise<RegistrationRecord[]> {
    const result = await this.db.query<RegistrationRow>({
      name: 'registrations_list',
      text: 'SELECT * FROM registrations WHERE account_name = $1 ORDER BY service_name COLLATE "C"',
      values: [accountName],
    });
    return result.rows.map(toRecord);
  }

  async listAll(): Promise<RegistrationRecord[]> {
    const result = await this.db.query<RegistrationRow>(
      'SELECT * FROM registrations ORDER BY account_name COLLATE "C", service_name COLLATE "C"',
    );
    return result.rows.map(toRecord);
  }

  async get(accountName: string, serviceName: string): Promise<RegistrationRecord | null> {
    const result = await this.db.query<RegistrationRow>({
      name: 'registrations_get',
      text: 'SELECT * FROM registrations WHERE account_name = $1 AND service_name = $2',
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

  async update(fields: RegistrationFields): Promise<boolean> {
    const result = await this.db.query({
      name: 'registrations_update',
      text: `UPDATE registrations SET url = $3, username = $4, password_enc = $5, updated_at = $6
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
               password_enc = excluded.password_enc, updated_at = excluded.updated_at
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
      await cancelOpenMessages(client, accountName, serviceName, reason, now);
      return true;
    });
  }

  async rotateSecret(
    accountName: string,
    serviceName: string,
    signingSecretEnc: string,
    previousExpiresAt: number,
    now: number,
  ): Promise<RegistrationRecord | null> {
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
