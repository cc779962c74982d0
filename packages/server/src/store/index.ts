import { ConfigError } from '../settings.js';
import type { DatabaseTimeouts } from './postgres/database.js';
import { PostgresStore } from './postgres/index.js';
import { SqliteStore } from './sqlite/index.js';
import type { Store } from './types.js';

export interface StoreOptions extends DatabaseTimeouts {
  /** PostgreSQL: connections in the pool (CCB_DB_POOL_SIZE). */
  poolSize?: number;
  /** PostgreSQL: width of the history's time partitions (CCB_PARTITION_INTERVAL). */
  partitionIntervalMs?: number;
}

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
    return new PostgresStore(databaseUrl, { ...options, poolSize: options.poolSize ?? 10 });
  }
  throw new ConfigError(
    `DATABASE_URL: "${databaseUrl}" must start with sqlite: (e.g. sqlite:./data/ccb.sqlite) or postgres://`,
  );
}
