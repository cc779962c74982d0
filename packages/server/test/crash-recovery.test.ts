// test tier: full (kills ccb serve processes, on SQLite and PostgreSQL)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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

const ADMIN = ADMIN_HEADERS;
const ACCOUNT = DEV_ACCOUNT;
const MESSAGES = 2_000;

const KEY = randomBytes(32).toString('hex');
const serve = (dbPath: string) =>
  spawnServer(dbPath, ['--attempt-timeout', '1s', '--retry-schedule', '200ms,200ms,200ms'], {
    CCB_LEASE: '2s',
    CCB_ENCRYPTION_KEY: KEY,
  });

const backends = await testDatabaseBackends();

// Both backends at once (each has its own server processes, database and listener, and mostly
// waits); the tests of one backend share its database, so they run one after the other.
describe('crash recovery', { concurrency: 2 }, () => {
  for (const backend of backends) {
    describe(`crash recovery: ${backend.name}`, { skip: backend.skip, concurrency: 1 }, () => {
      const fixture = processFixture('ccb-crash-');
      const { servers } = fixture;
      let dbPath = '';
      let drop = async () => {};
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

      it('delivers every accepted message at least once after a kill -9 mid-run and a restart', async (t) => {
        // A few milliseconds per answer keeps deliveries in flight when the kill comes.
        const listener = await startCountingListener(2);
        fixture.listeners.push(listener);
        const { received, url: listenerUrl } = listener;

        const first = await serve(dbPath);
        servers.push(first);
        const registered = await registerAsDevUser(first.baseUrl, 'CarrierService', listenerUrl);
        assert.equal(registered.status, 200, await registered.text());

        const accepted: string[] = [];
        for (let batch = 0; batch < MESSAGES / 1000; batch++) {
          const messages = Array.from({ length: 1000 }, (_, i) => ({
            accountName: ACCOUNT,
            serviceName: 'CarrierService',
            payload: { requestId: `crash-${batch}-${i}`, status: 'Success' },
          }));
          const response = await fetch(`${first.baseUrl}/admin/v1/messages/batch`, {
            method: 'POST',
            headers: ADMIN,
            body: JSON.stringify({ messages }),
          });
          assert.equal(response.status, 202);
          accepted.push(...((await response.json()) as { messageIds: string[] }).messageIds);
        }

        // Kill while deliveries are under way (bounded wait for the run to get going).
        await eventually(() => received.size >= 100, {
          timeout: 20_000,
          interval: 5,
          what: '100 deliveries before the kill',
        });
        await killHard(first);
        const deliveredBeforeCrash = received.size;
        assert.ok(deliveredBeforeCrash < MESSAGES, 'the kill came before every message was delivered');

        const second = await serve(dbPath);
        servers.push(second);
        const missing = () => accepted.filter((id) => !received.has(id));
        await eventually(() => missing().length === 0, {
          timeout: 60_000,
          interval: 50,
          what: () => `every accepted message delivered (${missing().length} missing)`,
        });

        // The store agrees once the last acknowledgements are written.
        let delivered = 0;
        await eventually(
          async () => {
            const stats = await (await fetch(`${second.baseUrl}/admin/v1/stats`, { headers: ADMIN })).json();
            delivered = stats.counts.delivered;
            return delivered === MESSAGES;
          },
          { timeout: 30_000, interval: 50, what: () => `the store counting ${MESSAGES} delivered (${delivered})` },
        );
        const duplicates = [...received.values()].filter((n) => n > 1).length;
        t.diagnostic(`delivered before the kill: ${deliveredBeforeCrash}; delivered twice: ${duplicates}`);
        // Only claims open at the crash (in flight, queued, or answered but not yet recorded) may repeat.
        assert.ok(duplicates <= 512, `${duplicates} messages arrived twice`);
      });

      it('delivers single publishes after a kill -9 right after their 202, their attempts in flight', async () => {
        // Answers nothing until told to: the first process's attempts are still open when it dies.
        let answering = false;
        const held = new Set<ServerResponse>();
        const answered = new Set<string>();
        const listener = createServer((request, response) => {
          request.resume();
          request.on('end', () => {
            if (!answering) {
              held.add(response);
              return;
            }
            answered.add(String(request.headers['webhook-id']));
            response.end('ok');
          });
        });
        await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
        fixture.listeners.push({
          url: '',
          received: new Map(),
          async close() {
            for (const response of held) response.destroy();
            listener.closeAllConnections();
            await new Promise<void>((resolve) => listener.close(() => resolve()));
          },
        });
        const first = await serve(dbPath);
        servers.push(first);
        const url = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/fast`;
        const registered = await registerAsDevUser(first.baseUrl, 'DeviceUsage', url);
        assert.equal(registered.status, 200, await registered.text());

        // Single publishes go straight to the dispatcher (the publish fast path), stored already claimed.
        const accepted = await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const response = await fetch(`${first.baseUrl}/admin/v1/messages`, {
              method: 'POST',
              headers: ADMIN,
              body: JSON.stringify({
                accountName: ACCOUNT,
                serviceName: 'DeviceUsage',
                payload: { requestId: `fast-${i}` },
              }),
            });
            assert.equal(response.status, 202);
            return ((await response.json()) as { messageId: string }).messageId;
          }),
        );
        await eventually(() => held.size > 0, { what: 'an attempt in flight before the kill' });
        await killHard(first);

        answering = true;
        const second = await serve(dbPath);
        servers.push(second);
        const missing = () => accepted.filter((id) => !answered.has(id));
        await eventually(() => missing().length === 0, {
          timeout: 30_000,
          interval: 20,
          what: () => `every accepted message delivered after the restart (${missing().length} missing)`,
        });
      });
    });
  }
});
