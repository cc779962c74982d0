import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { ACCOUNT, admin, publish, register } from './delivery-fixtures.js';
import { inject, login, startTestServer, type TestServer } from './helpers.js';
import { testDatabaseBackends } from './postgres.js';

const backends = await testDatabaseBackends();

/**
 * The statement that cancels a deregistered service's messages fails (as a statement timeout or a
 * lost connection would make it fail on PostgreSQL): a trigger on the messages table refuses the
 * update. The deregistration must then have written nothing, and a retry once the fault is gone works.
 */
const FAULT = {
  SQLite: {
    on: `CREATE TRIGGER refuse_cancel BEFORE UPDATE OF status ON messages WHEN NEW.status = 'cancelled'
         BEGIN SELECT RAISE(ABORT, 'injected fault: cancelling messages failed'); END`,
    off: 'DROP TRIGGER refuse_cancel',
  },
  PostgreSQL: {
    on: `CREATE FUNCTION refuse_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'injected fault: cancelling messages failed' USING ERRCODE = '57014'; END $$;
         CREATE TRIGGER refuse_cancel BEFORE UPDATE ON messages FOR EACH ROW
           WHEN (NEW.status = 'cancelled') EXECUTE FUNCTION refuse_cancel()`,
    off: 'DROP TRIGGER refuse_cancel ON messages; DROP FUNCTION refuse_cancel()',
  },
};

for (const backend of backends) {
  describe(`reliability: a deregistration is one transaction (${backend.name})`, { skip: backend.skip }, () => {
    let server: TestServer;
    let database = { url: '', drop: async () => {} };
    before(async () => {
      if (backend.skip !== false) return;
      database = await backend.create();
      // No worker: published messages stay pending, as a backlog waiting for its listener would.
      server = await startTestServer({
        env: { DATABASE_URL: database.url, CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex') },
        flags: { role: 'api' },
      });
    });
    after(async () => {
      await server?.close();
      await database.drop();
    });

    /** Runs SQL on the server's database through a connection of the test's own. */
    async function sql(text: string): Promise<void> {
      if (backend.name === 'SQLite') {
        const db = new BetterSqlite3(database.url.slice('sqlite:'.length));
        try {
          db.exec(text);
        } finally {
          db.close();
        }
        return;
      }
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query(text);
      } finally {
        await client.end();
      }
    }

    const statuses = async (ids: string[]) =>
      Promise.all(
        ids.map(async (id) => (await admin<{ status: string }>(server, 'GET', `/messages/${id}`)).body.status),
      );

    it('writes nothing when cancelling the messages fails, and a retry removes the registration and cancels them', async () => {
      await register(server, 'https://listener.example/callbacks', 'DeviceUsage');
      const ids = [await publish(server, { n: 1 }, 'DeviceUsage'), await publish(server, { n: 2 }, 'DeviceUsage')];
      assert.deepEqual(await statuses(ids), ['pending', 'pending']);
      const { headers } = await login(server);
      const deregister = () =>
        inject(server, `/api/m2m/v1/callbacks/${ACCOUNT}/name/DeviceUsage`, { method: 'DELETE', headers });
      const listed = async () =>
        (await inject<{ serviceName: string }[]>(server, `/api/m2m/v1/callbacks/${ACCOUNT}`, { headers })).body.map(
          (r) => r.serviceName,
        );

      await sql(FAULT[backend.name].on);
      let refused: Awaited<ReturnType<typeof deregister>>;
      try {
        refused = await deregister();
      } finally {
        await sql(FAULT[backend.name].off);
      }
      // The fault happened: the deregistration was answered an error (503 on PostgreSQL, whose failure
      // is "try again"; SQLite reports a trigger's refusal as an unexpected error).
      assert.equal(refused.status, backend.name === 'PostgreSQL' ? 503 : 500, refused.text);
      // Nothing was written: the registration is still there, its messages still pending.
      assert.deepEqual(await listed(), ['DeviceUsage']);
      assert.deepEqual(await statuses(ids), ['pending', 'pending']);

      const retried = await deregister();
      assert.equal(retried.status, 200, retried.text);
      assert.deepEqual(await listed(), []);
      assert.deepEqual(await statuses(ids), ['cancelled', 'cancelled']);
    });
  });
}
