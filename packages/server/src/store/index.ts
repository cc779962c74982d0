import { type DatabaseTimeouts, SERVE_SETTINGS } from '../config.js';
import { ConfigError, readSetting } from '../settings.js';
import { PostgresStore } from './postgres/index.js';
import { SqliteStore } from './sqlite/index.js';
import type { Store } from './types.js';

export interface StoreOptions extends Partial<DatabaseTimeouts> {
  /** PostgreSQL: connections in the pool (CCB_DB_POOL_SIZE). */
  poolSize?: number;
}

/** A setting's default, for a store opened without a configuration (tests, benchmarks). */
const byDefault = <T>(declaration: Parameters<typeof readSetting<T>>[0] & { default: string }) =>
  readSetting(declaration, {}, {});

/**
 * Opens the store named by DATABASE_URL: `sqlite:<path>` (or `sqlite::memory:`) or
 * `postgres://…` / `postgresql://…`. Call `migrate()` before use (SQLite also migrates on opening).
 */
export async function openStore(databaseUrl: string, options: StoreOptions = {}): Promise<Store> {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new ConfigError('DATABASE_URL: "sqlite:" needs a file path, e.g. sqlite:./data/ccb.sqlite');
    return new SqliteStore(path);
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    return new PostgresStore(databaseUrl, {
      poolSize: options.poolSize ?? byDefault(SERVE_SETTINGS.databasePoolSize),
      connectTimeoutMs: options.connectTimeoutMs ?? byDefault(SERVE_SETTINGS.databaseConnectTimeout),
      statementTimeoutMs: options.statementTimeoutMs ?? byDefault(SERVE_SETTINGS.databaseStatementTimeout),
      idleInTransactionTimeoutMs:
        options.idleInTransactionTimeoutMs ?? byDefault(SERVE_SETTINGS.databaseIdleInTransactionTimeout),
      keepAliveDelayMs: options.keepAliveDelayMs ?? byDefault(SERVE_SETTINGS.databaseKeepAlive),
    });
  }
  throw new ConfigError(
    `DATABASE_URL: "${databaseUrl}" must start with sqlite: (e.g. sqlite:./data/ccb.sqlite) or postgres://`,
  );
}
