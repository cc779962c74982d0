import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { FieldCipher } from '../src/security/encryption.js';
import { hashPassword, verifyPassword } from '../src/security/passwords.js';
import { createServices, type Services } from '../src/services/index.js';
import { REGISTRATION_CACHE_STALENESS_MS, RegistrationService } from '../src/services/registrations.js';
import { StoreUnavailableError } from '../src/store/errors.js';
import { openStore } from '../src/store/index.js';
import { migrations } from '../src/store/sqlite/migrations.js';
import type { Store } from '../src/store/types.js';
import { childProcessTest } from './server-process.js';

/** A store with the services over it, closed again when the key does not fit. */
async function openAt(path: string, key: Buffer): Promise<{ store: Store; services: Services }> {
  const store = await openStore(`sqlite:${path}`);
  try {
    return { store, services: await createServices(store, key) };
  } catch (error) {
    await store.close();
    throw error;
  }
}

describe('SQLite store', () => {
  let dir: string;
  let path: string;
  let key: Buffer;
  let store: Store;
  let services: Services;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ccb-store-'));
    path = join(dir, 'nested', 'ccb.sqlite');
    key = randomBytes(32);
    ({ store, services } = await openAt(path, key));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const raw = () => new BetterSqlite3(path, { readonly: true });

  it('creates the folder, runs every migration once and records it in schema_migrations', async () => {
    await store.migrate();
    await store.close();
    ({ store, services } = await openAt(path, key));
    const db = raw();
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    assert.deepEqual(
      versions,
      migrations.map((m) => m.version),
    );
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it(
    'applies each migration once when several processes open a new database file together',
    childProcessTest,
    async () => {
      const storeModule = new URL('../src/store/index.ts', import.meta.url).href;
      // Each process loads the code, says so, and opens the file when told: all of them at once.
      const start = (file: string) => {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            '--input-type=module',
            '-e',
            `const { openStore } = await import(${JSON.stringify(storeModule)});
           process.stdout.write('ready');
           process.stdin.once('data', async () => {
             const store = await openStore(${JSON.stringify(`sqlite:${file}`)});
             await store.close();
             process.exit(0);
           });`,
          ],
          { stdio: ['pipe', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (chunk) => {
          stderr += chunk;
        });
        const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
          child.on('exit', (code) => resolve({ code, stderr })),
        );
        return { child, ready, exited };
      };
      const open = async (file: string, count: number) => {
        const children = Array.from({ length: count }, () => start(file));
        await Promise.all(children.map((c) => c.ready));
        for (const c of children) c.child.stdin.write('go\n');
        return Promise.all(children.map((c) => c.exited));
      };
      for (let round = 0; round < 3; round++) {
        const file = join(dir, `together-${round}.sqlite`);
        const results = await open(file, 4);
        for (const result of results) assert.equal(result.code, 0, `round ${round}: ${result.stderr}`);
        const db = new BetterSqlite3(file, { readonly: true });
        assert.deepEqual(
          db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all(),
          migrations.map((m) => m.version),
        );
        db.close();
      }
    },
  );

  it('opens a database made by the schema before migration 6, delivers its messages and purges them, keeping their history', async () => {
    const older = join(dir, 'older.sqlite');
    const db = new BetterSqlite3(older);
    db.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    for (const migration of migrations.filter((m) => m.version <= 5)) {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(migration.version, migration.name);
    }
    const insert = db.prepare(
      `INSERT INTO messages (id, account_name, service_name, payload, status, attempts, max_attempts, next_attempt_at,
         reason, created_at, updated_at)
       VALUES (?, 'A-1', 'CarrierService', '{"n":1}', 'pending', ?, 4, 1000, ?, 0, 0)`,
    );
    insert.run('m-fresh', 0, null);
    insert.run('m-retried', 1, 'http_status: 500');
    // Delivered at its first attempt before the upgrade: that attempt is a row of attempts.
    db.prepare(
      `INSERT INTO messages (id, account_name, service_name, payload, status, attempts, max_attempts, created_at,
         updated_at, delivered_at)
       VALUES ('m-done', 'A-1', 'CarrierService', '{"n":2}', 'delivered', 1, 4, 0, 0, 400)`,
    ).run();
    const oldAttempt = db.prepare(
      `INSERT INTO attempts (message_id, attempt_number, started_at, url, status_code, latency_ms, error_kind, error,
         response_excerpt)
       VALUES (?, 1, ?, 'https://a.test/cb', ?, 3.5, ?, ?, ?)`,
    );
    oldAttempt.run('m-retried', 500, 500, 'http_status', '500', 'oops');
    oldAttempt.run('m-done', 300, 200, null, null, null);
    db.close();

    const reopened = await openStore(`sqlite:${older}`);
    try {
      const claimed = await reopened.messages.claim(2_000, 10, 10_000);
      assert.deepEqual(
        claimed.map((m) => [m.id, m.attempts, m.payload]),
        [
          ['m-fresh', 0, '{"n":1}'],
          ['m-retried', 1, '{"n":1}'],
        ],
      );
      const delivered = (id: string, attemptNumber: number) => ({
        id,
        attempt: {
          messageId: id,
          attemptNumber,
          startedAt: 2_000,
          url: 'https://a.test/cb',
          statusCode: 200,
          latencyMs: 1.5,
          errorKind: null,
          error: null,
          responseExcerpt: null,
        },
        status: 'delivered' as const,
        nextAttemptAt: null,
        reason: null,
        deliveredAt: 2_001,
      });
      await reopened.messages.update([delivered('m-fresh', 1), delivered('m-retried', 2)], 2_001);
      const retried = await reopened.messages.get('m-retried');
      assert.deepEqual(
        retried?.attempts.map((a) => [a.attemptNumber, a.statusCode, a.errorKind, a.responseExcerpt]),
        [
          [1, 500, 'http_status', 'oops'],
          [2, 200, null, null],
        ],
      );
      assert.deepEqual([retried?.message.status, retried?.message.attempts], ['delivered', 2]);
      assert.deepEqual((await reopened.messages.get('m-fresh'))?.attempts, [delivered('m-fresh', 1).attempt]);
      assert.deepEqual(
        (await reopened.messages.get('m-done'))?.attempts.map((a) => [a.attemptNumber, a.startedAt, a.statusCode]),
        [[1, 300, 200]],
      );
      // Purged, they leave no attempt behind, wherever it was kept.
      assert.equal(await reopened.messages.purge({ deliveredBefore: 3_000, failedBefore: 0, keysExpiredBy: 0 }), 3);
      const check = new BetterSqlite3(older, { readonly: true });
      assert.equal(check.prepare('SELECT COUNT(*) FROM attempts').pluck().get(), 0);
      assert.equal(check.prepare('SELECT COUNT(*) FROM messages').pluck().get(), 0);
      check.close();
    } finally {
      await reopened.close();
    }
  });

  it('keeps callback passwords and signing secrets encrypted at rest, and returns them decrypted', async () => {
    await services.registrations.upsert({
      accountName: 'A-1',
      serviceName: 'CarrierService',
      url: 'https://hooks.example.net/c',
      username: 'acme-prod',
      password: 'k9Vd2mQ7tR4zX8pL1sN6',
    });
    const registration = await services.registrations.get('A-1', 'CarrierService');
    assert.equal(registration?.password, 'k9Vd2mQ7tR4zX8pL1sN6');
    assert.match(registration?.signingSecret ?? '', /^whsec_[A-Za-z0-9+/]+={0,2}$/);
    assert.ok(Buffer.from(registration!.signingSecret.slice(6), 'base64').length >= 24);

    const db = raw();
    const row = db.prepare('SELECT * FROM registrations').get() as Record<string, unknown>;
    db.close();
    const everything = JSON.stringify(row);
    assert.ok(!everything.includes('k9Vd2mQ7tR4zX8pL1sN6'), 'clear password in the row');
    assert.ok(!everything.includes(registration!.signingSecret.slice(6)), 'clear signing secret in the row');
    assert.match(String(row.password_enc), /^v1:/);
    assert.equal(new FieldCipher(key).decrypt(String(row.password_enc)), 'k9Vd2mQ7tR4zX8pL1sN6');
  });

  it('refuses to open a database with another encryption key, and opens it again with the right one', async () => {
    await services.registrations.upsert({
      accountName: 'A-1',
      serviceName: 'DeviceUsage',
      url: 'https://a/',
      password: 'pw',
    });
    await store.close();
    await assert.rejects(openAt(path, randomBytes(32)), /does not match the key/);
    ({ store, services } = await openAt(path, key));
    assert.equal((await services.registrations.list('A-1'))[0].password, 'pw');
  });

  it('keeps one registration per account and service, replacing it but keeping its secret', async () => {
    const first = await services.registrations.upsert({
      accountName: 'A-1',
      serviceName: 'DeviceUsage',
      url: 'https://a/',
    });
    const second = await services.registrations.upsert({
      accountName: 'A-1',
      serviceName: 'DeviceUsage',
      url: 'https://b/',
      username: 'u',
    });
    assert.equal(second.signingSecret, first.signingSecret);
    assert.equal(second.createdAt, first.createdAt);
    const list = await services.registrations.list('A-1');
    assert.equal(list.length, 1);
    assert.equal(list[0].url, 'https://b/');
    assert.equal(list[0].username, 'u');
    assert.equal(list[0].password, null);
  });

  it('rotates the signing secret and keeps the old one until the grace period ends', async () => {
    const before = await services.registrations.upsert({
      accountName: 'A-1',
      serviceName: 'StateService',
      url: 'https://a/',
    });
    const rotated = await services.registrations.rotateSecret('A-1', 'StateService');
    assert.notEqual(rotated?.signingSecret, before.signingSecret);
    assert.equal(rotated?.previousSecret, before.signingSecret);
    assert.ok((rotated?.previousSecretExpiresAt ?? 0) > Date.now());
    assert.equal(await services.registrations.rotateSecret('A-1', 'Nothing'), null);
  });

  it('cancels the pending and delivering messages of a removed registration', async () => {
    await services.registrations.upsert({ accountName: 'A-1', serviceName: 'CarrierService', url: 'https://a/' });
    const db = new BetterSqlite3(path);
    const insert = db.prepare(
      `INSERT INTO messages (id, account_name, service_name, payload, status, max_attempts, created_at, updated_at)
       VALUES (?, ?, ?, '{}', ?, 4, 0, 0)`,
    );
    insert.run('m-pending', 'A-1', 'CarrierService', 'pending');
    insert.run('m-delivering', 'A-1', 'CarrierService', 'delivering');
    insert.run('m-delivered', 'A-1', 'CarrierService', 'delivered');
    insert.run('m-failed', 'A-1', 'CarrierService', 'failed');
    insert.run('m-other-service', 'A-1', 'DeviceUsage', 'pending');
    insert.run('m-other-account', 'A-2', 'CarrierService', 'pending');

    assert.equal(await services.registrations.remove('A-1', 'CarrierService'), true);
    const rows = db.prepare('SELECT id, status, reason FROM messages ORDER BY id').all();
    db.close();
    assert.deepEqual(rows, [
      { id: 'm-delivered', status: 'delivered', reason: null },
      { id: 'm-delivering', status: 'cancelled', reason: 'registration_removed' },
      { id: 'm-failed', status: 'failed', reason: null },
      { id: 'm-other-account', status: 'pending', reason: null },
      { id: 'm-other-service', status: 'pending', reason: null },
      { id: 'm-pending', status: 'cancelled', reason: 'registration_removed' },
    ]);
    assert.equal(await services.registrations.remove('A-1', 'CarrierService'), false);
    assert.deepEqual(await services.registrations.list('A-1'), []);
  });

  it('serves a registration changed by another connection for at most the staleness bound, then the change', async () => {
    let now = 1_000_000;
    const registrations = new RegistrationService(store, new FieldCipher(key), () => now);
    const services = () => registrations.list('A-1').then((list) => list.map((r) => r.serviceName));
    await registrations.upsert({ accountName: 'A-1', serviceName: 'CarrierService', url: 'https://a/' });
    assert.deepEqual(await services(), ['CarrierService']);
    const other = await openAt(path, key);
    await other.services.registrations.upsert({ accountName: 'A-1', serviceName: 'DeviceUsage', url: 'https://b/' });
    await other.services.registrations.remove('A-1', 'CarrierService');
    await other.store.close();
    now += REGISTRATION_CACHE_STALENESS_MS - 1;
    assert.deepEqual(await services(), ['CarrierService'], 'cached within the bound');
    now += 1;
    assert.deepEqual(await services(), ['DeviceUsage'], 'the change is seen once the bound has passed');
  });

  it('stores sessions and tokens, touches, deletes and purges expired ones', async () => {
    await store.auth.saveAccessToken({ tokenHash: 't1', clientId: 'c', expiresAt: 100 });
    await store.auth.saveAccessToken({ tokenHash: 't2', clientId: 'c', expiresAt: 10_000 });
    await store.auth.saveSession({ tokenHash: 's1', username: 'u', clientId: 'c', expiresAt: 100 });
    await store.auth.saveSession({ tokenHash: 's2', username: 'u', clientId: 'c', expiresAt: 100 });
    await store.auth.touchSession('s2', 10_000);
    assert.equal((await store.auth.getSession('s2'))?.expiresAt, 10_000);
    assert.equal(await store.auth.purgeExpired(1_000), 2);
    assert.equal(await store.auth.getAccessToken('t1'), null);
    assert.equal(await store.auth.getSession('s1'), null);
    assert.equal(await store.auth.deleteSession('s2'), true);
    assert.equal(await store.auth.deleteSession('s2'), false);
  });

  it('refuses unknown database URLs with a clear message, and reports an unreachable PostgreSQL as unavailable', async () => {
    await assert.rejects(openStore('mysql://localhost/ccb'), /must start with sqlite: .* or postgres:\/\//);
    const unreachable = await openStore('postgres://ccb@127.0.0.1:1/ccb');
    try {
      await assert.rejects(unreachable.migrate(), (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError);
        assert.equal(error.reason, 'unreachable');
        return true;
      });
    } finally {
      await unreachable.close();
    }
  });
});

describe('security primitives', () => {
  it('hashes passwords with a fresh salt each time and verifies them', async () => {
    const a = await hashPassword('s3cret');
    const b = await hashPassword('s3cret');
    assert.notEqual(a, b);
    assert.match(a, /^scrypt\$/);
    assert.equal(await verifyPassword('s3cret', a), true);
    assert.equal(await verifyPassword('s3cret!', a), false);
    assert.equal(await verifyPassword('s3cret', 'garbage'), false);
  });

  it('encrypts with a random IV and detects tampering', () => {
    const cipher = new FieldCipher(randomBytes(32));
    const one = cipher.encrypt('drowssap');
    assert.notEqual(one, cipher.encrypt('drowssap'));
    assert.equal(cipher.decrypt(one), 'drowssap');
    const parts = one.split(':');
    const body = Buffer.from(parts[2], 'base64');
    body[0] ^= 1;
    parts[2] = body.toString('base64');
    assert.throws(() => cipher.decrypt(parts.join(':')));
    assert.throws(() => new FieldCipher(randomBytes(16)));
  });
});
