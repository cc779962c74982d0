// test tier: full (drives Chromium)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Frame, Locator, Page } from 'playwright-core';
import { DEV_CREDENTIALS } from '../src/dev.js';
import { browserMissing, launchChromium } from './browser.js';
import { ACCOUNT, admin, listenerPool, waitForMessage } from './delivery-fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';

const skip = browserMissing() ?? false;
const WAIT = { timeout: 15_000 };
const textOf = async (locator: Locator) => (await locator.textContent()) ?? '';
const SCREENSHOT = new URL('../../../docs/portal.png', import.meta.url);
/** The other account: a portal link opens it alone. */
const OTHER = '0000999999-00002';

/** A page of "the operator's own app" on another origin, embedding the portal link in an iframe. */
async function startEmbedder(): Promise<{ server: Server; origin: string; link: { url: string } }> {
  const link = { url: '' };
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(
      `<!doctype html><title>Operator app</title><h1>Your callbacks</h1><iframe title="Callbacks portal" src="${link.url}" width="1200" height="900"></iframe>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}`, link };
}

/** Requests only to the test server and the embedder; script and console errors collected. */
async function openContext(browser: Browser, origins: string[], viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const elsewhere: string[] = [];
  const problems: string[] = [];
  context.on('page', (page) => {
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
  });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (origins.some((origin) => url.startsWith(`${origin}/`))) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  return { context, elsewhere, problems };
}

