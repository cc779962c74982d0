import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { installErrorHandlers } from '../src/api/error-handlers.js';
import { examplePort, uiRoutes } from '../src/api/ui.js';
import { loadConfig } from '../src/config.js';
import { UrlGuard } from '../src/delivery/url-guard.js';
import { browserMissing, CHROMIUM } from './browser.js';
import { admin, publish, register, startListener, type TestListener, waitForMessage } from './delivery-fixtures.js';
import { eventually, startTestServer, type TestServer } from './helpers.js';

interface Point {
  at: string;
  live: boolean;
  queueDepth: number;
  intervalMs: number;
  attempts: Record<string, number>;
  counts: Record<string, number>;
}

describe('admin API routes for the dashboard', () => {
  let server: TestServer;
  let listener: TestListener;
  before(async () => {
    server = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any', CCB_STATS_INTERVAL: '200ms' },
      flags: { retrySchedule: '50ms' },
    });
    listener = await startListener((_request, index) => (index === 0 ? { status: 500 } : { status: 200 }));
  });
  after(async () => {
    await server.close();
    await listener.close();
  });

  it('lists every account’s registrations by account then service, without credentials or secrets', async () => {
    await register(server, 'https://b.example.net/hook', 'DeviceUsage', { accountName: 'acct-b', username: 'u' });
    await register(server, 'https://a.example.net/hook', 'CarrierService', { accountName: 'acct-a' });
    await register(server, 'https://a.example.net/alerts', 'AlertService', { accountName: 'acct-a', password: 'pw' });
    const all = await admin<{ items: Record<string, unknown>[] }>(server, 'GET', '/registrations');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.body.items.map((r) => [r.accountName, r.serviceName, r.url, r.credentialsSet]),
      [
        ['acct-a', 'AlertService', 'https://a.example.net/alerts', true],
        ['acct-a', 'CarrierService', 'https://a.example.net/hook', false],
        ['acct-b', 'DeviceUsage', 'https://b.example.net/hook', true],
      ],
    );
    const text = JSON.stringify(all.body);
    assert.doesNotMatch(text, /whsec_|"pw"|password|username/);

    const one = await admin<{ items: { serviceName: string }[] }>(server, 'GET', '/registrations?accountName=acct-b');
    assert.deepEqual(
      one.body.items.map((r) => r.serviceName),
      ['DeviceUsage'],
    );
    const bad = await admin<{ errorCode: string }>(server, 'GET', '/registrations?accountName=no%20spaces');
    assert.equal(bad.status, 400);
    assert.match(bad.body.errorCode, /^INPUT_INVALID/);
    const anonymous = await fetch(`${server.baseUrl}/admin/v1/registrations`);
    assert.equal(anonymous.status, 401);
  });

  it('keeps the stats history in the store with the attempts made in between, and a live point last', async () => {
    await register(server, listener.url);
    const id = await publish(server);
    await waitForMessage(server, id, (m) => m.status === 'delivered');
    // Samples are stored every 200 ms here: wait until the stored ones hold both attempts.
    const body = await eventually(
      async () => {
        const read = (await admin<{ sampleIntervalMs: number; points: Point[] }>(server, 'GET', '/stats/history')).body;
        const stored = read.points.filter((p) => !p.live);
        const attempts = stored.reduce((sum, p) => sum + Object.values(p.attempts).reduce((a, b) => a + b, 0), 0);
        return attempts >= 2 && stored.at(-1)?.counts.delivered === 1 ? read : null;
      },
      { what: 'the stored history holds both attempts', timeout: 10_000, interval: 100 },
    );
    assert.equal(body.sampleIntervalMs, 200);
    const stored = body.points.filter((p) => !p.live);
    const totals = stored.reduce<Record<string, number>>((sum, p) => {
      for (const [k, v] of Object.entries(p.attempts)) sum[k] = (sum[k] ?? 0) + v;
      return sum;
    }, {});
    assert.deepEqual(totals, { http_5xx: 1, success: 1 });
    assert.ok(
      stored.every((p) => Date.parse(p.at) % 200 === 0),
      'one point per bucket',
    );
    assert.ok(body.points.every((p, i) => i === 0 || Date.parse(p.at) > Date.parse(body.points[i - 1].at)));
    assert.deepEqual(
      body.points.map((p) => p.live),
      [...stored.map(() => false), true],
      'the live point comes last',
    );
    assert.ok(stored.length >= 2 && stored.slice(1).every((p) => p.intervalMs >= 200));
    const later = await admin<{ points: Point[] }>(server, 'GET', `/stats/history?since=${Date.now() + 60_000}`);
    assert.deepEqual(
      later.body.points.map((p) => p.live),
      [true],
    );
    const bad = await admin<{ errorCode: string }>(server, 'GET', '/stats/history?since=last-week');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errorCode, 'INPUT_INVALID.Request.Query');
  });

  it('documents the new routes in the OpenAPI description', async () => {
    const spec = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const path of ['/admin/v1/registrations', '/admin/v1/stats/history', '/ui/profile.json']) {
      assert.ok(spec.paths[path], `${path} is in /openapi.json`);
    }
  });
});

