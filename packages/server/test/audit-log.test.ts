import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  adminHeaders,
  DEV_CREDENTIALS,
  eventually,
  inject,
  login,
  startTestServer,
  type TestServer,
} from './helpers.js';

const ACCOUNT = DEV_CREDENTIALS.accountName;

// biome-ignore lint/suspicious/noExplicitAny: answers are read without declaring each shape
type Json = Record<string, any>;

/** Operations that are not recorded: publishing (the busiest route) and the platform's credential exchanges. */
const NOT_RECORDED = new Set(['publishMessage', 'publishMessages', 'getAccessToken', 'logIn', 'logOut']);

async function allEntries(server: TestServer, query = ''): Promise<Json[]> {
  const entries: Json[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: Json; text: string } = await inject(
      server,
      `/admin/v1/audit?limit=1000${query}${cursor ? `&cursor=${cursor}` : ''}`,
      { headers: adminHeaders(server) },
    );
    assert.equal(page.status, 200, page.text);
    entries.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return entries;
}

describe('the audit log', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('records every state-changing call of the admin API, the portal and the platform API, with no secret in it', async () => {
    const admin = adminHeaders(server);
    const secrets: string[] = [];
    const call = async (path: string, method: string, body?: unknown, headers: Record<string, string> = admin) => {
      const answer = await inject(server, path, { method, headers, body });
      for (const value of JSON.stringify(answer.body ?? {}).match(/(ccb[klp]_|whsec_)[A-Za-z0-9_+/=-]+/g) ?? []) {
        secrets.push(value);
      }
      return answer;
    };
    const clientSecret = 'client secret of the audit test';
    secrets.push(clientSecret);
    const client = await call('/admin/v1/clients', 'POST', { name: 'audited', clientId: 'audited', clientSecret });
    assert.equal(client.status, 201);
    const rotatedClient = await call('/admin/v1/clients/audited/secret/rotate', 'POST');
    secrets.push(rotatedClient.body.clientSecret);
    const passwords = ['first password of ops', 'second password of ops'];
    secrets.push(...passwords);
    await call('/admin/v1/users', 'POST', { username: 'ops', password: passwords[0], accounts: [ACCOUNT] });
    await call('/admin/v1/users/ops', 'PATCH', { password: passwords[1] });
    await call('/admin/v1/users/ops', 'DELETE');
    const key = await call('/admin/v1/keys', 'POST', { name: 'reader', scopes: ['messages:read'] });
    const refused = await call(
      '/admin/v1/messages/replay',
      'POST',
      { all: true },
      {
        authorization: `Bearer ${key.body.key}`,
        'content-type': 'application/json',
      },
    );
    assert.equal(refused.status, 403);
    await call(`/admin/v1/keys/${key.body.id}`, 'DELETE');

    // The platform API: register with credentials, deregister.
    const session = await login(server);
    const listenerPassword = 'listener-pass';
    secrets.push(listenerPassword, session.accessToken, session.sessionToken);
    const registered = await call(
      `/api/m2m/v1/callbacks/${ACCOUNT}`,
      'POST',
      { name: 'CarrierService', url: 'http://127.0.0.1:9001/', username: 'acme', password: listenerPassword },
      session.headers,
    );
    assert.equal(registered.status, 200, registered.text);
    await call(`/admin/v1/callbacks/${ACCOUNT}/CarrierService/secret`, 'GET');
    await call(`/admin/v1/callbacks/${ACCOUNT}/CarrierService/secret/rotate`, 'POST');
    const published = await call('/admin/v1/messages', 'POST', {
      accountName: ACCOUNT,
      serviceName: 'DeviceUsage',
      payload: { n: 1 },
    });
    await eventually(
      async () => (await server.ctx.messages.get(published.body.messageId))?.message.status === 'failed',
    );
    await call(`/admin/v1/messages/${published.body.messageId}/replay`, 'POST');
    await call('/admin/v1/messages/replay', 'POST', { filter: { accountName: ACCOUNT, status: 'failed' } });

    // The portal, through a link.
    const link = await call(`/admin/v1/accounts/${ACCOUNT}/portal-links`, 'POST', {});
    const token = /#link=(.+)$/.exec(link.body.url)?.[1] ?? '';
    secrets.push(token);
    const opened = await call('/portal/api/session/link', 'POST', { token }, { 'content-type': 'application/json' });
    const portal = { authorization: `Bearer ${opened.body.sessionToken}`, 'content-type': 'application/json' };
    const portalPassword = 'portal-pass';
    secrets.push(portalPassword);
    const base = `/portal/api/accounts/${ACCOUNT}`;
    await call(
      `${base}/registrations/DeviceUsage`,
      'PUT',
      { url: 'http://127.0.0.1:9002/', password: portalPassword },
      portal,
    );
    await call(`${base}/registrations/DeviceUsage/secret/rotate`, 'POST', undefined, portal);
    const test = await call(`${base}/registrations/DeviceUsage/test`, 'POST', undefined, portal);
    await eventually(async () => (await server.ctx.messages.get(test.body.messageId))?.message.status === 'failed');
    await call(`${base}/messages/${test.body.messageId}/replay`, 'POST', undefined, portal);
    await call(`${base}/messages/replay`, 'POST', {}, portal);
    await call(`${base}/registrations/DeviceUsage`, 'DELETE', undefined, portal);
    await call('/portal/api/session/logout', 'POST', undefined, portal);
    await call(`/api/m2m/v1/callbacks/${ACCOUNT}/name/CarrierService`, 'DELETE', undefined, session.headers);
    await call('/admin/v1/clients/audited', 'DELETE');

    // Every other state-changing operation of the server is called once, whatever it answers.
    const document = (await inject<Json>(server, '/openapi.json')).body;
    const stateChanging = new Map<string, { method: string; path: string }>();
    for (const [path, item] of Object.entries<Json>(document.paths)) {
      for (const [method, operation] of Object.entries<Json>(item)) {
        if (method !== 'get' && !NOT_RECORDED.has(operation.operationId)) {
          stateChanging.set(operation.operationId, { method: method.toUpperCase(), path });
        }
      }
    }
    let entries = await allEntries(server);
    for (const [id, { method, path }] of stateChanging) {
      if (entries.some((entry) => entry.action === id)) continue;
      const url = path.replace(/\{(\w+)\}/g, (_, name: string) =>
        name === 'aname' ? ACCOUNT : name === 'sname' ? 'CarrierService' : 'nothing',
      );
      const headers = path.startsWith('/portal/') ? portal : path.startsWith('/api/') ? session.headers : admin;
      await call(url, method, {}, headers);
    }
    entries = await allEntries(server);
    for (const id of stateChanging.keys()) {
      if (id === 'openPortalLink' || id === 'portalLogIn') continue;
      assert.ok(
        entries.some((entry) => entry.action === id),
        `a call of ${id} is recorded`,
      );
    }
    for (const id of NOT_RECORDED) assert.ok(!entries.some((entry) => entry.action === id), `${id} is not recorded`);

    const text = JSON.stringify(entries);
    for (const secret of new Set(secrets))
      assert.ok(!text.includes(secret), `no secret in the log: ${secret.slice(0, 6)}…`);

    const find = (action: string) => entries.find((entry) => entry.action === action) as Json;
    assert.deepEqual(
      [find('createClient').actor, find('createClient').target, find('createClient').outcome],
      [{ kind: 'root', name: 'admin' }, 'audited', 'ok'],
    );
    assert.match(find('createClient').summary, /clientSecret set/);
    assert.equal(find('createClient').address, '127.0.0.1');
    const denied = entries.find((entry) => entry.actor.name === 'reader') as Json;
    assert.deepEqual(
      [denied.action, denied.outcome, denied.statusCode, denied.errorCode],
      ['replayMessages', 'refused', 403, 'REQUEST_FAILED.Forbidden'],
    );
    assert.deepEqual(find('registerCallback').actor, { kind: 'm2m-user', name: DEV_CREDENTIALS.username });
    assert.equal(find('registerCallback').accountName, ACCOUNT);
    assert.match(find('registerCallback').summary, /password set/);
    assert.deepEqual(find('portalRegister').actor, { kind: 'portal-link', name: `link for ${ACCOUNT}` });
    assert.equal(find('replayMessage').target, published.body.messageId);
    assert.equal(find('replayMessage').accountName, ACCOUNT);
    assert.equal(find('openPortalLink').accountName, ACCOUNT);
  });

  it('filters by actor, action, account, target and time, and pages with a cursor', async () => {
    const admin = adminHeaders(server);
    const since = Date.now();
    for (let i = 0; i < 3; i++) {
      await inject(server, `/admin/v1/accounts/${ACCOUNT}/portal-links`, { method: 'POST', headers: admin, body: {} });
    }
    const links = await allEntries(server, `&action=createPortalLink&since=${since}`);
    assert.equal(links.length, 3);
    assert.ok(links.every((entry) => entry.accountName === ACCOUNT && entry.actor.name === 'admin'));
    const first = await inject(server, `/admin/v1/audit?action=createPortalLink&since=${since}&limit=2`, {
      headers: admin,
    });
    assert.equal(first.body.items.length, 2);
    assert.ok(first.body.nextCursor);
    const second = await inject(
      server,
      `/admin/v1/audit?action=createPortalLink&since=${since}&limit=2&cursor=${first.body.nextCursor}`,
      { headers: admin },
    );
    assert.deepEqual(
      [...first.body.items, ...second.body.items].map((entry: Json) => entry.id),
      links.map((entry) => entry.id),
      'the pages are the whole list, newest first',
    );
    const earlier = await allEntries(server, `&until=${since}&action=createPortalLink`);
    assert.ok(earlier.every((entry) => Date.parse(entry.at) < since && !links.some((link) => link.id === entry.id)));
    assert.equal((await allEntries(server, '&actor=nobody')).length, 0);
    assert.equal((await allEntries(server, '&accountName=0000999999-00001')).length, 0);
    const bad = await inject(server, '/admin/v1/audit?cursor=made-up', { headers: admin });
    assert.equal(bad.status, 400);
    const badTime = await inject(server, '/admin/v1/audit?since=yesterday', { headers: admin });
    assert.equal(badTime.status, 400);
  });

  it('deletes entries older than CCB_AUDIT_RETENTION', async () => {
    const before = (await allEntries(server)).length;
    assert.ok(before > 0);
    const retention = server.ctx.config.access.auditRetentionMs;
    assert.equal(retention, 90 * 24 * 3600 * 1000, 'ninety days by default');
    await server.ctx.store.access.purge(Date.now() - retention, Date.now());
    assert.equal((await allEntries(server)).length, before, 'recent entries stay');
    await server.ctx.store.access.purge(Date.now() + 1, Date.now());
    assert.equal((await allEntries(server)).length, 0);
  });
});

