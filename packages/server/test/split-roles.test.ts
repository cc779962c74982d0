// test tier: full (starts ccb serve processes, on SQLite and PostgreSQL)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eventually } from './helpers.js';
import { testDatabaseBackends } from './postgres.js';
import {
  ADMIN_HEADERS,
  DEV_ACCOUNT,
  processFixture,
  registerAsDevUser,
  spawnServer,
  startCountingListener,
} from './server-process.js';

const MESSAGES = 600;

for (const backend of await testDatabaseBackends()) {
  describe(`api and worker processes on one database: ${backend.name}`, { skip: backend.skip }, () => {
    const fixture = processFixture('ccb-roles-');
    const { servers } = fixture;
    let dbPath = '';
    let drop = async () => {};
    // One key for all processes, as a deployment configures it (the dev profile's kept key is per folder).
    const env = { CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex') };
    before(async () => {
      if (backend.skip !== false) return;
      const database = await backend.create();
      dbPath = database.url;
      drop = database.drop;
    });
    after(async () => {
      await fixture.cleanUp();
      await drop();
    });

    it('delivers every message published through the api process exactly once with two workers', async () => {
      const listener = await startCountingListener(0);
      fixture.listeners.push(listener);
      const { received, url: listenerUrl } = listener;

      // The api process creates the schema and seeds the dev data before the workers open the file.
      const api = await spawnServer(dbPath, ['--role', 'api'], env);
      servers.push(api);
      const workers = await Promise.all([
        spawnServer(dbPath, ['--role', 'worker'], { ...env, CCB_POLL_INTERVAL: '50ms' }),
        spawnServer(dbPath, ['--role', 'worker'], { ...env, CCB_POLL_INTERVAL: '50ms' }),
      ]);
      servers.push(...workers);

      const registered = await registerAsDevUser(api.baseUrl, 'DeviceUsage', listenerUrl);
      assert.equal(registered.status, 200, await registered.text());

      const accepted: string[] = [];
      for (let batch = 0; batch < MESSAGES / 200; batch++) {
        const messages = Array.from({ length: 200 }, (_, i) => ({
          accountName: DEV_ACCOUNT,
          serviceName: 'DeviceUsage',
          payload: { requestId: `roles-${batch}-${i}` },
        }));
        const response = await fetch(`${api.baseUrl}/admin/v1/messages/batch`, {
          method: 'POST',
          headers: ADMIN_HEADERS,
          body: JSON.stringify({ messages }),
        });
        const text = await response.text();
        assert.equal(response.status, 202, text);
        accepted.push(...(JSON.parse(text) as { messageIds: string[] }).messageIds);
      }

      // As patient as the other multi-process tests: a starved machine delivers slowly, not never.
      await eventually(() => accepted.every((id) => received.has(id)), {
        timeout: 60_000,
        interval: 50,
        what: () =>
          `every message reaching the listener (${accepted.filter((id) => !received.has(id)).length} missing)`,
      }).catch(async (error: Error) => {
        // Where the missing ones are, so a failure says what to look at.
        const states = await Promise.all(
          accepted
            .filter((id) => !received.has(id))
            .slice(0, 3)
            .map(async (id) => {
              const found = await (
                await fetch(`${api.baseUrl}/admin/v1/messages/${id}`, { headers: ADMIN_HEADERS })
              ).json();
              return `${id}: ${found.status} after ${found.attempts} attempt(s), next ${found.nextAttemptAt}, ${found.reason}`;
            }),
        );
        throw new Error(`${error.message}; ${states.join('; ')}`, { cause: error });
      });
      const repeated = [...received.entries()].filter(([, n]) => n > 1);
      assert.deepEqual(repeated, [], 'no message is delivered twice while no process crashes');

      // The api process sees the workers' acknowledgements through the shared file.
      let delivered = 0;
      await eventually(
        async () => {
          const stats = await (await fetch(`${api.baseUrl}/admin/v1/stats`, { headers: ADMIN_HEADERS })).json();
          delivered = stats.counts.delivered;
          return delivered === MESSAGES;
        },
        { timeout: 30_000, interval: 50, what: () => `the api process counting ${MESSAGES} delivered (${delivered})` },
      );
    });
  });
}
