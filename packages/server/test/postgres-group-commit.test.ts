// test tier: full (PostgreSQL)
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { openStore } from '../src/store/index.js';
import type { MessageInsert, Store } from '../src/store/types.js';
import { postgresForTests } from './postgres.js';

const setup = await postgresForTests();

const T0 = 1_700_000_000_000;
let counter = 0;
const row = (overrides: Partial<MessageInsert> = {}): MessageInsert => ({
  id: `msg_group_${++counter}`,
  accountName: 'A-1',
  serviceName: 'CarrierService',
  payload: '{}',
  status: 'pending',
  maxAttempts: 4,
  nextAttemptAt: T0,
  reason: null,
  idempotency: null,
  ...overrides,
});

describe('PostgreSQL publish group commit', { skip: setup.skip }, () => {
  let drop: () => Promise<void>;
  let store: Store;
  let admin: pg.Client;
  /** The transaction that wrote each message (xmin): rows of one commit share it. */
  const transactionsOf = async (ids: string[]) =>
    (await admin.query<{ xmin: string }>('SELECT DISTINCT xmin::text FROM messages WHERE id = ANY($1::text[])', [ids]))
      .rows.length;

  beforeEach(async () => {
    if (setup.skip !== false) return;
    const database = await setup.postgres.createTestDatabase();
    drop = database.drop;
    store = await openStore(database.url, { poolSize: 4 });
    await store.migrate();
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterEach(async () => {
    await admin.end();
    await store.close();
    await drop();
  });

  it('commits single publishes of one turn in one transaction', async () => {
    const rows = Array.from({ length: 20 }, () => row());
    await Promise.all(rows.map((r) => store.messages.insert([r], T0)));
    assert.equal(await transactionsOf(rows.map((r) => r.id)), 1);
    // With idempotency keys too.
    const keyed = Array.from({ length: 5 }, (_, i) =>
      row({ idempotency: { key: `k${i}`, fingerprint: 'fp', expiresAt: T0 + 1_000 } }),
    );
    await Promise.all(keyed.map((r) => store.messages.insert([r], T0)));
    assert.equal(await transactionsOf(keyed.map((r) => r.id)), 1);
  });

  it('commits the others of a group without the insert that failed it', async () => {
    const existing = row();
    await store.messages.insert([existing], T0);
    const good = Array.from({ length: 5 }, () => row());
    const duplicate = row({ id: existing.id });
    const settled = await Promise.allSettled([
      ...good.map((r) => store.messages.insert([r], T0)),
      store.messages.insert([row(), duplicate], T0),
    ]);
    assert.deepEqual(
      settled.map((s) => s.status),
      [...good.map(() => 'fulfilled'), 'rejected'],
    );
    const found = await admin.query<{ id: string }>('SELECT id FROM messages WHERE id = ANY($1::text[])', [
      good.map((r) => r.id),
    ]);
    assert.equal(found.rows.length, good.length);
    assert.equal((await admin.query('SELECT count(*)::int AS n FROM messages')).rows[0].n, 1 + good.length);
  });
});
