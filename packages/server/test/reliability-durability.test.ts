// test tier: full (kills ccb serve processes, on SQLite and PostgreSQL)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { eventually } from './helpers.js';
import { testDatabaseBackends } from './postgres.js';
import {
  ADMIN_HEADERS,
  DEV_ACCOUNT,
  killHard,
  processFixture,
  registerAsDevUser,
  spawnServer,
  startCountingListener,
} from './server-process.js';

// Given, so that a PostgreSQL run keeps no key file in the working folder.
const KEY = randomBytes(32).toString('hex');
const serve = (database: string) =>
  spawnServer(database, ['--attempt-timeout', '1s', '--retry-schedule', '200ms,200ms,200ms'], {
    CCB_LEASE: '2s',
    CCB_ENCRYPTION_KEY: KEY,
  });

/** Acknowledged ids the listener has not seen yet. */
const missing = (acknowledged: Iterable<string>, received: Map<string, number>) =>
  [...acknowledged].filter((id) => !received.has(id));

const backends = await testDatabaseBackends();

// Two scenarios at a time: each runs its own server processes, database and listener, and mostly waits
// for them, so the file takes about half as long.
describe('reliability: SIGKILL', { concurrency: 2 }, () => {
  for (const backend of backends) {
    describe(`reliability: SIGKILL during a publish burst (${backend.name})`, { skip: backend.skip }, () => {
      const fixture = processFixture('ccb-kill-publish-');
      let database = { url: '', drop: async () => {} };
      before(async () => {
        if (backend.skip === false) database = await backend.create();
      });
      after(async () => {
        await fixture.cleanUp();
        await database.drop();
      });

      it('delivers every publish that was answered 202, after a kill -9 in the middle of the burst', async (t) => {
        const listener = await startCountingListener();
        fixture.listeners.push(listener);
        const first = await serve(database.url);
        fixture.servers.push(first);
        assert.equal((await registerAsDevUser(first.baseUrl, 'CarrierService', listener.url)).status, 200);

        const acknowledged = new Set<string>();
        let refused = 0;
        let stop = false;
        const PRODUCERS = 32;
        // Single publishes and small batches at once, until the server dies under them.
        const producer = async (index: number) => {
          for (let n = 0; !stop; n++) {
            const batch = index % 4 === 0;
            const message = (i: number) => ({
              accountName: DEV_ACCOUNT,
              serviceName: 'CarrierService',
              payload: { producer: index, n, i },
            });
            try {
              const response = await fetch(`${first.baseUrl}/admin/v1/messages${batch ? '/batch' : ''}`, {
                method: 'POST',
                headers: ADMIN_HEADERS,
                body: JSON.stringify(
                  batch ? { messages: Array.from({ length: 20 }, (_, i) => message(i)) } : message(0),
                ),
              });
              const body = (await response.json()) as { messageId?: string; messageIds?: string[] };
              if (response.status !== 202) throw new Error(`publish answered ${response.status}`);
              for (const id of body.messageIds ?? [body.messageId as string]) acknowledged.add(id);
            } catch {
              // The kill: a request without an answer was not acknowledged, so it is not counted.
              refused++;
              return;
            }
          }
        };
        const producing = Promise.all(Array.from({ length: PRODUCERS }, (_, i) => producer(i)));
        await eventually(() => acknowledged.size >= 3_000, { timeout: 60_000, what: '3,000 acknowledged publishes' });
        await killHard(first);
        stop = true;
        await producing;
        const atKill = missing(acknowledged, listener.received).length;
        assert.ok(refused > 0, 'the kill came while requests were in flight');

        const second = await serve(database.url);
        fixture.servers.push(second);
        await eventually(() => missing(acknowledged, listener.received).length === 0, {
          timeout: 60_000,
          what: () => `every acknowledged id delivered (${missing(acknowledged, listener.received).length} missing)`,
        });
        t.diagnostic(
          `publish burst: ${acknowledged.size} acknowledged, ${atKill} undelivered at the kill, ${refused} requests cut off, all delivered after restart`,
        );
      });
    });

    describe(`reliability: SIGKILL during delivery, again and again (${backend.name})`, { skip: backend.skip }, () => {
      const fixture = processFixture('ccb-kill-deliver-');
      let database = { url: '', drop: async () => {} };
      before(async () => {
        if (backend.skip === false) database = await backend.create();
      });
      after(async () => {
        await fixture.cleanUp();
        await database.drop();
      });

      it('delivers every accepted message at least once across three kills -9 and restarts', async (t) => {
        // A few milliseconds per answer keeps deliveries in flight when each kill comes.
        const listener = await startCountingListener(2);
        fixture.listeners.push(listener);
        let server = await serve(database.url);
        fixture.servers.push(server);
        assert.equal((await registerAsDevUser(server.baseUrl, 'CarrierService', listener.url)).status, 200);

        const accepted: string[] = [];
        for (let batch = 0; batch < 4; batch++) {
          const messages = Array.from({ length: 1000 }, (_, i) => ({
            accountName: DEV_ACCOUNT,
            serviceName: 'CarrierService',
            payload: { batch, i },
          }));
          const response = await fetch(`${server.baseUrl}/admin/v1/messages/batch`, {
            method: 'POST',
            headers: ADMIN_HEADERS,
            body: JSON.stringify({ messages }),
          });
          assert.equal(response.status, 202);
          accepted.push(...((await response.json()) as { messageIds: string[] }).messageIds);
        }

        const killedAt: number[] = [];
        for (const threshold of [400, 1_400, 2_600]) {
          await eventually(() => listener.received.size >= threshold, {
            timeout: 60_000,
            what: `${threshold} deliveries before the next kill`,
          });
          await killHard(server);
          killedAt.push(listener.received.size);
          assert.ok(listener.received.size < accepted.length, 'the kill came before the end of the run');
          server = await serve(database.url);
          fixture.servers.push(server);
        }
        await eventually(() => missing(accepted, listener.received).length === 0, {
          timeout: 60_000,
          what: () => `every accepted id delivered (${missing(accepted, listener.received).length} missing)`,
        });
        const repeats = [...listener.received.values()].filter((count) => count > 1).length;
        t.diagnostic(
          `delivery kills: ${accepted.length} accepted, kills after ${killedAt.join(', ')} deliveries, all delivered, ${repeats} delivered twice`,
        );
      });
    });
  }
});