describe('stats history across restarts', () => {
  it('shows the samples of a server that stopped, with the time it was down as a gap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-history-'));
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'ccb.sqlite')}`,
      CCB_ADMIN_TOKEN: 'history-admin-token',
      CCB_ENCRYPTION_KEY: 'ab'.repeat(32),
      CCB_STATS_INTERVAL: '100ms',
    };
    try {
      const first = await startTestServer({ dev: false, env });
      const firstInstance = first.ctx.statsHistory.instance;
      await eventually(async () => (await first.ctx.store.statsSamples.list(0)).length >= 3, {
        what: 'the first server stored samples',
      });
      await first.close();
      const stoppedAt = Date.now();
      // Down for at least four intervals.
      await eventually(() => Date.now() >= stoppedAt + 400, { what: 'time passes while no server runs', interval: 50 });
      const second = await startTestServer({ dev: false, env });
      try {
        const secondInstance = second.ctx.statsHistory.instance;
        await eventually(
          async () => (await second.ctx.store.statsSamples.list(0)).some((r) => r.instance === secondInstance),
          {
            what: 'the second server stored a sample',
          },
        );
        const { body } = await admin<{ sampleIntervalMs: number; points: Point[] }>(second, 'GET', '/stats/history');
        const rows = await second.ctx.store.statsSamples.list(0);
        assert.ok(
          rows.some((r) => r.instance === firstInstance),
          'the first server’s samples are still there',
        );
        assert.notEqual(second.ctx.statsHistory.instance, firstInstance);
        const stored = body.points.filter((p) => !p.live);
        const firstAt = rows.filter((r) => r.instance === firstInstance).map((r) => new Date(r.at).toISOString());
        assert.deepEqual(
          stored.slice(0, firstAt.length).map((p) => p.at),
          firstAt,
        );
        const gap = stored.find((p, i) => i > 0 && p.intervalMs > 2.5 * body.sampleIntervalMs);
        assert.ok(gap, `a point after the gap: ${JSON.stringify(stored.map((p) => p.intervalMs))}`);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('admin routes for the accounts page', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { CCB_ALLOWED_PORTS: 'any' } });
  });
  after(() => server.close());

  it('registers, changes (keeping or clearing credentials) and removes a listener, and refuses bad input', async () => {
    const path = '/callbacks/acct-c/CarrierService';
    const created = await admin<Record<string, unknown>>(server, 'PUT', path, {
      url: 'https://c.example.net/hook',
      username: 'cu',
      password: 'cp',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.deepEqual([created.body.url, created.body.credentialsSet], ['https://c.example.net/hook', true]);
    const secret = (await server.ctx.registrations.get('acct-c', 'CarrierService'))!.signingSecret;

    const moved = await admin<Record<string, unknown>>(server, 'PUT', path, { url: 'https://c.example.net/v2' });
    assert.equal(moved.status, 200);
    const kept = await server.ctx.registrations.get('acct-c', 'CarrierService');
    assert.deepEqual(
      [kept?.url, kept?.username, kept?.password, kept?.signingSecret],
      ['https://c.example.net/v2', 'cu', 'cp', secret],
    );
    await admin(server, 'PUT', path, { url: 'https://c.example.net/v2', username: null, password: null });
    const cleared = await server.ctx.registrations.get('acct-c', 'CarrierService');
    assert.deepEqual([cleared?.username, cleared?.password], [null, null]);

    for (const [target, body] of [
      [path, { url: 'ftp://c.example.net/' }],
      [path, { url: 'https://c.example.net/', extra: 1 }],
      ['/callbacks/acct-c/NoSuchService', { url: 'https://c.example.net/' }],
      ['/callbacks/bad%20name/CarrierService', { url: 'https://c.example.net/' }],
    ] as const) {
      const refused = await admin<{ errorCode: string }>(server, 'PUT', target, body);
      assert.equal(refused.status, 400, `${target} ${JSON.stringify(body)}`);
      assert.match(refused.body.errorCode, /^INPUT_INVALID/);
    }
    assert.equal((await server.ctx.registrations.get('acct-c', 'CarrierService'))?.url, 'https://c.example.net/v2');

    const removed = await admin(server, 'DELETE', path);
    assert.equal(removed.status, 200);
    assert.equal(await server.ctx.registrations.get('acct-c', 'CarrierService'), null);
    const again = await admin<{ errorCode: string }>(server, 'DELETE', path);
    assert.equal(again.status, 404);
    assert.equal(again.body.errorCode, 'REQUEST_FAILED.ResourceNotFound');
  });

  it('sends a test message from the catalogue to a registration, and refuses one without registration', async () => {
    const received = await startListener();
    try {
      await register(server, received.url, 'DeviceUsage', { accountName: 'acct-t' });
      const sent = await admin<{ messageId: string; status: string }>(
        server,
        'POST',
        '/callbacks/acct-t/DeviceUsage/test-message',
      );
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      const [delivery] = await received.waitFor(1);
      assert.equal(delivery.headers['webhook-id'], sent.body.messageId);
      assert.equal(typeof delivery.body.requestId, 'string', 'an example of the catalogue, with a request id');
      const missing = await admin<{ errorCode: string }>(server, 'POST', '/callbacks/acct-t/AlertService/test-message');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.errorCode, 'REQUEST_FAILED.ResourceNotFound');
    } finally {
      await received.close();
    }
  });
});

describe('dashboard files at /ui', () => {
  const servers: TestServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));
  const start = async (dev: boolean) => {
    const server = await startTestServer({ dev });
    servers.push(server);
    return server;
  };

  it('serves the page and its assets, same-origin only, without any token in them', async () => {
    const server = await start(false);
    for (const path of ['/ui', '/ui/']) {
      const page = await fetch(`${server.baseUrl}${path}`);
      assert.equal(page.status, 200, path);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
      const html = await page.text();
      assert.match(html, /<script type="module" src="\/ui\/app.js">/);
      assert.doesNotMatch(html, /https?:\/\//, 'no CDN');
    }
    for (const asset of ['/ui/app.js', '/ui/app.css']) {
      const response = await fetch(`${server.baseUrl}${asset}`);
      assert.equal(response.status, 200, asset);
      const text = await response.text();
      assert.ok(!text.includes(server.adminToken));
      assert.ok(!text.includes('dev-admin-token'), `${asset} holds no token, not even the dev one`);
    }
    assert.equal((await fetch(`${server.baseUrl}/ui/nothing-here.js`)).status, 404);
    assert.equal((await fetch(`${server.baseUrl}/ui/..%2fpackage.json`)).status, 404);
  });

  it('offers the documented dev token in the dev profile only', async () => {
    const production = await (await fetch(`${(await start(false)).baseUrl}/ui/profile.json`)).json();
    assert.equal(production.devAdminToken, undefined);
    assert.ok(production.services.includes('CarrierService'));
    assert.match(production.userAgent, /^ccb\//);

    const dev = await (await fetch(`${(await start(true)).baseUrl}/ui/profile.json`)).json();
    assert.equal(dev.devAdminToken, 'dev-admin-token');

    const devOwnToken = await startTestServer({ dev: true, env: { CCB_ADMIN_TOKEN: 'a-token-of-my-own' } });
    servers.push(devOwnToken);
    const own = await (await fetch(`${devOwnToken.baseUrl}/ui/profile.json`)).json();
    assert.equal(own.devAdminToken, undefined, 'a token of one’s own is never offered, even in dev');
  });

  it('suggests a listener port the server accepts, from CCB_ALLOWED_PORTS', async () => {
    const server = await startTestServer({ env: { CCB_ALLOWED_PORTS: '80,443,18080-18090' } });
    servers.push(server);
    const { listenerPort } = await (await fetch(`${server.baseUrl}/ui/profile.json`)).json();
    assert.equal(listenerPort, 18080);
    // The registration API's own rule takes the URL the page suggests.
    assert.equal(server.ctx.urlGuard.checkUrl(`http://127.0.0.1:${listenerPort}/callbacks`), null);
    // Other settings, as the server reads them (the page answers examplePort of its configuration).
    const suggested = (ports?: string) => {
      const env = { CCB_ENCRYPTION_KEY: '00'.repeat(32), ...(ports ? { CCB_ALLOWED_PORTS: ports } : {}) };
      const config = loadConfig({ dev: true }, env);
      const port = examplePort(config.allowedPorts);
      assert.equal(UrlGuard.fromConfig(config).checkUrl(`http://127.0.0.1:${port}/callbacks`), null, `${ports}`);
      return port;
    };
    assert.equal(suggested(), 9001);
    assert.equal(suggested('80,443,18080-18090'), 18080);
    assert.equal(suggested('443'), 443);
    assert.equal(suggested('any'), 9001);
  });
});

