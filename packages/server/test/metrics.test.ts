import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HandBackReasons } from '../src/domain/hand-back.js';
import { Metrics } from '../src/metrics.js';
import { SqliteMessageStore } from '../src/store/sqlite/messages.js';
import type { OpenMessageStats } from '../src/store/types.js';
import { publish } from './delivery-fixtures.js';
import { eventually, send, startTestServer, type TestServer } from './helpers.js';

describe('GET /metrics under concurrent scrapers', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('runs one reading of the open messages for many concurrent scrapes, never the full stats, while publishes go on', async () => {
    // The store's methods are wrapped (and the wrappers kept) on first use: spy on the class before any scrape.
    const messages = SqliteMessageStore.prototype;
    const original = { openStats: messages.openStats, stats: messages.stats, metrics: server.ctx.metrics.registry };
    let openReads = 0;
    let fullReads = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    messages.openStats = async function (this: SqliteMessageStore, now: number): Promise<OpenMessageStats> {
      openReads++;
      await gate;
      return original.openStats.call(this, now);
    };
    messages.stats = async function (this: SqliteMessageStore, now: number) {
      fullReads++;
      return original.stats.call(this, now);
    };
    let scrapesInside = 0;
    const collect = original.metrics.metrics.bind(original.metrics);
    original.metrics.metrics = async () => {
      scrapesInside++;
      return collect();
    };
    const SCRAPERS = 16;
    try {
      const scrapes = Array.from({ length: SCRAPERS }, () => send(`${server.baseUrl}/metrics`));
      await eventually(() => scrapesInside === SCRAPERS && openReads > 0, {
        what: () => `${SCRAPERS} scrapes collecting (${scrapesInside} so far, ${openReads} readings)`,
      });
      // Every scraper is inside the scrape, the reading is held; publishing is not held up by them.
      const published = await Promise.all([1, 2, 3].map((n) => publish(server, { requestId: `during-scrape-${n}` })));
      assert.equal(published.length, 3);

      release();
      const answers = await Promise.all(scrapes);
      for (const answer of answers) assert.equal(answer.status, 200, answer.text);
      const depths = new Set(answers.map((answer) => /^ccb_queue_depth (\d+)/m.exec(answer.text)?.[1]));
      assert.equal(depths.size, 1, 'every scraper got the same reading');
      assert.equal(openReads, 1, 'one reading for all the scrapes');
      assert.equal(fullReads, 0, 'the history is never counted for /metrics');
      assert.doesNotMatch(answers[0].text, /^ccb_messages\{status="delivered"\}/m);
      assert.match(answers[0].text, /^ccb_messages\{status="pending"\} \d+/m);
    } finally {
      release();
      messages.openStats = original.openStats;
      messages.stats = original.stats;
      original.metrics.metrics = collect;
    }
  });
});

describe('GET /metrics with CCB_METRICS_TOKEN', () => {
  let server: TestServer;
  const TOKEN = 'scrape-3f9c1d7a5b';
  before(async () => {
    server = await startTestServer({ env: { CCB_METRICS_TOKEN: TOKEN } });
  });
  after(() => server.close());

  it('refuses a scrape without the token or with another one, in the envelope, and answers the token', async () => {
    const none = await send(`${server.baseUrl}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(none.body.errorCode, 'REQUEST_FAILED.Unauthorized');
    assert.match(none.body.errorMessage, /CCB_METRICS_TOKEN/);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);

    const admin = await send(`${server.baseUrl}/metrics`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    });
    assert.equal(admin.status, 401, 'the admin token is not the metrics token');

    const right = await send(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(right.status, 200);
    assert.match(right.text, /^ccb_queue_depth \d+/m);
    // Health stays open for the load balancer.
    assert.equal((await send(`${server.baseUrl}/healthz`)).status, 200);
  });
});

// The delivery engine's own counters, as a scrape of GET /metrics shows them.
describe('Metrics', () => {
  it('counts hand-backs by reason and the retention purge runs', async () => {
    const metrics = new Metrics();
    metrics.recordHandBack(3, HandBackReasons.originStuck);
    metrics.recordHandBack(2, HandBackReasons.originStuck);
    metrics.recordHandBack(1, HandBackReasons.stopping);
    metrics.recordPurge(120, 0.25);
    metrics.recordPurge(0, 0.5);
    const text = await metrics.registry.metrics();
    assert.match(text, /^ccb_messages_handed_back_total\{reason="origin_stuck"\} 5$/m);
    assert.match(text, /^ccb_messages_handed_back_total\{reason="stopping"\} 1$/m);
    assert.match(text, /^# HELP ccb_messages_handed_back_total .*origin_slow, origin_stuck, lease_short, stopping/m);
    assert.match(text, /^ccb_retention_purge_duration_seconds_count 2$/m);
    assert.match(text, /^ccb_retention_purge_duration_seconds_sum 0\.75$/m);
    assert.match(text, /^ccb_messages_purged_total 120$/m);
  });
});
