import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  adminHeaders,
  createUser,
  DEV_CREDENTIALS,
  eventually,
  inject,
  startTestServer,
  type TestServer,
} from './helpers.js';

const ACCOUNT = DEV_CREDENTIALS.accountName;
const OTHER = '0000999999-00001';

// biome-ignore lint/suspicious/noExplicitAny: answers are read without declaring each shape
type Json = Record<string, any>;

const bearer = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

async function portalLink(server: TestServer, account: string, body: Json = {}): Promise<Json> {
  const answer = await inject(server, `/admin/v1/accounts/${account}/portal-links`, {
    method: 'POST',
    headers: adminHeaders(server),
    body,
  });
  assert.equal(answer.status, 201, answer.text);
  return answer.body;
}

const linkToken = (link: Json) => /#link=(ccbl_[A-Za-z0-9_-]+)$/.exec(link.url)?.[1] ?? '';

async function openLink(server: TestServer, token: string) {
  return inject(server, '/portal/api/session/link', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: { token },
  });
}

function register(server: TestServer, account: string, service: string, url: string) {
  return server.ctx.registrations.upsert({
    accountName: account,
    serviceName: service,
    url,
    username: 'u',
    password: 'p',
  });
}

describe('the account portal API', () => {
  let now = Date.now();
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ clock: () => now });
  });
  after(() => server.close());

  it('makes a single-use link: the second exchange and one after expiry are refused', async () => {
    now = Date.now();
    const link = await portalLink(server, ACCOUNT);
    assert.match(link.url, /^http:\/\/[^/]+\/portal\/#link=ccbl_/);
    assert.equal(link.path, link.url.slice(link.url.indexOf('/portal/')));
    assert.equal(Date.parse(link.expiresAt) - now, 10 * 60 * 1000, 'ten minutes by default');
    const first = await openLink(server, linkToken(link));
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.kind, 'portal-link');
    assert.deepEqual(first.body.accounts, [ACCOUNT]);
    assert.match(first.body.sessionToken, /^ccbp_/);
    const second = await openLink(server, linkToken(link));
    assert.equal(second.status, 401);
    assert.equal(second.body.errorCode, 'REQUEST_FAILED.Unauthorized');

    const short = await portalLink(server, ACCOUNT, { ttlSeconds: 60 });
    now += 60_000;
    assert.equal((await openLink(server, linkToken(short))).status, 401, 'refused once expired');
    now = Date.now();
    const tooLong = await inject(server, `/admin/v1/accounts/${ACCOUNT}/portal-links`, {
      method: 'POST',
      headers: adminHeaders(server),
      body: { ttlSeconds: 7200 },
    });
    assert.equal(tooLong.status, 400);
    assert.equal((await openLink(server, 'ccbl_made-up')).status, 401);
  });

  it('stores link and session tokens only as hashes', async () => {
    const link = await portalLink(server, ACCOUNT);
    const opened = await openLink(server, linkToken(link));
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const dump = JSON.stringify([
        db.prepare('SELECT * FROM portal_links').all(),
        db.prepare('SELECT * FROM portal_sessions').all(),
      ]);
      assert.ok(!dump.includes(linkToken(link)), 'no link token in the database');
      assert.ok(!dump.includes(opened.body.sessionToken), 'no session token in the database');
    } finally {
      db.close();
    }
  });

  it('signs a user in with an OAuth client and password, for every account the user manages, with the lockout', async () => {
    await createUser(server, 'owner', 'the-right-password', [ACCOUNT, OTHER]);
    const login = (password: string) =>
      inject(server, '/portal/api/session/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: {
          clientId: DEV_CREDENTIALS.clientId,
          clientSecret: DEV_CREDENTIALS.clientSecret,
          username: 'owner',
          password,
        },
      });
    const ok = await login('the-right-password');
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual([ok.body.kind, ok.body.name, ok.body.accounts], ['portal-user', 'owner', [ACCOUNT, OTHER]]);
    const session = await inject(server, '/portal/api/session', { headers: bearer(ok.body.sessionToken) });
    assert.equal(session.status, 200);
    assert.equal(session.body.sessionToken, undefined);

    const badClient = await inject(server, '/portal/api/session/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: { clientId: DEV_CREDENTIALS.clientId, clientSecret: 'wrong', username: 'owner', password: 'x' },
    });
    assert.equal(badClient.status, 401);
    for (let i = 0; i < 5; i++) assert.equal((await login(`wrong-${i}`)).status, 400);
    const locked = await login('the-right-password');
    assert.equal(locked.status, 400);
    assert.equal(locked.body.errorCode, 'REQUEST_FAILED.Login.UserLocked');

    // A change of the user's password ends its portal sessions.
    await inject(server, '/admin/v1/users/owner', {
      method: 'PATCH',
      headers: adminHeaders(server),
      body: { password: 'another-long-password' },
    });
    assert.equal((await inject(server, '/portal/api/session', { headers: bearer(ok.body.sessionToken) })).status, 401);
  });

  it('registers, tests, replays, rotates and removes a listener of its own account', async () => {
    const opened = await openLink(server, linkToken(await portalLink(server, ACCOUNT)));
    const as = bearer(opened.body.sessionToken);
    const put = await inject(server, `/portal/api/accounts/${ACCOUNT}/registrations/DeviceUsage`, {
      method: 'PUT',
      headers: as,
      body: { url: 'http://127.0.0.1:9003/usage', username: 'acme', password: 's3cret' },
    });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual([put.body.serviceName, put.body.credentialsSet], ['DeviceUsage', true]);
    // A new registration's endpoint health: no attempt yet.
    assert.deepEqual(
      [put.body.health?.consecutiveFailures, put.body.health?.recentAttempts, put.body.health?.lastSuccessAt],
      [0, 0, null],
    );
    const badPort = await inject(server, `/portal/api/accounts/${ACCOUNT}/registrations/DeviceUsage`, {
      method: 'PUT',
      headers: as,
      body: { url: 'http://127.0.0.1:8443/' },
    });
    assert.equal(badPort.status, 400);
    assert.equal(badPort.body.errorCode, 'INPUT_INVALID.Url');

    const list = await inject(server, `/portal/api/accounts/${ACCOUNT}/registrations`, { headers: as });
    assert.ok(list.body.items.some((item: Json) => item.serviceName === 'DeviceUsage'));
    assert.ok(!list.text.includes('s3cret'), 'credentials are never shown');

    const secret = await inject(server, `/portal/api/accounts/${ACCOUNT}/registrations/DeviceUsage/secret`, {
      headers: as,
    });
    assert.match(secret.body.secret, /^whsec_/);
    const rotated = await inject(server, `/portal/api/accounts/${ACCOUNT}/registrations/DeviceUsage/secret/rotate`, {
      method: 'POST',
      headers: as,
    });
    assert.equal(rotated.body.previousSecret, secret.body.secret);

    const test = await inject(server, `/portal/api/accounts/${ACCOUNT}/registrations/DeviceUsage/test`, {
      method: 'POST',
      headers: as,
    });
    assert.equal(test.status, 202, test.text);
    assert.equal(typeof test.body.payload, 'object');
    const message = await inject(server, `/portal/api/accounts/${ACCOUNT}/messages/${test.body.messageId}`, {
      headers: as,
    });
    assert.equal(message.status, 200);
    assert.equal(message.body.serviceName, 'DeviceUsage');
    assert.ok(Array.isArray(message.body.deliveryAttempts));
    const listed = await inject(server, `/portal/api/accounts/${ACCOUNT}/messages?serviceName=DeviceUsage`, {
      headers: as,
    });
    assert.ok(listed.body.items.some((item: Json) => item.id === test.body.messageId));

    await eventually(
      async () => {
        const replay = await inject(server, `/portal/api/accounts/${ACCOUNT}/messages/${test.body.messageId}/replay`, {
          method: 'POST',
          headers: as,
        });
        return replay.status === 202;
      },
      { what: 'the test message can be replayed once its attempt ended', interval: 50 },
    );
    const bulk = await inject(server, `/portal/api/accounts/${ACCOUNT}/messages/replay`, {
      method: 'POST',
      headers: as,
      body: {},
    });
    assert.equal(bulk.status, 202);
    const job = await inject(server, `/portal/api/accounts/${ACCOUNT}/replays/${bulk.body.jobId}`, { headers: as });
    assert.equal(job.status, 200);

    const removed = await inject(server, `/portal/api/accounts/${ACCOUNT}/registrations/DeviceUsage`, {
      method: 'DELETE',
      headers: as,
    });
    assert.equal(removed.status, 200);
    assert.equal(await server.ctx.registrations.get(ACCOUNT, 'DeviceUsage'), null);
  });

  it("refuses another account's data on every portal route, changing nothing", async () => {
    // The other account has a registration, a message and a replay job; this session is for ACCOUNT only.
    await register(server, OTHER, 'CarrierService', 'http://127.0.0.1:9004/other');
    await register(server, ACCOUNT, 'CarrierService', 'http://127.0.0.1:9004/mine');
    const published = await inject(server, '/admin/v1/messages', {
      method: 'POST',
      headers: adminHeaders(server),
      body: { accountName: OTHER, serviceName: 'CarrierService', payload: { secret: 'theirs' } },
    });
    const otherMessage = published.body.messageId as string;
    const otherJob = await server.ctx.replays.start({ accountName: OTHER, status: 'failed' });
    const snapshot = async () =>
      JSON.stringify([
        await server.ctx.registrations.list(OTHER),
        (await server.ctx.messages.list({ accountName: OTHER }, 1000, null)).items.map((m) => [
          m.id,
          m.status,
          m.attempts,
        ]),
        (await server.ctx.messages.get(otherMessage))?.attempts.length,
      ]);
    await eventually(async () => (await server.ctx.messages.get(otherMessage))?.message.status === 'failed', {
      what: 'the other account’s message has failed every attempt (nothing listens)',
      timeout: 15_000,
    });
    await eventually(async () => (await server.ctx.replays.get(otherJob.jobId))?.status !== 'running');
    const before = await snapshot();

    const opened = await openLink(server, linkToken(await portalLink(server, ACCOUNT)));
    const as = bearer(opened.body.sessionToken);
    const document = (await inject<Json>(server, '/openapi.json')).body;
    const routes: Array<{ method: string; path: string }> = [];
    for (const [path, item] of Object.entries<Json>(document.paths)) {
      if (!path.startsWith('/portal/api/accounts/')) continue;
      for (const method of Object.keys(item)) routes.push({ method: method.toUpperCase(), path });
    }
    assert.ok(routes.length >= 11, `${routes.length} portal account routes`);
    const fill = (path: string, account: string, id: string, jobId: string) =>
      path
        .replace('{aname}', account)
        .replace('{sname}', 'CarrierService')
        .replace('{id}', id)
        .replace('{jobId}', jobId);
    const bodyFor = (method: string, path: string) =>
      method === 'PUT'
        ? { url: 'http://127.0.0.1:9005/hijack' }
        : method === 'POST' && path.endsWith('/replay')
          ? {}
          : undefined;
    for (const { method, path } of routes) {
      // Another account's name: refused before anything is read.
      const named = await inject(server, fill(path, OTHER, otherMessage, otherJob.jobId), {
        method,
        headers: as,
        body: bodyFor(method, path),
      });
      assert.equal(named.status, 403, `${method} ${path} for ${OTHER}: ${named.text}`);
      assert.equal(named.body.errorCode, 'REQUEST_FAILED.AccountForbidden');
      // Its own account's name with the other account's ids: unknown.
      if (path.includes('{id}') || path.includes('{jobId}')) {
        const borrowed = await inject(server, fill(path, ACCOUNT, otherMessage, otherJob.jobId), {
          method,
          headers: as,
          body: bodyFor(method, path),
        });
        assert.equal(borrowed.status, 404, `${method} ${path} with ${OTHER}'s id: ${borrowed.text}`);
      }
    }
    assert.equal(await snapshot(), before, 'nothing of the other account changed');
  });

  it('refuses every portal route without a live session', async () => {
    const opened = await openLink(server, linkToken(await portalLink(server, ACCOUNT)));
    const token = opened.body.sessionToken as string;
    const out = await inject(server, '/portal/api/session/logout', { method: 'POST', headers: bearer(token) });
    assert.equal(out.status, 200);
    const attempts: Record<string, string>[] = [
      bearer(token),
      bearer('ccbp_unknown'),
      { authorization: `Bearer ${server.adminToken}` },
      {},
    ];
    for (const headers of attempts) {
      const answer = await inject(server, `/portal/api/accounts/${ACCOUNT}/registrations`, { headers });
      assert.equal(answer.status, 401, JSON.stringify(headers));
    }
  });
});
