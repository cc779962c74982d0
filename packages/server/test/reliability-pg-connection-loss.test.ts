import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { eventually } from './helpers.js';
import { postgresForTests } from './postgres.js';
import {
  ADMIN_HEADERS,
  type CountingListener,
  DEV_ACCOUNT,
  killHard,
  registerAsDevUser,
  type ServerProcess,
  spawnServer,
  startCountingListener,
} from './server-process.js';

const setup = await postgresForTests();

/** How many rounds of terminations, and the pause between two rounds (pacing of the fault, not a wait). */
const ROUNDS = 40;
const ROUND_PAUSE_MS = 150;

/**
 * PostgreSQL ends connections under two `ccb serve` processes, an `api` and a `worker` (an immediate
 * stop, a failover, a pooler or a network reset all look like this to node-postgres): no process may
 * exit, and every publish answered 202 is delivered.
 */
describe('reliability: PostgreSQL ends connections (pg_terminate_backend in a loop)', { skip: setup.skip }, () => {
  let database = { url: '', drop: async () => {} };
  const servers: ServerProcess[] = [];
  let listener: CountingListener | undefined;
  const exits: string[] = [];

  before(async () => {
    if (setup.skip !== false) return;
    database = await setup.postgres.createTestDatabase();
    const env = { CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex'), CCB_POLL_INTERVAL: '300ms', CCB_LEASE: '2s' };
    const flags = ['--attempt-timeout', '1s', '--retry-schedule', '200ms,200ms,200ms,200ms,200ms'];
    servers.push(
      // One process of each role that does work: the API (publishes) and a worker (deliveries).
      ...(await Promise.all([
        spawnServer(database.url, [...flags, '--role', 'api'], env),
        spawnServer(database.url, [...flags, '--role', 'worker'], env),
      ])),
    );
    for (const [index, server] of servers.entries()) {
      let output = '';
      server.child.stderr?.on('data', (chunk) => {
        output += chunk;
      });
      server.child.on('exit', (code, signal) => exits.push(`server ${index} exited (${code ?? signal}): ${output}`));
    }
  });
  after(async () => {
    for (const server of servers) await killHard(server);
    await listener?.close();
    await database.drop();
  });

  /** Ends every connection to the test database except this session's own; how many it ended. */
  async function terminateAll(terminator: pg.Client, name: string): Promise<number> {
    const result = await terminator.query<{ ended: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    return result.rows.filter((row) => row.ended).length;
  }

  it('keeps every process alive, answers 202 or 503 with Retry-After, and delivers every accepted message', async (t) => {
    listener = await startCountingListener();
    const registered = await registerAsDevUser(servers[0].baseUrl, 'CarrierService', listener.url);
    assert.equal(registered.status, 200, await registered.text());

    const accepted = new Set<string>();
    const refusals: string[] = [];
    const unexpected: string[] = [];
    let stop = false;
    const producer = async (server: ServerProcess, index: number) => {
      for (let n = 0; !stop; n++) {
        const batch = n % 3 === 0;
        const message = (i: number) => ({
          accountName: DEV_ACCOUNT,
          serviceName: 'CarrierService',
          payload: { requestId: `p${index}-${n}-${i}` },
        });
        const response = await fetch(`${server.baseUrl}/admin/v1/messages${batch ? '/batch' : ''}`, {
          method: 'POST',
          headers: ADMIN_HEADERS,
          body: JSON.stringify(batch ? { messages: [message(0), message(1), message(2)] } : message(0)),
        }).catch((error: Error) => error);
        if (response instanceof Error) {
          unexpected.push(`publish failed without an answer: ${response.message}`);
          continue;
        }
        const body = await response.json();
        if (response.status === 202) {
          for (const id of batch ? body.messageIds : [body.messageId]) accepted.add(id);
        } else if (response.status === 503) {
          if (body.errorCode !== 'REQUEST_FAILED.Unavailable' || !(Number(response.headers.get('retry-after')) > 0)) {
            unexpected.push(`503 without the envelope or Retry-After: ${JSON.stringify(body)}`);
          }
          refusals.push(body.errorMessage);
        } else {
          unexpected.push(`${response.status} ${JSON.stringify(body)}`);
        }
      }
    };
    const producers = Array.from({ length: 6 }, (_, i) => producer(servers[0], i));

    const name = new URL(database.url).pathname.slice(1);
    const maintenance = new URL(database.url);
    maintenance.pathname = '/postgres';
    const terminator = new pg.Client({ connectionString: maintenance.toString() });
    await terminator.connect();
    let terminated = 0;
    let roundsThatEndedSome = 0;
    try {
      for (let round = 0; round < ROUNDS && exits.length === 0; round++) {
        const ended = await terminateAll(terminator, name);
        terminated += ended;
        if (ended > 0) roundsThatEndedSome++;
        await delay(ROUND_PAUSE_MS);
      }
    } finally {
      stop = true;
      await Promise.all(producers);
      await terminator.end();
    }
    // The fault happened: connections of both processes' pools and listeners were ended, round after round.
    assert.ok(terminated > 0, 'connections were terminated');
    assert.deepEqual(exits, [], 'no ccb serve process exited');
    assert.ok(roundsThatEndedSome >= ROUNDS / 2, `only ${roundsThatEndedSome} of ${ROUNDS} rounds ended a connection`);
    assert.deepEqual(unexpected, []);
    assert.ok(accepted.size > 0, 'some publishes were accepted meanwhile');

    await eventually(() => [...accepted].every((id) => listener?.received.has(id)), {
      timeout: 120_000,
      what: () => `${[...accepted].filter((id) => !listener?.received.has(id)).length} accepted messages undelivered`,
    });
    for (const server of servers) {
      await eventually(async () => (await fetch(`${server.baseUrl}/readyz`)).status === 200, { what: '/readyz' });
    }
    assert.deepEqual(exits, [], 'no ccb serve process exited');
    t.diagnostic(
      `${terminated} connections terminated in ${ROUNDS} rounds; ${accepted.size} messages accepted, all delivered; ${refusals.length} publishes answered 503`,
    );
  });
});
