/**
 * Reliability at the edges (#18 items 2, 9 and 15): a scrape storm on the unauthenticated /metrics
 * while producers publish, a DNS-rebinding Host header against the dev profile on every route, and
 * unknown routes with bodies that are not JSON. Item 3 (strangers cannot lock a client out) is in
 * reliability-auth.test.ts. Counts and order are asserted, never wall-clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes } from '../src/api/errors.js';
import { SqliteMessageStore } from '../src/store/sqlite/messages.js';
import type { OpenMessageStats } from '../src/store/types.js';
import { publish } from './delivery-fixtures.js';
import { eventually, inject, send, startTestServer, type TestServer } from './helpers.js';

describe('reliability at the edges', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('a scrape storm (rounds of 32 concurrent unauthenticated scrapes) reads the open messages once a round while publishes answer 202', async (t) => {
    const ROUNDS = 4;
    const SCRAPERS = 32;
    const PUBLISHES = 5;
    // Spy on the class before the first scrape (the store wraps its methods on first use).
    const messages = SqliteMessageStore.prototype;
    const original = messages.openStats;
    let openReads = 0;
    let lastReadDone = 0;
    let gate: { promise: Promise<void>; release: () => void } = { promise: Promise.resolve(), release: () => {} };
    messages.openStats = async function (this: SqliteMessageStore, now: number): Promise<OpenMessageStats> {
      openReads++;
      await gate.promise;
      const stats = await original.call(this, now);
      lastReadDone = Date.now();
      return stats;
    };
    const collect = server.ctx.metrics.registry.metrics.bind(server.ctx.metrics.registry);
    let scrapesInside = 0;
    server.ctx.metrics.registry.metrics = async () => {
      scrapesInside++;
      return collect();
    };
    let accepted = 0;
    let scrapes = 0;
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        // The reading of the last round is stale (older than the 1 s cache) before the round starts.
        if (lastReadDone > 0) {
          await eventually(() => Date.now() - lastReadDone > 1_000, { what: () => 'the cached reading to go stale' });
        }
        let release: () => void = () => {};
        gate = {
          promise: new Promise<void>((resolve) => {
            release = resolve;
          }),
          release: () => release(),
        };
        const inside = scrapesInside;
        const storm = Array.from({ length: SCRAPERS }, () => send(`${server.baseUrl}/metrics`));
        await eventually(() => scrapesInside - inside === SCRAPERS && openReads === round, {
          what: () => `round ${round}: ${scrapesInside - inside} of ${SCRAPERS} scrapes inside, ${openReads} readings`,
        });
        // Every scraper of the round waits on the one held reading; publishing goes on meanwhile.
        const ids = await Promise.all(
          Array.from({ length: PUBLISHES }, (_, n) => publish(server, { requestId: `storm-${round}-${n}` })),
        );
        accepted += ids.length;
        assert.equal(openReads, round, 'the held reading is still the only one of the round');
        gate.release();
        const answers = await Promise.all(storm);
        scrapes += answers.length;
        for (const answer of answers) assert.equal(answer.status, 200, answer.text);
        const depths = new Set(answers.map((answer) => /^ccb_queue_depth (\d+)/m.exec(answer.text)?.[1]));
        assert.equal(depths.size, 1, `round ${round}: every scraper got the same reading`);
        assert.equal(openReads, round, `round ${round}: one reading for ${SCRAPERS} scrapes`);
      }
      t.diagnostic(
        `scrape storm: ${ROUNDS} rounds × ${SCRAPERS} scrapes = ${scrapes} scrapes, ${openReads} open-message readings; ${accepted} of ${ROUNDS * PUBLISHES} publishes answered 202 while a reading was held`,
      );
      assert.equal(accepted, ROUNDS * PUBLISHES);
    } finally {
      gate.release();
      messages.openStats = original;
      server.ctx.metrics.registry.metrics = collect;
    }
  });

  it('a DNS-rebinding Host header gets 400 on every route of the dev profile, /ui/profile.json included', async (t) => {
    const spec = (await inject(server, '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const operations: { method: string; path: string }[] = [];
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const method of Object.keys(methods)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        operations.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x') });
      }
    }
    for (const path of ['/ui/profile.json', '/ui/', '/openapi.json', '/docs', '/metrics', '/healthz', '/readyz']) {
      operations.push({ method: 'GET', path });
    }
    assert.ok(operations.length > 30, `${operations.length} operations`);
    const before = await inject(server, '/admin/v1/stats', { headers: { authorization: 'Bearer dev-admin-token' } });
    assert.equal(before.status, 200, 'the dev admin token works with a loopback Host');
    const refused: string[] = [];
    for (const { method, path } of operations) {
      const answer = await inject(server, path, {
        method,
        headers: {
          host: 'rebind.attacker.example:8080',
          authorization: 'Bearer dev-admin-token',
          'content-type': 'application/json',
        },
        body: method === 'GET' || method === 'DELETE' ? undefined : {},
      });
      assert.equal(answer.status, 400, `${method} ${path}: ${answer.status} ${answer.text.slice(0, 200)}`);
      assert.equal(answer.body?.errorCode, 'INPUT_INVALID.Request.Host', `${method} ${path}`);
      assert.doesNotMatch(answer.text, /dev-admin-token/, `${method} ${path}`);
      refused.push(`${method} ${path}`);
    }
    t.diagnostic(`DNS rebinding: ${refused.length} of ${operations.length} operations refused with 400`);
    assert.equal(refused.length, operations.length);
  });

  it('unknown routes with bodies that are not JSON answer 404, known paths with another method 405 with Allow', async (t) => {
    const bodies: { type: string; body: string }[] = [
      { type: '*/*', body: 'not json at all' },
      { type: '*/*', body: '{"half": ' },
      { type: 'text/plain', body: 'hello' },
      { type: 'application/xml', body: '<a/>' },
      { type: 'application/x-www-form-urlencoded', body: 'a=1&b=2' },
      { type: 'application/octet-stream', body: '\u0000\u0001\u0002' },
      { type: 'application/json', body: '{"broken": ' },
    ];
    let notFound = 0;
    let notAllowed = 0;
    for (const { type, body } of bodies) {
      for (const path of ['/no/such/route', '/admin/v1/no-such-resource', '/api/nope']) {
        const answer = await inject(server, path, { method: 'POST', headers: { 'content-type': type }, body });
        assert.equal(answer.status, 404, `POST ${path} as ${type}: ${answer.status} ${answer.text}`);
        assert.equal(answer.body?.errorCode, ErrorCodes.notFound, answer.text);
        notFound++;
      }
      // /healthz is served for GET only: another method is 405 with Allow, whatever the body.
      const answer = await inject(server, '/healthz', { method: 'POST', headers: { 'content-type': type }, body });
      assert.equal(answer.status, 405, `POST /healthz as ${type}: ${answer.status} ${answer.text}`);
      assert.equal(answer.body?.errorCode, ErrorCodes.methodNotAllowed, answer.text);
      assert.match(answer.headers.get('allow') ?? '', /GET/);
      notAllowed++;
    }
    t.diagnostic(`unknown routes: ${notFound} answered 404, ${notAllowed} answered 405 with Allow, none 400 or 415`);
  });
});
