import type { Store } from '../types.js';
import { PostgresAccessStore } from './access.js';
import { PostgresAuthStore } from './auth.js';
import { connectionSettings, Database, type DatabaseOptions, UNBOUNDED } from './database.js';
import { PostgresMessageStore, PUBLISHED_CHANNEL } from './messages.js';
import { migrations } from './migrations.js';
import { Notifier } from './notifier.js';
import { DEFAULT_PARTITION_INTERVAL_MS, HistoryPartitions } from './partitions.js';
import { PostgresRegistrationStore } from './registrations.js';
import { PostgresReplayJobStore } from './replay-jobs.js';
import { PostgresStatsSampleStore } from './stats-samples.js';

/** Notified by the registrations trigger (migration 3) at every commit that changed registrations. */
const REGISTRATIONS_CHANNEL = 'ccb_registrations';

/** How often each instance measures the database clock's offset from its own again. */
const CLOCK_SYNC_INTERVAL_MS = 30_000;
/** Round trips per measurement; the shortest one gives the offset. */
const CLOCK_SAMPLES = 3;

/** The advisory lock that serialises migrations of instances starting together (any fixed number). */
const MIGRATION_LOCK = 0x63636201;

export interface PostgresStoreOptions extends DatabaseOptions {
  /** Width of the history tables' time partitions (CCB_PARTITION_INTERVAL). */
  partitionIntervalMs?: number;
}

/**
 * The shared store: a pool of connections to one PostgreSQL database, used by any number of
 * instances at once, and one listening connection for wake-ups.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly db: Database;
  readonly registrations: PostgresRegistrationStore;
  readonly auth: PostgresAuthStore;
  readonly messages: PostgresMessageStore;
  readonly replayJobs: PostgresReplayJobStore;
  readonly partitions: HistoryPartitions;
  readonly access: PostgresAccessStore;
  readonly statsSamples: PostgresStatsSampleStore;
  private readonly notifier: Notifier;
  private clockOffsetMs = 0;
  private clockTimer: NodeJS.Timeout | null = null;
  private maintenanceTimer: NodeJS.Timeout | null = null;

  constructor(connectionString: string, options: PostgresStoreOptions) {
    this.db = new Database(connectionString, options);
    this.partitions = new HistoryPartitions(this.db, options.partitionIntervalMs ?? DEFAULT_PARTITION_INTERVAL_MS);
    this.registrations = new PostgresRegistrationStore(this.db);
    this.auth = new PostgresAuthStore(this.db);
    this.messages = new PostgresMessageStore(this.db, this.partitions, () => this.now());
    this.replayJobs = new PostgresReplayJobStore(this.db);
    this.access = new PostgresAccessStore(this.db);
    this.statsSamples = new PostgresStatsSampleStore(this.db);
    this.notifier = new Notifier(connectionSettings(connectionString, options), [
      PUBLISHED_CHANNEL,
      REGISTRATIONS_CHANNEL,
    ]);
  }

  /**
   * The database server's clock, read through this process's: `Date.now()` plus the offset measured
   * by `syncClock` (at start, then every CLOCK_SYNC_INTERVAL_MS). Every instance gives leases, due
   * times and publish times in it, so a process whose own clock is minutes off claims, leases and
   * schedules exactly as the others do; the error left is half a round trip to the database.
   */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /**
   * Measures the offset of the database's clock (`clock_timestamp()`) from this process's, keeping
   * the sample with the shortest round trip of a few; a failure keeps the offset measured before.
   */
  async syncClock(): Promise<void> {
    let best: { rtt: number; offset: number } | null = null;
    for (let i = 0; i < CLOCK_SAMPLES; i++) {
      const before = Date.now();
      const result = await this.db.query<{ ms: number }>({
        name: 'clock_now',
        text: 'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms',
      });
      const after = Date.now();
      const sample = { rtt: after - before, offset: Math.round(result.rows[0].ms - (before + after) / 2) };
      if (!best || sample.rtt < best.rtt) best = sample;
    }
    if (best) this.clockOffsetMs = best.offset;
  }

  /** Applies the migrations not yet recorded, in one transaction that holds the advisory lock. */
  async migrate(): Promise<void> {
    await this.migrateSchema();
    await this.syncClock();
    await this.partitions.createAhead(this.now());
    if (!this.clockTimer) {
      this.clockTimer = setInterval(() => void this.syncClock().catch(() => {}), CLOCK_SYNC_INTERVAL_MS);
      this.clockTimer.unref();
      // The partitions ahead are made again at a quarter of their width (at most every 10 minutes).
      const every = Math.min(Math.max(this.partitions.widthMs / 4, 1_000), 600_000);
      this.maintenanceTimer = setInterval(() => void this.partitions.createAhead(this.now()).catch(() => {}), every);
      this.maintenanceTimer.unref();
    }
  }

  private async migrateSchema(): Promise<void> {
    await this.db.transaction(async (client) => {
      // A migration may rewrite a large table, and another instance may hold the lock meanwhile:
      // neither the server's statement timeout nor the client's applies here.
      await client.query('SET LOCAL statement_timeout = 0');
      // Transaction-scoped: released at commit, also when this process dies meanwhile.
      await client.query({ text: 'SELECT pg_advisory_xact_lock($1)', values: [MIGRATION_LOCK], ...UNBOUNDED });
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      const applied = new Set(
        (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version),
      );
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        if (applied.has(migration.version)) continue;
        await client.query({ text: migration.sql, ...UNBOUNDED });
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          Date.now(),
        ]);
      }
    });
  }

  async keyCheck(checkValue: string, now: number): Promise<string> {
    // Two statements: the SELECT sees a row that an instance starting at the same moment committed
    // while the INSERT waited for it.
    await this.db.query(
      'INSERT INTO encryption_key_check (id, check_value, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING',
      [checkValue, now],
    );
    const stored = await this.db.query<{ check_value: string }>('SELECT check_value FROM encryption_key_check');
    return stored.rows[0].check_value;
  }

  /** The database answers a query (through the pool, as every request does). */
  async checkReady(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  onPublished(listener: () => void): () => void {
    return this.notifier.subscribe(PUBLISHED_CHANNEL, listener);
  }

  onRegistrationsChanged(listener: () => void): () => void {
    return this.notifier.subscribe(REGISTRATIONS_CHANNEL, listener);
  }

  async close(): Promise<void> {
    if (this.clockTimer) clearInterval(this.clockTimer);
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    await this.notifier.stop();
    await this.db.close();
  }
}
