// test tier: full (drives Chromium)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserMissing, launchChromium } from './browser.js';
import { ACCOUNT, admin, publish, register, startListener, type TestListener } from './delivery-fixtures.js';
import { eventually, startTestServer, type TestServer } from './helpers.js';

const skip = browserMissing() ?? false;
const WAIT = { timeout: 15_000 };
const OPERATOR_SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;

/** The accounts page's delivery settings and health, and the operator events list (docs/delivery-controls.md). */
describe('dashboard: delivery settings, health and operator events', { skip }, () => {
  let browser: Browser;
  let server: TestServer;
  let operator: TestListener;
  let gone: TestListener;
  before(async () => {
    browser = await launchChromium();
    operator = await startListener();
    gone = await startListener(() => ({ status: 410 }));
    server = await startTestServer({
      env: { CCB_OPERATOR_WEBHOOK_URL: operator.url, CCB_OPERATOR_WEBHOOK_SECRET: OPERATOR_SECRET },
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await operator?.close();
    await gone?.close();
  });

  it('shows a registration health, saves its settings through the admin API, refuses a bad one, and lists operator events', async () => {
    await register(server, gone.url, 'CarrierService');
    await publish(server, { requestId: 'g1' }, 'CarrierService');
    await eventually(() => operator.received.length >= 1, { timeout: 10_000, what: 'message.exhausted sent' });

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    context.on('page', (page) => page.on('pageerror', (error) => problems.push(error.message)));
    const page = await context.newPage();
    await page.goto(`${server.baseUrl}/ui#/accounts`);
    const row = page.locator('tr[data-service="CarrierService"]');
    await row.getByRole('button', { name: `Delivery settings and health of ${ACCOUNT} CarrierService` }).click();
    const health = row.getByTestId('health');
    await health.waitFor(WAIT);
    // Health is written once a second: reopen until the failed attempt shows.
    await eventually(
      async () => {
        await row.getByRole('button', { name: /Delivery settings and health/ }).click();
        await row.getByRole('button', { name: /Delivery settings and health/ }).click();
        return /1 failed in a row/.test((await health.textContent()) ?? '');
      },
      { timeout: 10_000, what: 'the failed attempt in the health line' },
    );
    assert.match((await health.textContent()) ?? '', /0% of the last 1 attempts succeeded/);

    const form = row.getByRole('form', { name: `Delivery settings of ${ACCOUNT} CarrierService` });
    await form.getByLabel('FIFO: one message at a time, in publish order').check();
    await form.getByLabel('Rate limit unit').selectOption('perMinute');
    await form.getByLabel('Rate limit', { exact: true }).fill('300');
    await form.getByLabel('Auto-disable a failing listener').check();
    await form.getByLabel('warn after').fill('2h');
    await form.getByLabel('disable after').fill('1h');
    await form.getByRole('button', { name: 'Save settings' }).click();
    await form.getByText('must be shorter than').waitFor(WAIT);
    const path = `/callbacks/${ACCOUNT}/CarrierService/settings`;
    assert.deepEqual((await admin(server, 'GET', path)).body, {
      ordering: 'none',
      rateLimit: null,
      autoDisable: null,
      enabled: true,
    });
    await form.getByLabel('warn after').fill('1h');
    await form.getByLabel('disable after').fill('5d');
    await form.getByRole('button', { name: 'Save settings' }).click();
    await form.getByText('Saved.').waitFor(WAIT);
    assert.deepEqual((await admin(server, 'GET', path)).body, {
      ordering: 'fifo',
      rateLimit: { perMinute: 300 },
      autoDisable: { after: '5d', warnAfter: '1h' },
      enabled: true,
    });

    const events = page.getByRole('region', { name: 'Operator events' });
    await events.locator('li[data-event-type="message.exhausted"]').waitFor(WAIT);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
