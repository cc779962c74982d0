// test tier: full (PostgreSQL)
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { openStore } from '../src/store/index.js';
import type { MessageInsert, Store } from '../src/store/types.js';
import { eventually } from './helpers.js';
import { postgresForTests } from './postgres.js';

const setup = await postgresForTests();

let counter = 0;
const pending = (): MessageInsert => ({
  id: `msg_wake_${++counter}`,
  accountName: 'A-1',
  serviceName: 'CarrierService',
  payload: '{}',
  status: 'pending',
  maxAttempts: 4,
  nextAttemptAt: Date.now(),
  reason: null,
  idempotency: null,
});

describe('PostgreSQL wake-ups (LISTEN/NOTIFY)', { skip: setup.skip }, () => {
  let url: string;
  let drop: () => Promise<void>;
  let store: Store;
  let other: Store;
  beforeEach(async () => {
    if (setup.skip !== false) return;
    const database = await setup.postgres.createTestDatabase();
    ({ url, drop } = database);
    store = await openStore(url, { poolSize: 2 });
    await store.migrate();
    other = await openStore(url, { poolSize: 2 });
  });
  afterEach(async () => {
    await store.close();
    await other.close();
    await drop();
  });

  it('wakes a listener in another instance on publish and replay, and again after its connection was cut', async () => {
    let wakes = 0;
    const stop = other.onPublished?.(() => {
      wakes++;
    });
    assert.ok(stop, 'the PostgreSQL store offers wake-ups');
    // Connecting wakes once (whatever was published meanwhile is due).
    await eventually(async () => wakes >= 1, { timeout: 5_000, what: 'the listening connection' });
    const before = wakes;
    await store.messages.insert([pending()], Date.now());
    await eventually(async () => wakes > before, { timeout: 5_000, what: 'a wake-up after a publish' });

    // Cut the listening connection as a network failure or a database restart would.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const cut = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
      );
      assert.equal(cut.rowCount, 1);
    } finally {
      await admin.end();
    }
    const afterCut = wakes;
    // It reconnects by itself (and wakes once on reconnecting), then hears publishes again.
    await eventually(async () => wakes > afterCut, { timeout: 10_000, what: 'the reconnection' });
    const reconnected = wakes;
    const failed = { ...pending(), status: 'failed' as const, nextAttemptAt: null, reason: 'x' };
    await store.messages.insert([failed], Date.now());
    await store.messages.requeue([failed.id], ['failed'], 1, Date.now());
    await eventually(async () => wakes > reconnected, { timeout: 5_000, what: 'a wake-up after a replay' });
    stop?.();
  });

  it('tells every instance when registrations change, so their caches drop what they hold', async () => {
    let changes = 0;
    const stop = other.onRegistrationsChanged?.(() => {
      changes++;
    });
    assert.ok(stop, 'the PostgreSQL store pushes registration changes');
    await eventually(async () => changes >= 1, { timeout: 5_000, what: 'the listening connection' });
    const fields = {
      accountName: 'A-1',
      serviceName: 'DeviceUsage',
      url: 'https://a/',
      username: null,
      passwordEnc: null,
      updatedAt: 1,
    };
    let before = changes;
    await store.registrations.insert({ ...fields, signingSecretEnc: 's' });
    await eventually(async () => changes > before, { timeout: 5_000, what: 'a notification after an insert' });
    before = changes;
    await store.registrations.update({ ...fields, url: 'https://b/' });
    await eventually(async () => changes > before, { timeout: 5_000, what: 'a notification after an update' });
    before = changes;
    await store.registrations.remove('A-1', 'DeviceUsage');
    await eventually(async () => changes > before, { timeout: 5_000, what: 'a notification after a removal' });
    stop?.();
  });
});
