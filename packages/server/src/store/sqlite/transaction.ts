import type { Database } from 'better-sqlite3';

/**
 * A write transaction that takes SQLite's write lock as it begins (BEGIN IMMEDIATE). With several
 * processes on one database file (an `api` and a `worker`), a deferred transaction that reads before
 * it writes fails with SQLITE_BUSY when another process wrote in between; an immediate one waits for
 * the lock under busy_timeout instead. Nested calls still become savepoints.
 */
export function writeTransaction<A extends unknown[], R>(db: Database, body: (...args: A) => R): (...args: A) => R {
  const transaction = db.transaction(body);
  return (...args: A) => transaction.immediate(...args);
}
