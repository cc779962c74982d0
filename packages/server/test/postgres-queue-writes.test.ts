// test tier: full (PostgreSQL)
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { openStore } from '../src/store/index.js';
import type { PostgresStore } from '../src/store/postgres/index.js';
import type { MessageInsert } from '../src/store/types.js';
import { postgresForTests } from './postgres.js';

const setup = await postgresForTests();

const ROWS = 600;

/** A pending message of A-1's CarrierService, due at `now`. */
const pending = (id: string, now: number): MessageInsert => ({
  id,
  accountName: 'A-1',
  serviceName: 'CarrierService',
  payload: '{}',
  status: 'pending',
  maxAttempts: 4,
  nextAttemptAt: now,
  reason: null,
  idempotency: null,
});

describe('PostgreSQL queue writes', { skip: setup.skip }, () => {
  let drop: () => Promise<void>;
  let store: PostgresStore;
  beforeEach(async () => {
    if (setup.skip !== false) return;
    const database = await setup.postgres.createTestDatabase();
    drop = database.drop;
    store = (await openStore(database.url, { poolSize: 2 })) as PostgresStore;
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    await drop();
  });

  it('rewrites a claimed queue row on its own page with no new index entry (HOT)', async () => {
    const now = store.now();
    const rows = Array.from({ length: ROWS }, (_, i) => pending(`msg_page_${String(i).padStart(5, '0')}`, now));
    await store.messages.insert(rows, now);
    const pages = async () =>
      new Map(
        (
          await store.db.query<{ id: string; page: string }>(
            `SELECT message_id AS id, (ctid::text::point)[0]::text AS page FROM queue`,
          )
        ).rows.map((r) => [r.id, r.page]),
      );
    const indexPages = async () =>
      (
        await store.db.query<{ n: number }>(
          `SELECT (pg_relation_size('queue_pkey') / current_setting('block_size')::int)::int AS n`,
        )
      ).rows[0].n;
    const before = await pages();
    const indexBefore = await indexPages();
    assert.ok(new Set(before.values()).size > 2, `the rows span several pages (${new Set(before.values()).size})`);
    const claimed = await store.messages.claim(now, ROWS, 30_000);
    assert.equal(claimed.length, ROWS);
    const after = await pages();
    const moved = [...before].filter(([id, page]) => after.get(id) !== page).length;
    assert.equal(moved, 0, `${moved} of ${ROWS} claimed rows went to another page`);
    // HOT: no index entry for the new versions (${ROWS} more entries would take more pages).
    assert.equal(await indexPages(), indexBefore, 'the claim added no entries to queue_pkey');
  });

  it('replaces an attempt whose outcome is written again (the plain insert conflicts, the upsert runs)', async () => {
    const now = store.now();
    const id = 'msg_twice';
    await store.messages.insert([pending(id, now)], now);
    assert.equal((await store.messages.claim(now, 1, 30_000)).length, 1);
    const outcome = (statusCode: number) => ({
      id,
      attempt: {
        messageId: id,
        attemptNumber: 1,
        startedAt: now,
        url: 'http://127.0.0.1:9/cb',
        statusCode,
        latencyMs: 1,
        errorKind: 'http_status' as const,
        error: `the listener answered ${statusCode}`,
        responseExcerpt: null,
      },
      status: 'pending' as const,
      nextAttemptAt: now + 60_000,
      reason: null,
      deliveredAt: null,
    });
    await store.messages.update([outcome(500)], now);
    await store.messages.update([outcome(503)], now);
    const found = await store.messages.get(id);
    assert.deepEqual(
      found?.attempts.map((a) => [a.attemptNumber, a.statusCode]),
      [[1, 503]],
    );
    assert.equal(found?.message.status, 'pending');
  });
});
