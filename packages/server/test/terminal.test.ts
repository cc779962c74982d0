import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { banner } from '../src/banner.js';
import { prettyLine } from '../src/logger.js';
import { formatDuration } from '../src/settings.js';
import { ACCOUNT, startListener } from './delivery-fixtures.js';
import { adminHeaders, captureLogger, eventually, login, send, startTestServer } from './helpers.js';

const TIME = Date.UTC(2026, 11, 1, 9, 30, 5);
const CLOCK = new Date(TIME).toTimeString().slice(0, 8);

describe('the npm start terminal', () => {
  it('prints a request as one short line', () => {
    const json = JSON.stringify({
      level: 30,
      time: TIME,
      reqId: 'req-1',
      method: 'GET',
      url: '/healthz',
      statusCode: 200,
      ms: 1.5,
      msg: 'request completed',
    });
    assert.equal(prettyLine(json), `${CLOCK} GET /healthz 200 1.5 ms`);
  });

  it('prints each delivery outcome with the message, the target, the answer and the time', () => {
    const base = { level: 30, time: TIME, messageId: 'msg_1', url: 'http://127.0.0.1:9001/', ms: 3, attempt: 1 };
    assert.equal(
      prettyLine(
        JSON.stringify({ ...base, statusCode: 204, error: null, outcome: 'delivered', msg: 'message delivered' }),
      ),
      `${CLOCK} delivered msg_1 → http://127.0.0.1:9001/ 204 3 ms`,
    );
    assert.equal(
      prettyLine(
        JSON.stringify({
          ...base,
          statusCode: 500,
          error: null,
          outcome: 'retry',
          retryIn: '5s',
          msg: 'attempt failed',
        }),
      ),
      `${CLOCK} retry msg_1 → http://127.0.0.1:9001/ 500 3 ms (retry 5s)`,
    );
    assert.equal(
      prettyLine(
        JSON.stringify({
          ...base,
          statusCode: null,
          error: 'connection_refused',
          outcome: 'failed',
          reason: 'attempts_exhausted',
          msg: 'message failed',
        }),
      ),
      `${CLOCK} failed msg_1 → http://127.0.0.1:9001/ connection_refused 3 ms (attempts_exhausted)`,
    );
  });

  it('leaves out the listening line the banner already says, and marks warnings', () => {
    assert.equal(
      prettyLine(JSON.stringify({ level: 30, time: TIME, msg: 'Server listening at http://127.0.0.1:8080' })),
      undefined,
    );
    assert.equal(
      prettyLine(JSON.stringify({ level: 40, time: TIME, msg: 'purge failed', err: { message: 'disk full' } })),
      `${CLOCK} WARN purge failed: disk full`,
    );
  });

  it('logs one line per delivery outcome from the real engine, secrets redacted', async () => {
    const lines: string[] = [];
    const server = await startTestServer({ env: { CCB_ALLOWED_PORTS: 'any' }, logger: captureLogger(lines, 'info') });
    const listener = await startListener(() => ({ status: 204 }));
    try {
      const session = await login(server);
      const registered = await send(`${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`, {
        method: 'POST',
        headers: session.headers,
        body: { name: 'CarrierService', url: listener.url, username: 'acme', password: 'pw-Z7q' },
      });
      assert.equal(registered.status, 200, registered.text);
      const published = await send(`${server.baseUrl}/admin/v1/messages`, {
        method: 'POST',
        headers: adminHeaders(server),
        body: { accountName: ACCOUNT, serviceName: 'CarrierService', payload: { requestId: 'r-1' } },
      });
      const id = published.body.messageId as string;
      const line = await eventually(() => lines.find((l) => l.includes(id) && l.includes('message delivered')), {
        what: 'the delivery line',
      });
      const pretty = prettyLine(line);
      assert.match(pretty ?? '', new RegExp(`^\\d\\d:\\d\\d:\\d\\d delivered ${id} → ${listener.url} 204 \\d+ ms$`));
      assert.ok(!lines.join('\n').includes('pw-Z7q'), 'the callback password is not logged');
    } finally {
      await listener.close();
      await server.close();
    }
  });

  it('the banner says where the database and the key are, and what the process serves', async () => {
    const all = await startTestServer();
    const worker = await startTestServer({ flags: { role: 'worker' } });
    try {
      const allBanner = banner(all.running, '1.2.3', {});
      assert.match(allBanner, new RegExp(`^ccb 1\\.2\\.3 serving on ${all.baseUrl} \\(role all, dev profile\\)\\n`));
      assert.equal(allBanner.match(/serving on/g)?.length, 1);
      assert.ok(allBanner.includes(`Database        sqlite:${all.dbPath}`), allBanner);
      assert.ok(allBanner.includes(`Encryption key  ${all.dataDir}/encryption.key`), allBanner);
      assert.ok(allBanner.includes(`API reference   ${all.baseUrl}/docs`), allBanner);
      assert.ok(allBanner.includes(`Dashboard       ${all.baseUrl}/ui`), allBanner);
      assert.ok(allBanner.includes('Admin token     dev-admin-token'), allBanner);
      assert.ok(
        banner(all.running, '1.2.3', { CCB_ENCRYPTION_KEY: 'x' }).includes('Encryption key  from CCB_ENCRYPTION_KEY'),
      );

      const workerBanner = banner(worker.running, '1.2.3', {});
      assert.ok(workerBanner.includes(`Metrics         ${worker.baseUrl}/metrics`), workerBanner);
      assert.ok(workerBanner.includes(`Health          ${worker.baseUrl}/healthz`), workerBanner);
      for (const absent of ['/docs', '/api', '/admin/v1', '/ui', 'dev-admin-token']) {
        assert.ok(!workerBanner.includes(absent), `a worker's banner does not offer ${absent}:\n${workerBanner}`);
      }
      assert.equal((await send(`${worker.baseUrl}/docs`)).status, 404);
      assert.equal((await send(`${worker.baseUrl}/openapi.json`)).status, 404);
      assert.equal((await send(`${worker.baseUrl}/healthz`)).status, 200);
    } finally {
      await all.close();
      await worker.close();
    }
  });

  it('/ leads to the dashboard', async () => {
    const server = await startTestServer();
    try {
      const response = await fetch(`${server.baseUrl}/`, { redirect: 'manual' });
      assert.equal(response.status, 302);
      assert.equal(response.headers.get('location'), '/ui');
      const followed = await fetch(`${server.baseUrl}/`);
      assert.equal(followed.url, `${server.baseUrl}/ui`);
      assert.ok(
        [200, 503].includes(followed.status),
        `the dashboard answers (503 while not built): ${followed.status}`,
      );
    } finally {
      await server.close();
    }
  });

  it('formats durations with the largest exact unit', () => {
    assert.deepEqual([300_000, 5000, 7_200_000, 1500, 86_400_000].map(formatDuration), [
      '5m',
      '5s',
      '2h',
      '1500ms',
      '1d',
    ]);
  });
});
