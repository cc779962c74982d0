import { ConfigError } from '../config.js';
import { SqliteStore } from './sqlite/index.js';
import type { Store } from './types.js';

/**
 * Opens the store named by DATABASE_URL: `sqlite:<path>` (or `sqlite::memory:`). Migrations are
 * applied on opening; `migrate()` is safe to call again.
 */
export async function openStore(databaseUrl: string, encryptionKey: Buffer): Promise<Store> {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new ConfigError('DATABASE_URL: "sqlite:" needs a file path, e.g. sqlite:./data/ccb.sqlite');
    return new SqliteStore(path, encryptionKey);
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL: PostgreSQL is not supported yet; use sqlite:<path>');
  }
  throw new ConfigError(`DATABASE_URL: "${databaseUrl}" must start with sqlite: (e.g. sqlite:./data/ccb.sqlite)`);
}
