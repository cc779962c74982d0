import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openStore } from '../src/store/index.js';
import { migrations } from '../src/store/postgres/migrations.js';
import type { Store } from '../src/store/types.js';
import { postgresForTests } from './postgres.js';

const pgTests = await postgresForTests();
const T0 = Date.now() - 3 * 24 * 3600 * 1000;
const NOW = Date.now();

/** Messages as the previous layout (migrations 1–5: one messages table) held them, one per status. */
const OLD_ROWS = [
  { id: 'msg_old_pending', status: 'pending', attempts: 1, next: T0 + 10, lease: null, reason: 'http_status: 500' },
  { id: 'msg_old_lapsed', status: 'delivering', attempts: 0, next: T0, lease: T0 + 30_000, reason: null },
  { id: 'msg_old_leased', status: 'delivering', attempts: 2, next: T0, lease: NOW + 3_600_000, reason: null },
  { id: 'msg_old_failed', status: 'failed', attempts: 4, next: null, lease: null, reason: 'exhausted' },
  { id: 'msg_old_delivered', status: 'delivered', attempts: 1, next: null, lease: null, reason: null },
  {
    id: 'msg_old_cancelled',
    status: 'cancelled',
    attempts: 0,
    next: null,
    lease: null,
    reason: 'registration_removed',
  },
];

/**
 * Upgrade in place: a database filled by the previous schema (one messages table for queue and
 * history) migrates to the queue table and the partitioned history without losing a message, and
 * delivers from it.
 */
describe('PostgreSQL: upgrade from the single messages table', { skip: pgTests.skip }, () => {
  let drop: () => Promise<void> = async () => {};
  let store: Store;

  before(async () => {
    if (pgTests.skip !== false) return;
    const database = await pgTests.postgres.createTestDatabase();
    drop = database.drop;
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(`CREATE TABLE schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      for (const migration of migrations.filter((m) => m.version <= 5)) {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, $3)', [migration.version, migration.name, 1]);
      }
      for (const [i, row] of OLD_ROWS.entries()) {
        await client.query(
          `INSERT INTO messages (id, account_name, service_name, payload, status, attempts, max_attempts,
             next_attempt_at, locked_until, reason, idempotency_key, created_at, updated_at, delivered_at)
           VALUES ($1, 'A-1', 'CarrierService', $2, $3, $4, 4, $5, $6, $7, $8, $9, $9, $10)`,
          [
            row.id,
            JSON.stringify({ n: i }),
            row.status,
            row.attempts,
            row.next,
            row.lease,
            row.reason,
            i === 0 ? 'key-0' : null,
            T0 + i,
            row.status === 'delivered' ? T0 + 100 : null,
          ],
        );
        for (let n = 1; n <= row.attempts; n++) {
          await client.query(
            `INSERT INTO attempts (message_id, attempt_number, started_at, url, status_code, latency_ms, error,
               response_excerpt, error_kind) VALUES ($1, $2, $3, 'https://a.test/cb', 500, 1.5, 'boom', NULL, 'http_status')`,
            [row.id, n, T0 + n],
          );
        }
      }
      await client.query(
        `INSERT INTO idempotency_keys VALUES ('A-1', 'CarrierService', 'key-0', 'msg_old_pending', 'fp', $1)`,
        [NOW + 3_600_000],
      );
    } finally {
      await client.end();
    }
    store = await openStore(database.url, { poolSize: 2 });
    await store.migrate();
  });
  after(async () => {
    await store?.close();
    await drop();
  });

  it('keeps every message with its status, attempts and key', async () => {
    for (const [i, row] of OLD_ROWS.entries()) {
      const found = await store.messages.get(row.id);
      assert.ok(found, row.id);
      assert.deepEqual(
        [found.message.status, found.message.attempts, found.message.reason, found.message.payload],
        [row.status, row.attempts, row.reason, JSON.stringify({ n: i })],
        row.id,
      );
      assert.equal(found.attempts.length, row.attempts, row.id);
      assert.equal(found.message.createdAt, T0 + i);
    }
    assert.equal((await store.messages.get('msg_old_leased'))?.message.lockedUntil, NOW + 3_600_000);
    const [key] = await store.messages.findIdempotencyKeys(
      [{ accountName: 'A-1', serviceName: 'CarrierService', key: 'key-0' }],
      NOW,
    );
    assert.equal(key?.messageId, 'msg_old_pending');
    const listed = await store.messages.list({}, 10, null);
    assert.deepEqual(
      listed.items.map((m) => m.id),
      OLD_ROWS.map((r) => r.id).reverse(),
      'newest first, in the old insertion order',
    );
    const stats = await store.messages.stats(NOW);
    assert.deepEqual(stats.counts, { pending: 1, delivering: 2, delivered: 1, failed: 1, cancelled: 1 });
  });

  it('delivers from the upgraded queue: what was due and the lapsed lease, not the live one', async () => {
    const claimed = await store.messages.claim(NOW, 10, 60_000);
    assert.deepEqual(claimed.map((m) => m.id).sort(), ['msg_old_lapsed', 'msg_old_pending']);
    await store.messages.update(
      claimed.map((m) => ({
        id: m.id,
        attempt: {
          messageId: m.id,
          attemptNumber: m.attempts + 1,
          startedAt: NOW,
          url: 'https://a.test/cb',
          statusCode: 200,
          latencyMs: 1,
          errorKind: null,
          error: null,
          responseExcerpt: null,
        },
        status: 'delivered',
        nextAttemptAt: null,
        reason: null,
        deliveredAt: NOW,
      })),
      NOW,
    );
    const pending = await store.messages.get('msg_old_pending');
    assert.deepEqual([pending?.message.status, pending?.attempts.length], ['delivered', 2]);
    assert.equal((await store.messages.get('msg_old_lapsed'))?.message.status, 'delivered');
    // New messages go into the new layout beside the old ones, after them in the list.
    await store.messages.insert(
      [
        {
          id: 'msg_new',
          accountName: 'A-1',
          serviceName: 'CarrierService',
          payload: '{}',
          status: 'pending',
          maxAttempts: 4,
          nextAttemptAt: NOW,
          reason: null,
          idempotency: null,
        },
      ],
      NOW,
    );
    assert.equal((await store.messages.list({}, 1, null)).items[0].id, 'msg_new');
  });
});