describe('when an audit entry is written', () => {
  let server: TestServer;
  /** Entries wait here before they reach the store, while `holdEntries` is set. */
  let holdEntries: Promise<void> | null = null;
  let entryArrived: () => void = () => {};
  before(async () => {
    server = await startTestServer();
    // Before the first entry: the store's guard keeps the method it first finds.
    const access = server.ctx.store.access;
    const append = Object.getPrototypeOf(access).appendAudit as typeof access.appendAudit;
    access.appendAudit = async function (this: typeof access, entry) {
      entryArrived();
      if (holdEntries) await holdEntries;
      return append.call(this, entry);
    };
  });
  after(() => server.close());

  it('is committed before the answer is sent', async () => {
    const session = await login(server);
    let release: () => void = () => {};
    holdEntries = new Promise((resolve) => {
      release = resolve;
    });
    const arrived = new Promise<void>((resolve) => {
      entryArrived = resolve;
    });
    let answered = false;
    const answer = inject(server, `/api/m2m/v1/callbacks/${ACCOUNT}`, {
      method: 'POST',
      headers: session.headers,
      body: { name: 'CarrierService', url: 'http://127.0.0.1:9001/before-answer' },
    }).then((response) => {
      answered = true;
      return response;
    });
    await arrived;
    // A whole request served after the entry arrived: an answer sent without waiting would be out by now.
    assert.equal((await inject(server, '/healthz')).status, 200);
    assert.equal(answered, false, 'the answer waits for the audit entry');
    release();
    holdEntries = null;
    assert.equal((await answer).status, 200);
    const entries = await allEntries(server, '&action=registerCallback');
    assert.ok(entries.some((entry) => entry.summary.includes('before-answer')));
  });

  it('is written when the caller hangs up before its answer', async () => {
    const session = await login(server);
    const registrations = server.ctx.registrations;
    const upsert = registrations.upsert.bind(registrations);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached: () => void = () => {};
    const handling = new Promise<void>((resolve) => {
      reached = resolve;
    });
    registrations.upsert = async (input) => {
      reached();
      await gate;
      return upsert(input);
    };
    try {
      const serverSide = once(server.running.app.server, 'connection') as Promise<[Socket]>;
      const url = new URL(server.baseUrl);
      const client = connect(Number(url.port), url.hostname);
      const body = JSON.stringify({ name: 'CarrierService', url: 'http://127.0.0.1:9001/hung-up' });
      const headers = { ...session.headers, host: url.host, 'content-length': String(Buffer.byteLength(body)) };
      client.write(
        `POST /api/m2m/v1/callbacks/${ACCOUNT} HTTP/1.1\r\n${Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('')}\r\n${body}`,
      );
      const [socket] = await serverSide;
      await handling;
      client.destroy();
      if (!socket.destroyed) await once(socket, 'close');
      release();
      await eventually(async () => (await registrations.get(ACCOUNT, 'CarrierService'))?.url.endsWith('/hung-up'), {
        what: 'the registration of the caller that hung up',
      });
      const entry = await eventually(
        async () => (await allEntries(server, '&action=registerCallback')).find((e) => e.summary.includes('hung-up')),
        { what: 'the audit entry of the call whose caller hung up' },
      );
      assert.equal(entry.outcome, 'ok');
      assert.ok(['127.0.0.1', 'unknown'].includes(entry.address), entry.address);
    } finally {
      registrations.upsert = upsert;
    }
  });
});