describe('when the dashboard cannot be shown', () => {
  it('answers 503 with what to run when the page was not built', async (t) => {
    const empty = mkdtempSync(join(tmpdir(), 'ccb-no-ui-'));
    t.after(() => rmSync(empty, { recursive: true, force: true }));
    const server = await startTestServer({ dev: false });
    t.after(() => server.close());
    const app = Fastify();
    installErrorHandlers(app);
    await app.register(uiRoutes, { ctx: server.ctx, version: '0.0.0', root: empty });
    t.after(() => app.close());
    for (const url of ['/ui', '/ui/app.js']) {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 503, url);
      assert.deepEqual(response.json(), {
        errorCode: 'REQUEST_FAILED.Unavailable',
        errorMessage: 'the dashboard is not built: run npm run build',
      });
    }
    assert.equal((await app.inject({ url: '/ui/profile.json' })).statusCode, 200);
  });

  it('skips the browser tests without Chromium, saying how to install it, and fails them with CI=true', () => {
    assert.equal(
      browserMissing(CHROMIUM.replace('chromium', 'no-such-browser'), {}),
      '/usr/bin/no-such-browser is missing: install it with `apt-get install chromium` to run the dashboard tests',
    );
    assert.throws(
      () => browserMissing('/usr/bin/no-such-browser', { CI: 'true' }),
      /CI=true and \/usr\/bin\/no-such-browser is missing/,
    );
  });
});
