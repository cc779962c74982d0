import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { purgeExpiredMessages } from '../src/delivery/retention.js';
import { openStore } from '../src/store/index.js';
import type { PostgresStore } from '../src/store/postgres/index.js';
import { listPartitions, PARTITIONS_AHEAD } from '../src/store/postgres/partitions.js';
import type { Attempt, MessageInsert } from '../src/store/types.js';
import { postgresForTests } from './postgres.js';

const pgTests = await postgresForTests();
const MINUTE = 60_000;

const row = (id: string): MessageInsert => ({
  id,
  accountName: 'A-1',
  serviceName: 'CarrierService',
  payload: `{"id":"${id}"}`,
  status: 'pending',
  maxAttempts: 4,
  nextAttemptAt: 0,
  reason: null,
  idempotency: null,
});
const attempt = (messageId: string, at: number, statusCode: number): Attempt => ({
  messageId,
  attemptNumber: 1,
  startedAt: at,
  url: 'https://a.test/cb',
  statusCode,
  latencyMs: 1,
  errorKind: statusCode === 200 ? null : 'http_status',
  error: statusCode === 200 ? null : 'the listener answered 500',
  responseExcerpt: null,
});

/**
 * Time partitions of the history on a real PostgreSQL, a minute wide: made ahead by the service,
 * dropped whole by retention while messages of the dropped partition are still in flight, and failed
 * messages within their own (longer) retention outliving the drop of their partition.
 */
describe('PostgreSQL: history partitions made ahead and dropped by retention', { skip: pgTests.skip }, () => {
  let drop: () => Promise<void> = async () => {};
  let store: PostgresStore;

  before(async () => {
    if (pgTests.skip !== false) return;
    const database = await pgTests.postgres.createTestDatabase();
    drop = database.drop;
    store = (await openStore(database.url, { poolSize: 3, partitionIntervalMs: MINUTE })) as PostgresStore;
    await store.migrate();
  });
  after(async () => {
    await store?.close();
    await drop();
  });

  it('makes the partitions of now and ahead at start', async () => {
    const now = store.now();
    for (const table of ['messages', 'attempts']) {
      const partitions = await listPartitions(store.db, table);
      for (let i = 0; i <= PARTITIONS_AHEAD; i++) {
        const at = now + i * MINUTE;
        assert.ok(
          partitions.some((p) => p.from <= at && at < p.to),
          `${table}: a partition for ${new Date(at).toISOString()}`,
        );
      }
    }
  });

  it('drops an expired partition whole, keeping its message in flight and its failed message', async () => {
    const now = store.now();
    const old = now - 10 * MINUTE;
    // Ten minutes ago: one delivered, one failed, one still being delivered (claimed, lease running).
    await store.messages.insert(
      ['msg_delivered', 'msg_failed', 'msg_in_flight'].map((id) => ({ ...row(id), nextAttemptAt: old })),
      old,
    );
    const claimed = await store.messages.claim(old, 3, 20 * MINUTE);
    assert.equal(claimed.length, 3);
    await store.messages.update(
      [
        {
          id: 'msg_delivered',
          attempt: attempt('msg_delivered', old, 200),
          status: 'delivered',
          nextAttemptAt: null,
          reason: null,
          deliveredAt: old,
        },
        {
          id: 'msg_failed',
          attempt: attempt('msg_failed', old, 500),
          status: 'failed',
          nextAttemptAt: null,
          reason: 'exhausted',
          deliveredAt: null,
        },
      ],
      old,
    );
    await store.messages.insert([{ ...row('msg_fresh'), nextAttemptAt: now }], now);
    const before = await listPartitions(store.db, 'messages');
    const oldPartition = before.find((p) => p.from <= old && old < p.to);
    assert.ok(oldPartition, 'the old messages have a partition of their own');

    // Delivered kept 5 minutes, failed an hour: the old partition expires, the failed message does not.
    const purged = await purgeExpiredMessages(
      store.messages,
      { deliveredMs: 5 * MINUTE, failedMs: 60 * MINUTE, purgeIntervalMs: MINUTE },
      now,
    );
    assert.equal(purged, 1, 'the delivered message went with its partition');
    const after = await listPartitions(store.db, 'messages');
    assert.ok(!after.some((p) => p.name === oldPartition.name), 'the old partition is detached');
    const left = await store.db.query('SELECT 1 FROM pg_class WHERE relname = $1', [oldPartition.name]);
    assert.equal(left.rowCount, 0, 'and dropped');
    assert.ok(!(await listPartitions(store.db, 'attempts')).some((p) => p.from <= old && old < p.to));

    assert.equal(await store.messages.get('msg_delivered'), null);
    const failed = await store.messages.get('msg_failed');
    assert.deepEqual(
      [failed?.message.status, failed?.message.reason, failed?.attempts.length],
      ['failed', 'exhausted', 1],
    );
    assert.equal(failed?.message.createdAt, old, 'moved, its creation time is unchanged');
    // The message in flight ends after the drop of its partition: its outcome lands where it moved.
    const inFlight = await store.messages.get('msg_in_flight');
    assert.equal(inFlight?.message.status, 'delivering');
    await store.messages.update(
      [
        {
          id: 'msg_in_flight',
          attempt: attempt('msg_in_flight', now, 200),
          status: 'delivered',
          nextAttemptAt: null,
          reason: null,
          deliveredAt: now,
        },
      ],
      now,
    );
    const done = await store.messages.get('msg_in_flight');
    assert.deepEqual([done?.message.status, done?.attempts.length], ['delivered', 1]);
    assert.equal((await store.messages.get('msg_fresh'))?.message.status, 'pending');
    // Listing spans the partitions, newest first.
    assert.deepEqual(
      (await store.messages.list({}, 10, null)).items.map((m) => m.id),
      ['msg_fresh', 'msg_in_flight', 'msg_failed'],
    );

    // An hour later the failed message's own retention is over: it goes too, with the partition it was moved to.
    const later = now + 61 * MINUTE;
    await store.partitions.createAhead(later);
    await purgeExpiredMessages(
      store.messages,
      { deliveredMs: 5 * MINUTE, failedMs: 60 * MINUTE, purgeIntervalMs: MINUTE },
      later,
    );
    assert.equal(await store.messages.get('msg_failed'), null);
  });
});
