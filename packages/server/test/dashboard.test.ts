// test tier: full (drives Chromium)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { browserMissing, launchChromium } from './browser.js';
import {
  ACCOUNT,
  admin,
  listenerPool,
  publish,
  startListener,
  type TestListener,
  waitForMessage,
} from './delivery-fixtures.js';
import { login, send, startTestServer, type TestServer } from './helpers.js';

const skip = browserMissing() ?? false;
const WAIT = { timeout: 15_000 };
const textOf = async (locator: Locator) => (await locator.textContent()) ?? '';
const SCREENSHOT = new URL('../../../docs/dashboard.png', import.meta.url);
/** A read of the charts' history (whatever its window). */
const isHistory = (url: string) => new URL(url).pathname === '/admin/v1/stats/history';

/**
 * Stores an hour of chart samples before now, one per `intervalMs`, with no sample for the ten
 * minutes from `gapFrom` minutes ago (no server ran then): a burst of deliveries before the gap.
 */
async function seedHistory(server: TestServer, intervalMs: number, gapFrom = 40) {
  const now = Date.now();
  let delivered = 0;
  for (let at = Math.floor((now - 3_600_000) / intervalMs) * intervalMs; at < now - intervalMs; at += intervalMs) {
    const minutesAgo = (now - at) / 60_000;
    if (minutesAgo <= gapFrom && minutesAgo > gapFrom - 10) continue;
    const wave = Math.round(40 + 35 * Math.sin(at / 300_000));
    delivered += wave * (intervalMs / 1000);
    await server.ctx.store.statsSamples.record({
      at,
      instance: 'earlier',
      counts: { pending: wave, delivering: 2, delivered, failed: 3, cancelled: 0 },
      queueDepth: wave + 2,
      oldestDueAgeMs: wave * 40,
      attempts: { success: wave * (intervalMs / 1000), http_5xx: Math.round(wave / 10) },
    });
  }
}

/**
 * A browser context whose every request must go to the test server (no CDN, nothing outside
 * 127.0.0.1); `problems` collects script errors and console errors (a CSP violation is one).
 */
async function openContext(browser: Browser, server: TestServer, viewport = { width: 1280, height: 900 }) {
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
    if (url.startsWith(`${server.baseUrl}/`)) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  return { context, elsewhere, problems };
}

