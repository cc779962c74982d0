import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { StoreUnavailableError } from '../errors.js';
import type { Store } from '../types.js';
import { SqliteAccessStore } from './access.js';
import { SqliteAuthStore } from './auth.js';
import { BUSY_TIMEOUT_MS, SqliteAvailability } from './availability.js';
import { FALLBACK_AUTOCHECKPOINT_PAGES, WalCheckpointer } from './checkpointer.js';
import { SqliteMessageStore } from './messages.js';
import { migrations } from './migrations.js';
import { SqliteRegistrationStore } from './registrations.js';
import { SqliteReplayJobStore } from './replay-jobs.js';
import { SqliteStatsSampleStore } from './stats-samples.js';

/** Below this much free space on its disk the store reports itself not ready. */
const MIN_FREE_BYTES = 1024 * 1024;
/** How long start-up waits for another process that holds the file (a migration, a first open). */
const STARTUP_BUSY_TIMEOUT_MS = 5_000;
/** The pause between two tries of `journal_mode = WAL` (see useWal). */
const WAL_RETRY_MS = 10;

/** The embedded store: one better-sqlite3 connection (WAL) shared by every part of the process. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly db: Database;
  readonly registrations: SqliteRegistrationStore;
  readonly auth: SqliteAuthStore;
  readonly messages: SqliteMessageStore;
  readonly replayJobs: SqliteReplayJobStore;
  readonly statsSamples: SqliteStatsSampleStore;
  readonly access: SqliteAccessStore;
  private readonly checkpointer: WalCheckpointer | null;
  private readonly availability = new SqliteAvailability();

  /** One process owns the file: its own clock is the only one. */
  now(): number {
    return Date.now();
  }

  /** `path` is a file path or `:memory:`; its folder is created when missing. */
  constructor(private readonly path: string) {
    if (path !== ':memory:') createPrivately(path);
    // Start-up may wait for another process's migration; once serving, waits are short (availability.ts).
    this.db = new BetterSqlite3(path, { timeout: STARTUP_BUSY_TIMEOUT_MS });
    useWal(this.db);
    // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose the last commits.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    // Statements are prepared in the constructors below, so the schema must exist first.
    this.applyMigrations();
    const messages = new SqliteMessageStore(this.db);
    this.registrations = this.availability.guard(
      new SqliteRegistrationStore(this.db, (account, service, reason, now) =>
        messages.cancelOpenNow(account, service, reason, now),
      ),
    );
    this.auth = this.availability.guard(new SqliteAuthStore(this.db));
    this.messages = this.availability.guard(messages);
    this.replayJobs = this.availability.guard(new SqliteReplayJobStore(this.db));
    this.statsSamples = this.availability.guard(new SqliteStatsSampleStore(this.db));
    this.access = this.availability.guard(new SqliteAccessStore(this.db));
    this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Checkpoints run on a worker thread so they never stall the event loop (see checkpointer.ts).
    this.checkpointer = path !== ':memory:' ? new WalCheckpointer(path) : null;
    if (this.checkpointer) this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
  }

  async migrate(): Promise<void> {
    this.applyMigrations();
  }

  async keyCheck(checkValue: string, now: number): Promise<string> {
    return this.availability.run(() => {
      this.db
        .prepare(
          'INSERT INTO encryption_key_check (id, check_value, created_at) VALUES (1, ?, ?) ON CONFLICT DO NOTHING',
        )
        .run(checkValue, now);
      return this.db.prepare('SELECT check_value FROM encryption_key_check WHERE id = 1').pluck().get() as string;
    });
  }

  /**
   * Answers, has room to grow, and after a write failed for lack of disk or I/O, writes again (the
   * database header's user_version, to the value it has), so that readiness comes back by itself once
   * there is room. Free space is checked too because small writes can still fit in the write-ahead log
   * of a full disk while larger ones fail.
   */
  async checkReady(): Promise<void> {
    if (this.path !== ':memory:') {
      const disk = await statfs(dirname(this.path));
      if (disk.bavail * disk.bsize < MIN_FREE_BYTES) {
        throw new StoreUnavailableError(
          'disk_full',
          `the database disk has less than ${MIN_FREE_BYTES >> 20} MiB free`,
          30,
        );
      }
    }
    await this.availability.run(() => {
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (this.availability.failing === null) return;
      this.db.pragma(`user_version = ${version}`);
      this.availability.failing = null;
    });
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }

  /**
   * Applies each migration not yet recorded in `schema_migrations`, each in its own transaction. Two
   * processes may start together on a new file: whether a migration is recorded is read again inside
   * its write transaction (which holds SQLite's write lock), so only one of them applies it.
   */
  private applyMigrations(): void {
    this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
    const isApplied = this.db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
    const applied = new Set(this.db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
    const record = this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      this.db
        .transaction(() => {
          if (isApplied.get(migration.version) !== undefined) return;
          this.db.exec(migration.sql);
          record.run(migration.version, migration.name, Date.now());
        })
        .immediate();
    }
  }
}

/**
 * Turns on WAL mode. On a new file that other processes open at the same moment, SQLite answers the
 * mode change SQLITE_BUSY at once, without waiting on the busy timeout: it is tried again until the
 * start-up wait runs out.
 */
function useWal(db: Database): void {
  const deadline = Date.now() + STARTUP_BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, WAL_RETRY_MS);
    }
  }
}

/**
 * The database holds password hashes, token hashes and encrypted secrets: a new folder is the owner's
 * only (0700) and the file is 0600 before SQLite opens it. SQLite gives its -wal and -shm files the
 * database file's mode; files from an older version are narrowed to the same.
 */
function createPrivately(path: string): void {
  const folder = dirname(path);
  if (!existsSync(folder)) mkdirSync(folder, { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file) && (statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  }
}