async function portalLink(server: TestServer, account: string) {
  const made = await admin<{ url: string; path: string; expiresAt: string }>(
    server,
    'POST',
    `/accounts/${account}/portal-links`,
    {},
  );
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.match(made.body.url, /\/portal\/#link=ccbl_/);
  // The admin helper calls in process (no Host of ours): the page is opened at the test server's address.
  return { ...made.body, url: `${server.baseUrl}${made.body.path}` };
}

describe('account portal at /portal', { skip }, () => {
  let browser: Browser;
  let server: TestServer;
  let embedder: Awaited<ReturnType<typeof startEmbedder>>;
  const { listen, closeAll: closeListeners } = listenerPool();

  before(async () => {
    browser = await launchChromium();
    embedder = await startEmbedder();
    server = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any', CCB_PORTAL_FRAME_ANCESTORS: embedder.origin },
      flags: { retrySchedule: '100ms,100ms', attemptTimeout: '2s' },
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await new Promise((resolve) => embedder?.server.close(resolve));
    await closeListeners();
  });

  it('serves the page with a CSP that lets only the configured origins frame it', async () => {
    const response = await fetch(`${server.baseUrl}/portal`);
    assert.equal(response.status, 200);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, new RegExp(`frame-ancestors ${embedder.origin}(;|$)`));
    assert.match(csp, /connect-src 'self'/);
    assert.match(await response.text(), /<script type="module" src="\/portal\/portal\.js">/);
    const ui = await fetch(`${server.baseUrl}/ui`);
    assert.match(
      ui.headers.get('content-security-policy') ?? '',
      /frame-ancestors 'none'/,
      'the dashboard stays unframed',
    );
  });

  it('signs the M2M user in and manages a listener: register, test message, attempts, rotate, change, replay, remove', async () => {
    const { context, elsewhere, problems } = await openContext(browser, [server.baseUrl]);
    const page = await context.newPage();
    await page.goto(`${server.baseUrl}/portal`);
    await page.getByLabel('OAuth client id').fill(DEV_CREDENTIALS.clientId);
    await page.getByLabel('OAuth client secret').fill(DEV_CREDENTIALS.clientSecret);
    await page.getByLabel('Username').fill(DEV_CREDENTIALS.username);
    await page.getByLabel('Password').fill(DEV_CREDENTIALS.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: `Callbacks of account ${ACCOUNT}` }).waitFor(WAIT);
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing kept beyond the tab');

    const listener = await listen((_request, index) =>
      index === 0 ? { status: 503, body: 'warming up' } : { status: 200, body: 'thanks' },
    );
    await page.getByRole('button', { name: 'Register a listener' }).click();
    const form = page.getByRole('form', { name: 'Register a listener' });
    await form.getByLabel('Service').selectOption('DeviceUsage');
    await form.getByLabel('Listener URL').fill(listener.url);
    await form.getByLabel('Username').fill('portal-user');
    await form.getByLabel('Password').fill('portal-pass');
    await form.getByRole('button', { name: 'Register' }).click();
    const row = page.locator('tr[data-service="DeviceUsage"]');
    await row.waitFor(WAIT);
    assert.match(await textOf(row.locator('td[data-label="Credentials"]')), /^set$/);
    const stored = await server.ctx.registrations.get(ACCOUNT, 'DeviceUsage');
    assert.deepEqual([stored?.url, stored?.username, stored?.password], [listener.url, 'portal-user', 'portal-pass']);

    await row.getByRole('button', { name: `Send a test message to ${ACCOUNT} DeviceUsage` }).click();
    const note = row.getByTestId('test-message');
    await note.waitFor(WAIT);
    const messageId = await textOf(note.getByRole('link'));
    await waitForMessage(server, messageId, (m) => m.status === 'delivered');
    await note.getByRole('link').click();
    await page.locator('[data-testid="message-status"]').getByText('delivered').waitFor(WAIT);
    const attempts = page.locator('tr[data-attempt]');
    await attempts.nth(1).waitFor(WAIT);
    assert.match(await textOf(attempts.nth(0)), /503[\s\S]*warming up/);
    assert.match(await textOf(attempts.nth(1)), /200[\s\S]*thanks/);

    await page.goto(`${server.baseUrl}/portal#/a/${ACCOUNT}`);
    await row.getByRole('button', { name: `Show signing secret of ${ACCOUNT} DeviceUsage` }).click();
    await row.getByText(stored!.signingSecret).waitFor(WAIT);
    page.once('dialog', (dialog) => dialog.accept());
    await row.getByRole('button', { name: `Rotate signing secret of ${ACCOUNT} DeviceUsage` }).click();
    await row.getByText('The previous secret still signs until').waitFor(WAIT);
    const rotated = await server.ctx.registrations.get(ACCOUNT, 'DeviceUsage');
    assert.notEqual(rotated?.signingSecret, stored?.signingSecret);

    // A listener that now refuses everything: the next test message fails, then is replayed from the list.
    listener.reply = () => ({ status: 500, body: 'broken' });
    await row.getByRole('button', { name: `Change ${ACCOUNT} DeviceUsage` }).click();
    const edit = page.getByRole('form', { name: `Change DeviceUsage of ${ACCOUNT}` });
    await edit.getByLabel('Listener URL').fill(`${listener.url}/v2`);
    // The portal's change replaces the credentials (the platform's register call): typed again to keep them.
    await edit.getByText('Saving replaces the credentials').waitFor(WAIT);
    await edit.getByLabel('Username').fill('portal-user');
    await edit.getByLabel('Password').fill('portal-pass');
    await edit.getByRole('button', { name: 'Save' }).click();
    await row.getByText(`${listener.url}/v2`).waitFor(WAIT);
    assert.equal((await server.ctx.registrations.get(ACCOUNT, 'DeviceUsage'))?.username, 'portal-user');
    await row.getByRole('button', { name: `Send a test message to ${ACCOUNT} DeviceUsage` }).click();
    const failedId = await textOf(row.getByTestId('test-message').getByRole('link'));
    await waitForMessage(server, failedId, (m) => m.status === 'failed', 10_000);
    listener.reply = () => ({ status: 200 });
    const failedRow = page.locator(`tr[data-message-id="${failedId}"][data-status="failed"]`);
    await failedRow.waitFor(WAIT);
    await failedRow.getByRole('button', { name: `Replay ${failedId}` }).click();
    await waitForMessage(server, failedId, (m) => m.status === 'delivered', 10_000);

    page.once('dialog', (dialog) => dialog.accept());
    await row.getByRole('button', { name: `Remove ${ACCOUNT} DeviceUsage` }).click();
    await row.waitFor({ state: 'detached', ...WAIT });
    assert.equal(await server.ctx.registrations.get(ACCOUNT, 'DeviceUsage'), null);
    assert.deepEqual(problems, []);
    assert.deepEqual(elsewhere, []);
    await context.close();
  });

  it('opens a link once, inside the operator’s iframe, for that account only; another account is refused and unchanged', async () => {
    // The other account's data, and this account's, made through the admin API.
    const otherListener = await listen();
    assert.equal(
      (await admin(server, 'PUT', `/callbacks/${OTHER}/CarrierService`, { url: otherListener.url })).status,
      200,
    );
    assert.equal(
      (await admin(server, 'PUT', `/callbacks/${ACCOUNT}/AlertService`, { url: otherListener.url })).status,
      200,
    );
    const mine = await admin<{ messageId: string }>(server, 'POST', '/messages', {
      accountName: ACCOUNT,
      serviceName: 'AlertService',
      payload: { requestId: 'not-yours' },
    });
    const link = await portalLink(server, OTHER);
    embedder.link.url = link.url;

    const { context, elsewhere, problems } = await openContext(browser, [server.baseUrl, embedder.origin]);
    const page = await context.newPage();
    await page.goto(`${embedder.origin}/`);
    const frame = (await (await page.waitForSelector('iframe')).contentFrame()) as Frame;
    await frame.getByRole('heading', { name: `Callbacks of account ${OTHER}` }).waitFor(WAIT);
    await frame.locator('tr[data-service="CarrierService"]').waitFor(WAIT);
    assert.doesNotMatch(frame.url(), /link=/, 'the link token is taken out of the address');
    assert.equal(await frame.locator('nav[aria-label="Accounts"]').count(), 0, 'one account only');

    // Asking the page for the other account shows this one.
    await frame.goto(`${server.baseUrl}/portal#/a/${ACCOUNT}`);
    await frame.getByRole('heading', { name: `Callbacks of account ${OTHER}` }).waitFor(WAIT);

    // Every portal route the page calls, aimed at the other account with this session: refused, nothing changed.
    const before = await server.ctx.registrations.get(ACCOUNT, 'AlertService');
    // The page's own session token (kept in the tab), used for every portal route the page calls.
    const token = await frame.evaluate(() => sessionStorage.getItem('ccb.portalSession'));
    assert.match(token ?? '', /^ccbp_/);
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return [`${method} ${path}`, response.status] as const;
    };
    const a = `/portal/api/accounts/${ACCOUNT}`;
    const messageId = mine.body.messageId;
    const answers = [
      await call('GET', `${a}/registrations`),
      await call('PUT', `${a}/registrations/AlertService`, { url: 'http://127.0.0.1:9/taken' }),
      await call('DELETE', `${a}/registrations/AlertService`),
      await call('GET', `${a}/registrations/AlertService/secret`),
      await call('POST', `${a}/registrations/AlertService/secret/rotate`),
      await call('POST', `${a}/registrations/AlertService/test`),
      await call('GET', `${a}/messages`),
      await call('GET', `${a}/messages/${messageId}`),
      await call('POST', `${a}/messages/${messageId}/replay`),
      await call('POST', `${a}/messages/replay`, {}),
      // The other account's message through this account's own routes: as if it did not exist.
      await call('GET', `/portal/api/accounts/${OTHER}/messages/${messageId}`),
      await call('POST', `/portal/api/accounts/${OTHER}/messages/${messageId}/replay`),
    ];
    for (const [route, status] of answers.slice(0, 10)) assert.equal(status, 403, String(route));
    for (const [route, status] of answers.slice(10)) assert.equal(status, 404, String(route));
    const after = await server.ctx.registrations.get(ACCOUNT, 'AlertService');
    assert.deepEqual(
      [after?.url, after?.signingSecret, after?.updatedAt],
      [before?.url, before?.signingSecret, before?.updatedAt],
      'the other account is unchanged',
    );

    // The same link a second time: refused, and the page says so.
    const again = await context.newPage();
    await again.goto(link.url);
    await again.getByText('This portal link was already used or has expired').waitFor(WAIT);
    assert.deepEqual(
      problems.filter((p) => !/401/.test(p)),
      [],
      'only the refused second use is an error',
    );
    assert.deepEqual(elsewhere, []);
    await context.close();
  });

  it('writes docs/portal.png (CCB_WRITE_SCREENSHOT=1 writes the committed one)', async () => {
    const ok = await listen(() => ({ status: 200, body: '{"received":true}' }));
    let calls = 0;
    const flaky = await listen(() => (++calls % 2 === 0 ? { status: 200 } : { status: 503, body: 'busy' }));
    await admin(server, 'PUT', `/callbacks/${ACCOUNT}/CarrierService`, { url: ok.url });
    await admin(server, 'PUT', `/callbacks/${ACCOUNT}/DeviceUsage`, {
      url: flaky.url,
      username: 'acme',
      password: 'pw',
    });
    const messages = ['CarrierService', 'DeviceUsage'].flatMap((serviceName) =>
      Array.from({ length: 6 }, (_, n) => ({ accountName: ACCOUNT, serviceName, payload: { requestId: `shot-${n}` } })),
    );
    const published = await admin<{ messageIds: string[] }>(server, 'POST', '/messages/batch', { messages });
    for (const id of published.body.messageIds) {
      await waitForMessage(server, id, (m) => m.status === 'delivered' || m.status === 'failed', 10_000);
    }

    const link = await portalLink(server, ACCOUNT);
    embedder.link.url = link.url;
    const { context } = await openContext(browser, [server.baseUrl, embedder.origin], { width: 1280, height: 1000 });
    const page: Page = await context.newPage();
    await page.goto(link.url);
    await page.locator('tr[data-service="DeviceUsage"]').waitFor(WAIT);
    await page.locator(`tr[data-message-id="${published.body.messageIds.at(-1)}"]`).waitFor(WAIT);

    const target = process.env.CCB_WRITE_SCREENSHOT === '1' ? SCREENSHOT : null;
    const dir = mkdtempSync(join(tmpdir(), 'ccb-shot-'));
    const path = target ? target.pathname : join(dir, 'portal.png');
    if (target) mkdirSync(new URL('.', target), { recursive: true });
    await page.screenshot({ path, fullPage: true });
    const png = readFileSync(path);
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG file');
    assert.ok(png.length > 20_000, `a real picture, not a blank page (${png.length} bytes)`);
    rmSync(dir, { recursive: true, force: true });
    await context.close();
  });
});
