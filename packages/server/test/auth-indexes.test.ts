import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type pg from 'pg';
import { openStore } from '../src/store/index.js';
import type { PostgresStore } from '../src/store/postgres/index.js';
import type { SqliteStore } from '../src/store/sqlite/index.js';
import type { Store } from '../src/store/types.js';
import { testDatabaseBackends } from './postgres.js';

/**
 * Ending a user's sessions, and removing a client or replacing its secret, find their rows through an
 * index (by user, by client) instead of reading the whole table: the plans of the store's statements
 * name the index on both backends.
 */
const STATEMENTS = [
  { sql: 'DELETE FROM sessions WHERE username = $1', index: 'sessions_user' },
  { sql: 'DELETE FROM sessions WHERE client_id = $1', index: 'sessions_client' },
  { sql: 'DELETE FROM access_tokens WHERE client_id = $1', index: 'access_tokens_client' },
];

for (const backend of await testDatabaseBackends()) {
  describe(`sessions and access tokens by user and by client: ${backend.name}`, { skip: backend.skip }, () => {
    let store: Store;
    let drop: () => Promise<void>;
    beforeEach(async () => {
      const database = await backend.create();
      drop = database.drop;
      store = await openStore(database.url, { poolSize: 2 });
      await store.migrate();
      // Enough rows that reading the whole table would cost more than the index.
      await store.auth.createClient({ clientId: 'c-1', name: 'one', secretHash: 'h', createdAt: 1 });
      for (let i = 0; i < 200; i++) {
        await store.auth.saveSession({
          tokenHash: `s${i}`,
          username: `u${i % 50}`,
          clientId: `c-${i % 7}`,
          expiresAt: 1e15,
        });
        await store.auth.saveAccessToken({ tokenHash: `t${i}`, clientId: `c-${i % 7}`, expiresAt: 1e15 });
      }
    });
    afterEach(async () => {
      await store.close();
      await drop();
    });

    it('plans each delete through its index', async () => {
      for (const { sql, index } of STATEMENTS) {
        const plan = await explain(store, sql);
        assert.match(plan, new RegExp(`\\b${index}\\b`), `${sql}:\n${plan}`);
      }
      assert.equal(await store.auth.deleteUserSessions('u3'), 4);
    });
  });
}

async function explain(store: Store, sql: string): Promise<string> {
  if (store.kind === 'sqlite') {
    const rows = (store as SqliteStore).db.prepare(`EXPLAIN QUERY PLAN ${sql.replace('$1', '?')}`).all('x') as {
      detail: string;
    }[];
    return rows.map((row) => row.detail).join('\n');
  }
  const client = (await (store as PostgresStore).db.pool.connect()) as pg.PoolClient;
  try {
    // The tables are small: without this the planner may read them whole even with the index there.
    await client.query('SET enable_seqscan = off');
    const result = await client.query(`EXPLAIN ${sql.replace('$1', "'x'")}`);
    return result.rows.map((row) => row['QUERY PLAN']).join('\n');
  } finally {
    client.release();
  }
}
