// test tier: full (PostgreSQL)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ACCOUNT, admin } from './delivery-fixtures.js';
import { eventually, startTestServer, type TestServer } from './helpers.js';
import { postgresForTests } from './postgres.js';

const setup = await postgresForTests();

describe('PostgreSQL out of reach', { skip: setup.skip }, () => {
  let server: TestServer;
  let url: URL;
  let drop: () => Promise<void> = async () => {};
  before(async () => {
    if (setup.skip !== false) return;
    const database = await setup.postgres.createTestDatabase();
    drop = database.drop;
    url = new URL(database.url);
    server = await startTestServer({
      env: { DATABASE_URL: database.url, CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
    });
  });
  after(async () => {
    await server?.close();
    await drop();
  });

  /** Runs statements on the cluster's maintenance database, outside the server's pool. */
  async function onCluster(...statements: string[]): Promise<void> {
    const maintenance = new URL(url);
    maintenance.pathname = '/postgres';
    const client = new pg.Client({ connectionString: maintenance.toString() });
    await client.connect();
    try {
      for (const sql of statements) await client.query(sql);
    } finally {
      await client.end();
    }
  }

  const body = { accountName: ACCOUNT, serviceName: 'CarrierService', payload: { requestId: 'down' } };
  const total = async () => {
    const stats = await admin<{ counts: Record<string, number> }>(server, 'GET', '/stats');
    return Object.values(stats.body.counts).reduce((a, b) => a + b, 0);
  };

  it('answers 503 with Retry-After on publish and reports not ready while the database refuses connections, then recovers without a restart', async () => {
    assert.equal((await admin(server, 'POST', '/messages', body)).status, 202);
    const name = url.pathname.slice(1);
    // As a database restart or a network failure would: every connection cut, no new one accepted.
    await onCluster(
      `ALTER DATABASE ${name} ALLOW_CONNECTIONS false`,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`,
    );
    try {
      for (let i = 0; i < 3; i++) {
        const refused = await admin<{ errorCode: string; errorMessage: string }>(server, 'POST', '/messages', body);
        assert.equal(refused.status, 503, JSON.stringify(refused.body));
        assert.equal(refused.body.errorCode, 'REQUEST_FAILED.Unavailable');
        assert.ok(Number(refused.headers.get('retry-after')) > 0, 'Retry-After is set');
      }
      const ready = await fetch(`${server.baseUrl}/readyz`);
      assert.equal(ready.status, 503);
    } finally {
      await onCluster(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }
    await eventually(async () => (await fetch(`${server.baseUrl}/readyz`)).status === 200, {
      what: '/readyz answering ready again',
    });
    assert.equal((await admin(server, 'POST', '/messages', body)).status, 202);
    // Only the two publishes answered 202 were stored; the refused ones left nothing behind.
    assert.equal(await total(), 2);
  });
});