async function signInWith(page: Page, server: TestServer, token: string) {
  await page.goto(`${server.baseUrl}/ui`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Registers a listener URL through the platform API, as an account owner would. */
async function registerThroughApi(server: TestServer, serviceName: string, url: string, extra = {}) {
  const { headers } = await login(server);
  const response = await send(`${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`, {
    method: 'POST',
    headers,
    body: { name: serviceName, url, ...extra },
  });
  assert.equal(response.status, 200, response.text);
}

describe('dashboard at /ui', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  describe('sign-in', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ dev: false });
    });
    after(() => server.close());

    it('refuses a wrong token, signs in with the admin token kept in sessionStorage only, and signs out', async () => {
      const { context, elsewhere } = await openContext(browser, server);
      const page = await context.newPage();
      const html = await (await fetch(`${server.baseUrl}/ui`)).text();
      assert.ok(!html.includes(server.adminToken), 'the page source holds no token');
      const profile = await (await fetch(`${server.baseUrl}/ui/profile.json`)).json();
      assert.equal(profile.devAdminToken, undefined, 'outside the dev profile no token is offered');

      await signInWith(page, server, 'not-the-token');
      await page.getByText('That token was refused').waitFor(WAIT);

      await signInWith(page, server, server.adminToken);
      await page.getByRole('heading', { name: 'Overview' }).waitFor(WAIT);
      assert.ok(!page.url().includes(server.adminToken), 'the token is never in the URL');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('ccb.adminToken')), server.adminToken);
      assert.equal(await page.evaluate(() => localStorage.length), 0);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Admin token').waitFor(WAIT);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('ccb.adminToken')), null);
      await page.reload();
      await page.getByLabel('Admin token').waitFor(WAIT);

      // A token the server no longer accepts (it restarted with another): signed out, and told why.
      await page.evaluate(() => sessionStorage.setItem('ccb.adminToken', 'an-old-token'));
      await page.goto(`${server.baseUrl}/ui#/messages`);
      await page.reload();
      await page.getByText('The server refused the admin token').waitFor(WAIT);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('ccb.adminToken')), null);
      assert.deepEqual(elsewhere, []);
      await context.close();
    });
  });

  describe('with the dev profile', () => {
    let server: TestServer;
    const { listen, closeAll: closeListeners } = listenerPool();
    let context: BrowserContext;
    let elsewhere: string[];
    let problems: string[];
    let page: Page;

    before(async () => {
      server = await startTestServer({
        env: { CCB_ALLOWED_PORTS: 'any' },
        flags: { retrySchedule: '100ms,100ms,100ms', attemptTimeout: '2s' },
      });
      ({ context, elsewhere, problems } = await openContext(browser, server));
      page = await context.newPage();
    });
    after(async () => {
      await context.close();
      await server.close();
      await closeListeners();
    });

    it('signs in by itself and lists a registration made through the API, secret shown on request', async () => {
      await page.goto(`${server.baseUrl}/ui#/accounts`);
      await page.getByRole('heading', { name: 'Accounts and registrations' }).waitFor(WAIT);
      await page.getByText('No registration yet.').waitFor(WAIT);

      await registerThroughApi(server, 'DeviceUsage', 'http://127.0.0.1:9/usage', { username: 'u', password: 'p' });
      await page.reload();
      const row = page.locator('tr[data-service="DeviceUsage"]');
      await row.waitFor(WAIT);
      assert.match(await textOf(row), /http:\/\/127\.0\.0\.1:9\/usage/);
      assert.match(await textOf(row.locator('td[data-label="Credentials"]')), /^set$/);

      const stored = await server.ctx.registrations.get(ACCOUNT, 'DeviceUsage');
      assert.ok(!(await page.content()).includes(stored!.signingSecret), 'the secret is shown only on request');
      await row.getByRole('button', { name: /Show signing secret/ }).click();
      await row.getByText(stored!.signingSecret).waitFor(WAIT);

      page.once('dialog', (dialog) => dialog.accept());
      await row.getByRole('button', { name: /Rotate signing secret/ }).click();
      await row.getByText('The previous secret still signs until').waitFor(WAIT);
      const rotated = await server.ctx.registrations.get(ACCOUNT, 'DeviceUsage');
      assert.notEqual(rotated!.signingSecret, stored!.signingSecret);
      await row.getByText(rotated!.signingSecret).waitFor(WAIT);
    });

    it('shows a published message appear and become delivered after a failed first attempt', async () => {
      const listener = await listen((_request, index) =>
        index === 0 ? { status: 503, body: 'warming up' } : { status: 200, body: 'thanks' },
      );
      await registerThroughApi(server, 'CarrierService', listener.url);
      await page.goto(`${server.baseUrl}/ui#/messages?serviceName=CarrierService`);
      await page.getByRole('heading', { name: 'Messages' }).waitFor(WAIT);

      const id = await publish(server, { requestId: 'r-ui-1', status: 'Success' });
      const row = page.locator(`tr[data-message-id="${id}"]`);
      await row.waitFor(WAIT);
      await page.locator(`tr[data-message-id="${id}"][data-status="delivered"]`).waitFor(WAIT);
      assert.equal(await textOf(row.locator('td[data-label="Attempts"]')), '2');

      await row.getByRole('link', { name: id }).click();
      await page.getByRole('heading', { name: `Message ${id}` }).waitFor(WAIT);
      const attempts = page.locator('tr[data-attempt]');
      await attempts.nth(1).waitFor(WAIT);
      assert.equal(await attempts.count(), 2);
      assert.equal(await textOf(attempts.nth(0).locator('[data-testid="attempt-status"]')), '503');
      assert.match(await textOf(attempts.nth(0)), /warming up/);
      assert.equal(await textOf(attempts.nth(1).locator('[data-testid="attempt-status"]')), '200');
      assert.match(await textOf(attempts.nth(1)), /thanks/);
      assert.match(await textOf(page.locator('pre.json')), /"requestId": "r-ui-1"/);
      assert.match(await textOf(page.getByRole('region', { name: 'What we send' })), new RegExp(id));
    });

    it('replays a failed message from its page until it is delivered', async () => {
      const listener = await listen(() => ({ status: 500, body: 'broken' }));
      await registerThroughApi(server, 'CarrierService', listener.url);
      const id = await publish(server, { requestId: 'r-ui-2', status: 'Success' });
      await waitForMessage(server, id, (m) => m.status === 'failed', 10_000);

      await page.goto(`${server.baseUrl}/ui#/messages/${id}`);
      await page.locator('[data-testid="message-status"]').getByText('failed').waitFor(WAIT);
      listener.reply = () => ({ status: 200, body: 'fixed' });
      await page.getByRole('button', { name: 'Replay this message' }).click();
      await page.locator('[data-testid="message-status"]').getByText('delivered').waitFor(WAIT);
      assert.equal(await page.locator('tr[data-attempt]').count(), 5);
      // When and by whom, from the audit log: the dashboard signs in with the admin token.
      const replayed = page.getByTestId('replay-history');
      await replayed.getByRole('listitem').first().waitFor(WAIT);
      assert.equal(await replayed.getByRole('listitem').count(), 1);
      assert.match(await textOf(replayed), /Replayed[\s\S]*ago[\s\S]*by root/);
    });

    it('replays failed messages in bulk by filter and shows the job progress', async () => {
      const listener = await listen(() => ({ status: 500 }));
      await registerThroughApi(server, 'CarrierService', listener.url);
      const carrier = await Promise.all([1, 2, 3].map((n) => publish(server, { requestId: `bulk-${n}` })));
      // No registration for this one: it fails at once and must stay out of the filtered replay.
      const other = await publish(server, { requestId: 'other' }, 'AlertService');
      for (const id of carrier) await waitForMessage(server, id, (m) => m.status === 'failed', 10_000);

      await page.goto(`${server.baseUrl}/ui#/failed`);
      await page.locator(`tr[data-message-id="${other}"]`).waitFor(WAIT);
      await page.getByLabel('Service').selectOption('CarrierService');
      await page.locator(`tr[data-message-id="${carrier[0]}"]`).waitFor(WAIT);
      await page.locator(`tr[data-message-id="${other}"]`).waitFor({ state: 'detached', ...WAIT });

      listener.reply = () => ({ status: 200 });
      page.once('dialog', (dialog) => dialog.accept());
      await page.getByRole('button', { name: 'Replay all failed of service CarrierService' }).click();
      const job = page.locator('[data-testid="replay-job"][data-job-status="done"]');
      await job.waitFor(WAIT);
      assert.match(await textOf(job), /3 of 3 matched messages queued again/);
      for (const id of carrier) await waitForMessage(server, id, (m) => m.status === 'delivered', 10_000);
      await page.getByText('No failed message.').waitFor(WAIT);
      const untouched = await admin<{ status: string }>(server, 'GET', `/messages/${other}`);
      assert.equal(untouched.body.status, 'failed');
    });

    it('says how many messages a bulk replay left alone because they have no listener', async () => {
      const unheard = await Promise.all(
        [1, 2].map((n) => publish(server, { requestId: `unheard-${n}` }, 'PromoChanges')),
      );
      await page.goto(`${server.baseUrl}/ui#/failed`);
      await page.getByLabel('Service').selectOption('PromoChanges');
      await page.locator(`tr[data-message-id="${unheard[0]}"]`).waitFor(WAIT);
      page.once('dialog', (dialog) => dialog.accept());
      await page.getByRole('button', { name: 'Replay all failed of service PromoChanges' }).click();
      await page.locator('[data-testid="replay-job"][data-job-status="done"]').waitFor(WAIT);
      const note = await textOf(page.getByTestId('replay-no-listener'));
      assert.match(
        note.replace(/\s+/g, ' '),
        /^2 messages were left alone: no listener is registered for their account/,
      );
      assert.match(await textOf(page.getByTestId('replay-job')), /0 of 2 matched messages queued again/);
      for (const id of unheard) {
        const { body } = await admin<{ status: string; attempts: number }>(server, 'GET', `/messages/${id}`);
        assert.deepEqual([body.status, body.attempts], ['failed', 0], 'not attempted again');
      }
    });

    it('filters messages by failure reason and time range, and finds one by id or payload field', async () => {
      const account = 'filter-account';
      const gone = await listen(() => ({ status: 410 }));
      await admin(server, 'PUT', `/callbacks/${account}/CarrierService`, { url: gone.url });
      // No registration for AlertService: failed at once (no_registration); the 410 fails with reason gone.
      const lost = await admin<{ messageIds: string[] }>(server, 'POST', '/messages/batch', {
        messages: ['lost-1', 'lost-2', 'find-me'].map((requestId) => ({
          accountName: account,
          serviceName: 'AlertService',
          payload: { requestId },
        })),
      });
      const [lost1, lost2, findMe] = lost.body.messageIds;
      const goneId = (
        await admin<{ messageId: string }>(server, 'POST', '/messages', {
          accountName: account,
          serviceName: 'CarrierService',
          payload: { requestId: 'gone-1' },
        })
      ).body.messageId;
      await waitForMessage(server, goneId, (m) => m.status === 'failed' && m.reason?.startsWith('gone') === true);
      // Waits until the page lists exactly these messages, in this order (or times out).
      const listed = () =>
        page.evaluate(() =>
          [...document.querySelectorAll('tr[data-message-id]')].map((r) => r.getAttribute('data-message-id')),
        );
      const shows = async (expected: string[]) => {
        await page
          .waitForFunction(
            (want) =>
              JSON.stringify(
                [...document.querySelectorAll('tr[data-message-id]')].map((r) => r.getAttribute('data-message-id')),
              ) === JSON.stringify(want),
            expected,
            WAIT,
          )
          .catch(async (error: unknown) => {
            throw new Error(
              `the page at ${page.url()} lists ${JSON.stringify(await listed())}, not ${JSON.stringify(expected)}`,
              { cause: error },
            );
          });
      };

      await page.goto(`${server.baseUrl}/ui#/messages?accountName=${account}`);
      await shows([goneId, findMe, lost2, lost1]);
      await page.getByLabel('Reason').selectOption('no_registration');
      await shows([findMe, lost2, lost1]);
      assert.match(page.url(), /reason=no_registration/, 'the filter is in the address');
      await page.getByLabel('Reason').selectOption('gone');
      await shows([goneId]);
      await page.getByLabel('Reason').selectOption('');
      await page.getByLabel('Created').selectOption('15m');
      await shows([goneId, findMe, lost2, lost1]);
      await page.getByLabel('Created').selectOption('custom');
      await page.getByLabel('From').waitFor(WAIT);
      const tomorrow = new Date(Date.now() + 86_400_000);
      const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
      await page.getByLabel('From').fill(local);
      await page.getByRole('button', { name: 'Apply' }).click();
      await page.getByText('No message matches this filter.').waitFor(WAIT);

      // A new filter in the address builds the form anew: wait for its list before typing into it.
      await page.goto(`${server.baseUrl}/ui#/messages?accountName=${account}`);
      await shows([goneId, findMe, lost2, lost1]);
      await page.getByLabel('Find').fill('requestId=find-me');
      // The page polls while someone types: its next poll re-renders the form, and what was typed stays.
      await page.waitForResponse((r) => r.url().includes('/admin/v1/messages?'), WAIT);
      await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 50))));
      assert.equal(await page.getByLabel('Find').inputValue(), 'requestId=find-me', 'a poll kept the typed search');
      await page.getByRole('button', { name: 'Apply' }).click();
      await shows([findMe]);
      await page.getByLabel('Find').fill(lost1);
      await page.getByLabel('Find').press('Enter');
      await shows([lost1]);
      const before = problems.length;
      await page.getByLabel('Find').fill('find-me');
      await page.getByLabel('Find').press('Enter');
      await page.getByText(/q must be a message id/).waitFor(WAIT);
      // The refused search is the one expected error (the browser logs the 400).
      const logged = problems.splice(before);
      assert.ok(
        logged.every((p) => /400/.test(p)),
        logged.join('; '),
      );

      // The failed page's reason filter is also its bulk replay's.
      await page.goto(`${server.baseUrl}/ui#/failed?accountName=${account}&reason=gone`);
      await shows([goneId]);
      gone.reply = () => ({ status: 200 });
      page.once('dialog', (dialog) => dialog.accept());
      await page.getByRole('button', { name: `Replay all failed of account ${account}, reason gone` }).click();
      await page.locator('[data-testid="replay-job"][data-job-status="done"]').waitFor(WAIT);
      await waitForMessage(server, goneId, (m) => m.status === 'delivered');
      const untouched = await admin<{ status: string }>(server, 'GET', `/messages/${lost1}`);
      assert.equal(untouched.body.status, 'failed', 'a message of another reason stays failed');
      assert.deepEqual(problems, []);
    });

    it('registers, changes, sends a test message to and removes a listener from the accounts page', async () => {
      const account = 'ui-made-account';
      const listener = await listen();
      await page.goto(`${server.baseUrl}/ui#/accounts`);
      await page.getByRole('button', { name: 'Register a listener' }).click();
      const form = page.getByRole('form', { name: 'Register a listener' });
      await form.getByLabel('Account').fill(account);
      await form.getByLabel('Service').selectOption('DeviceUsage');
      await form.getByLabel('Listener URL').fill(`${listener.url}/first`);
      await form.getByLabel('Username').fill('ui-user');
      await form.getByLabel('Password').fill('ui-pass');
      await form.getByRole('button', { name: 'Register' }).click();
      const row = page.locator(`section[aria-labelledby="account-${account}"] tr[data-service="DeviceUsage"]`);
      await row.waitFor(WAIT);
      assert.match(await textOf(row.locator('td[data-label="Credentials"]')), /^set$/);
      const made = await server.ctx.registrations.get(account, 'DeviceUsage');
      assert.deepEqual([made?.url, made?.username, made?.password], [`${listener.url}/first`, 'ui-user', 'ui-pass']);

      await row.getByRole('button', { name: `Change ${account} DeviceUsage` }).click();
      const edit = page.getByRole('form', { name: `Change DeviceUsage of ${account}` });
      await edit.getByLabel('Listener URL').fill(`${listener.url}/second`);
      await edit.getByRole('button', { name: 'Save' }).click();
      await row.getByText(`${listener.url}/second`).waitFor(WAIT);
      const changed = await server.ctx.registrations.get(account, 'DeviceUsage');
      assert.deepEqual([changed?.username, changed?.password], ['ui-user', 'ui-pass'], 'credentials kept');

      await row.getByRole('button', { name: `Send a test message to ${account} DeviceUsage` }).click();
      const note = row.getByTestId('test-message');
      await note.waitFor(WAIT);
      const [delivery] = await listener.waitFor(1);
      assert.equal(delivery.headers['webhook-id'], await note.getByRole('link').textContent());
      assert.equal(delivery.body.username, 'ui-user', 'delivered with the kept credentials');
      await note.getByRole('link').click();
      await page.locator('[data-testid="message-status"]').getByText('delivered').waitFor(WAIT);

      await page.goto(`${server.baseUrl}/ui#/accounts`);
      page.once('dialog', (dialog) => dialog.accept());
      await row.getByRole('button', { name: `Remove ${account} DeviceUsage` }).click();
      await row.waitFor({ state: 'detached', ...WAIT });
      assert.equal(await server.ctx.registrations.get(account, 'DeviceUsage'), null);

      // A bad URL is refused with the server's message, and nothing is registered.
      const before = problems.length;
      await page.getByRole('button', { name: 'Register a listener' }).click();
      await form.getByLabel('Account').fill(account);
      await form.getByLabel('Listener URL').fill('http://169.254.169.254/latest');
      await form.getByRole('button', { name: 'Register' }).click();
      await form.getByRole('alert').waitFor(WAIT);
      assert.match(await textOf(form.getByRole('alert')), /169\.254\.169\.254|address/);
      const logged = problems.splice(before);
      assert.ok(
        logged.every((p) => /400/.test(p)),
        logged.join('; '),
      );
      assert.equal((await server.ctx.registrations.list(account)).length, 0);
      assert.deepEqual(problems, []);
    });

    it('pages through the stream with the API cursors, newest first', async () => {
      // No registration for this service: the messages fail at once, without deliveries.
      const messages = Array.from({ length: 30 }, (_, n) => ({
        accountName: 'paging-account',
        serviceName: 'AlertService',
        payload: { requestId: `page-${n}` },
      }));
      const published = await admin<{ messageIds: string[] }>(server, 'POST', '/messages/batch', { messages });
      const newestFirst = [...published.body.messageIds].reverse();
      await page.goto(`${server.baseUrl}/ui#/messages?accountName=paging-account`);
      const ids = () =>
        page.locator('tr[data-message-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-message-id')));
      await page.locator(`tr[data-message-id="${newestFirst[0]}"]`).waitFor(WAIT);
      assert.deepEqual(await ids(), newestFirst.slice(0, 25));
      await page.getByRole('button', { name: 'Older →' }).click();
      await page.locator(`tr[data-message-id="${newestFirst[25]}"]`).waitFor(WAIT);
      assert.deepEqual(await ids(), newestFirst.slice(25));
      assert.equal(await page.getByRole('button', { name: 'Older →' }).isDisabled(), true);
      await page.getByRole('button', { name: '← Newer' }).click();
      await page.locator(`tr[data-message-id="${newestFirst[0]}"]`).waitFor(WAIT);
    });

    it('charts a non-zero delivery rate during a burst', async () => {
      const listener = await listen();
      await registerThroughApi(server, 'CarrierService', listener.url);
      await page.goto(`${server.baseUrl}/ui#/overview`);
      await page.getByRole('heading', { name: 'Delivery rate' }).waitFor(WAIT);
      await page.locator('.chart canvas').first().waitFor(WAIT);
      const rate = page.getByTestId('delivery-rate');
      await rate.waitFor(WAIT);

      // A burst before each of the page's polls of the history, until the page shows a rate (bounded).
      let seen = false;
      const rateShown = page
        .waitForFunction(
          () => Number.parseFloat(document.querySelector('[data-testid="delivery-rate"]')?.textContent ?? '') > 0,
          undefined,
          { timeout: 20_000 },
        )
        .finally(() => {
          seen = true;
        });
      for (let poll = 0; !seen && poll < 10; poll++) {
        const messages = Array.from({ length: 50 }, (_, n) => ({
          accountName: ACCOUNT,
          serviceName: 'CarrierService',
          payload: { requestId: `burst-${poll}-${n}` },
        }));
        assert.equal((await admin(server, 'POST', '/messages/batch', { messages })).status, 202);
        await Promise.race([page.waitForResponse((r) => isHistory(r.url()), WAIT), rateShown]);
      }
      await rateShown;
      const shown = await textOf(rate);
      assert.ok(Number.parseFloat(shown) > 0, `delivery rate shown: ${shown}`);
      assert.deepEqual(problems, [], 'no script error, no console error (CSP included) on any page so far');
      const chartLabel = await page.getByRole('img', { name: /^Delivery rate:/ }).getAttribute('aria-label');
      assert.doesNotMatch(chartLabel ?? '', /^Delivery rate: 0\.0\/s/);
      assert.deepEqual(elsewhere, []);
    });

    it('fits a phone screen: no sideways scrolling, labelled controls', async () => {
      const phone = await openContext(browser, server, { width: 390, height: 844 });
      const small = await phone.context.newPage();
      const id = await publish(server, { requestId: 'r-phone', status: 'Success' });
      for (const view of ['overview', 'accounts', 'messages', 'failed', `messages/${id}`]) {
        await small.goto(`${server.baseUrl}/ui#/${view}`);
        await small.locator('main h1').waitFor(WAIT);
        await small.waitForLoadState('networkidle');
        const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${view} scrolls sideways by ${overflow}px`);
        const unlabelled = await small.evaluate(() =>
          [...document.querySelectorAll('input, select, button')]
            .filter((el) => {
              const labels = (el as HTMLInputElement).labels;
              return !(labels && labels.length > 0) && !el.getAttribute('aria-label') && !el.textContent?.trim();
            })
            .map((el) => el.outerHTML),
        );
        assert.deepEqual(unlabelled, [], `${view} has unlabelled controls`);
      }
      assert.deepEqual(phone.problems, []);
      await phone.context.close();
    });
  });

  describe("with the platform's listener ports", () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer();
    });
    after(() => server.close());

    it('suggests, on an empty accounts page, a listener URL that the server then accepts', async () => {
      const { context, problems } = await openContext(browser, server);
      const page = await context.newPage();
      await page.goto(`${server.baseUrl}/ui#/accounts`);
      await page.getByText('No registration yet.').waitFor(WAIT);
      const example = (await textOf(page.getByTestId('register-example'))).replace(/\s+/g, ' ').trim();
      const [, account, service, url] =
        /^ccb callbacks register (\S+) (\S+) (http:\/\/127\.0\.0\.1:\d+\/\S*)$/.exec(example) ?? [];
      assert.ok(url, example);
      const { port } = new URL(url);
      assert.match(
        await textOf(page.locator('p', { hasText: 'start a listener' })),
        new RegExp(`ccb listen --port ${port}`),
      );
      await registerThroughApi(server, service, url);
      assert.equal(account, ACCOUNT);
      await page.reload();
      await page.locator(`tr[data-service="${service}"]`).waitFor(WAIT);
      assert.deepEqual(problems, []);
      await context.close();
    });
  });

  describe('screenshot', () => {
    let server: TestServer;
    const listeners: TestListener[] = [];
    before(async () => {
      server = await startTestServer({
        env: { CCB_ALLOWED_PORTS: 'any' },
        // Retries a few seconds apart, so the queue holds messages waiting for their next attempt.
        flags: { retrySchedule: '3s,3s,3s', attemptTimeout: '2s' },
      });
    });
    after(async () => {
      await server.close();
      await Promise.all(listeners.map((l) => l.close()));
    });

    it('writes docs/dashboard.png from a seeded state (CCB_WRITE_SCREENSHOT=1 writes the committed one)', async () => {
      const ok = await startListener(() => ({ status: 200, body: '{"received":true}' }));
      let calls = 0;
      const flaky = await startListener(() => (++calls % 2 === 0 ? { status: 200 } : { status: 503, body: 'busy' }));
      listeners.push(ok, flaky);
      await registerThroughApi(server, 'CarrierService', ok.url);
      await registerThroughApi(server, 'DeviceUsage', flaky.url, { username: 'acme', password: 'pw' });
      await registerThroughApi(server, 'SMSDeliveryConfirmation', ok.url);

      // The hour before: samples kept by the server (as if it had run), with ten minutes when none ran.
      await seedHistory(server, server.ctx.statsHistory.sampleIntervalMs);
      const { context } = await openContext(browser, server, { width: 1280, height: 1000 });
      const page = await context.newPage();
      await page.goto(`${server.baseUrl}/ui#/overview`);
      await page.getByTestId('delivery-rate').waitFor(WAIT);
      // Drawn from before the page was opened, and the time without samples as a gap in both charts.
      await page.locator('[role="img"][data-gaps="1"]').nth(1).waitFor(WAIT);
      // A few rounds of traffic across services, a message without registration, and the chart filling up.
      const sizes = [30, 55, 40, 90, 70, 35, 60];
      for (const [round, size] of sizes.entries()) {
        const messages = ['CarrierService', 'DeviceUsage', 'SMSDeliveryConfirmation'].flatMap((serviceName) =>
          Array.from({ length: size }, (_, n) => ({
            accountName: ACCOUNT,
            serviceName,
            payload: { requestId: `seed-${round}-${n}`, status: 'Success' },
          })),
        );
        assert.equal((await admin(server, 'POST', '/messages/batch', { messages })).status, 202);
        await page.waitForResponse((r) => isHistory(r.url()), WAIT);
      }
      await publish(server, { requestId: 'lost' }, 'AlertService');
      await page.waitForResponse((r) => isHistory(r.url()), WAIT);
      await page.waitForResponse((r) => isHistory(r.url()), WAIT);

      const target = process.env.CCB_WRITE_SCREENSHOT === '1' ? SCREENSHOT : null;
      const dir = mkdtempSync(join(tmpdir(), 'ccb-shot-'));
      const path = target ? target.pathname : join(dir, 'dashboard.png');
      if (target) mkdirSync(new URL('.', target), { recursive: true });
      await page.screenshot({ path, fullPage: true });
      const png = readFileSync(path);
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG file');
      assert.ok(png.length > 20_000, `a real picture, not a blank page (${png.length} bytes)`);
      rmSync(dir, { recursive: true, force: true });
      await context.close();
    });
  });
});
