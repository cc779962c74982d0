import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseRetryAfter, RetryPolicy } from '../src/http/retry-policy.js';
import {
  ApiError,
  Client,
  type ClientOptions,
  ConnectionError,
  FetchHttpClient,
  type HttpClient,
  type RetryOptions,
  TimeoutError,
} from '../src/index.js';
import { CREDENTIALS, closedPort, FakePlatform, reply } from './fake-platform.js';

const ACCOUNT = '0000123456-00001';
const BODY = { name: 'CarrierService', url: 'http://127.0.0.1:9001/hook' };

describe('Client: retries', () => {
  let platform: FakePlatform;
  const makeClient = (retries: RetryOptions = {}, options: Partial<ClientOptions> = {}) =>
    new Client({ baseUrl: platform.baseUrl, ...CREDENTIALS, retries: { initialDelayMs: 1, ...retries }, ...options });

  /** Answers the first `times` callback calls with `status` (and `headers`), then lets the platform answer. */
  const failCallbacks = (times: number, status: number, headers: Record<string, string> = {}) => {
    let failed = 0;
    platform.intercept = (req, res) => {
      if (!req.url.startsWith('/api/m2m/v1/callbacks') || failed >= times) return false;
      failed++;
      reply(res, status, { errorCode: `E${status}`, errorMessage: 'try later' }, headers);
      return true;
    };
  };

  beforeEach(async () => {
    platform = await FakePlatform.start();
  });
  afterEach(() => platform.close());

  it('retries a GET on 503 and returns the eventual success', async () => {
    failCallbacks(2, 503);
    const res = await makeClient().connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.callbackRequests.length, 3);
  });

  it('retries a DELETE on 500, 502 and 504', async () => {
    const client = makeClient({ maxRetries: 3 });
    await client.connectivityCallbacks.registerCallback(ACCOUNT, BODY);
    const statuses = [500, 502, 504];
    platform.intercept = (req, res) => {
      if (req.method !== 'DELETE' || statuses.length === 0) return false;
      reply(res, statuses.shift()!, {});
      return true;
    };
    const res = await client.connectivityCallbacks.deregisterCallback(ACCOUNT, 'CarrierService');

    assert.equal(res.statusCode, 200);
    assert.equal(platform.seen('DELETE', '/m2m/v1/callbacks').length, 4);
  });

  it('caps Retry-After at maxDelayMs', { timeout: 10_000 }, async () => {
    // Uncapped, the retry would wait an hour and the test would time out; the exact wait is checked
    // on a fake clock below (RetryPolicy: caps a Retry-After at maxDelayMs).
    failCallbacks(1, 503, { 'retry-after': '3600' });
    const res = await makeClient({ maxDelayMs: 100 }).connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.callbackRequests.length, 2);
  });

  it('stops after maxRetries and throws the last ApiError', async () => {
    failCallbacks(Number.POSITIVE_INFINITY, 503);
    const error = await makeClient({ maxRetries: 3 })
      .connectivityCallbacks.listRegisteredCallbacks(ACCOUNT)
      .catch((e) => e);

    assert.ok(error instanceof ApiError);
    assert.equal(error.statusCode, 503);
    assert.equal(platform.callbackRequests.length, 4, 'one attempt and three retries');
  });

  it('retries twice by default', async () => {
    failCallbacks(Number.POSITIVE_INFINITY, 503);
    await assert.rejects(makeClient().connectivityCallbacks.listRegisteredCallbacks(ACCOUNT), ApiError);

    assert.equal(platform.callbackRequests.length, 3);
  });

  it('sends once with maxRetries 0', async () => {
    failCallbacks(1, 503);
    await assert.rejects(
      makeClient({ maxRetries: 0 }).connectivityCallbacks.listRegisteredCallbacks(ACCOUNT),
      ApiError,
    );

    assert.equal(platform.callbackRequests.length, 1);
  });

  it('does not retry a POST by default', async () => {
    failCallbacks(1, 503);
    const error = await makeClient()
      .connectivityCallbacks.registerCallback(ACCOUNT, BODY)
      .catch((e) => e);

    assert.ok(error instanceof ApiError);
    assert.equal(error.statusCode, 503);
    assert.equal(platform.callbackRequests.length, 1);
  });

  it('retries a POST when retryPost is set', async () => {
    failCallbacks(1, 503);
    const res = await makeClient({ retryPost: true }).connectivityCallbacks.registerCallback(ACCOUNT, BODY);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.callbackRequests.length, 2);
    assert.equal(platform.callbackRequests[1].body, platform.callbackRequests[0].body);
  });

  it('does not retry statuses outside retryOnStatus', async () => {
    failCallbacks(1, 503);
    await assert.rejects(
      makeClient({ retryOnStatus: [429] }).connectivityCallbacks.listRegisteredCallbacks(ACCOUNT),
      ApiError,
    );

    assert.equal(platform.callbackRequests.length, 1);
  });

  it('never retries a 400', async () => {
    failCallbacks(1, 400);
    await assert.rejects(makeClient().connectivityCallbacks.listRegisteredCallbacks(ACCOUNT), ApiError);

    assert.equal(platform.callbackRequests.length, 1);
  });

  it('retries a GET that timed out', async () => {
    let slow = true;
    platform.intercept = (req) => {
      if (!req.url.startsWith('/api/m2m/v1/callbacks') || !slow) return false;
      // The first call is never answered (its connection is cut when the test ends).
      slow = false;
      return true;
    };
    const res = await makeClient({}, { timeout: 200 }).connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.callbackRequests.length, 2);
  });

  it('does not retry a POST that timed out', async () => {
    // Never answered (the connection is cut when the test ends): the POST can only time out.
    platform.intercept = (req) => req.url.startsWith('/api/m2m/v1/callbacks');
    const error = await makeClient({}, { timeout: 100 })
      .connectivityCallbacks.registerCallback(ACCOUNT, BODY)
      .catch((e) => e);

    assert.ok(error instanceof TimeoutError);
    assert.equal(platform.callbackRequests.length, 1);
  });

  it('retries connection errors, then throws ConnectionError', async () => {
    const port = await closedPort();
    let attempts = 0;
    const fetchClient = new FetchHttpClient();
    const counting: HttpClient = {
      send(request) {
        attempts++;
        return fetchClient.send(request);
      },
    };
    const client = new Client({
      ...CREDENTIALS,
      baseUrl: `http://127.0.0.1:${port}/api`,
      retries: { maxRetries: 2, initialDelayMs: 1 },
      httpClient: counting,
    });
    const error = await client.connectivityCallbacks.listRegisteredCallbacks(ACCOUNT).catch((e) => e);

    assert.ok(error instanceof ConnectionError);
    assert.equal(error.code, 'ECONNREFUSED');
    assert.equal(attempts, 3, 'the token request was tried three times');
  });

  it('retries the token request on 503, as it has no side effect', async () => {
    let failed = false;
    platform.intercept = (req, res) => {
      if (!req.url.endsWith('/oauth2/token') || failed) return false;
      failed = true;
      reply(res, 503, {});
      return true;
    };
    const res = await makeClient().connectivityCallbacks.listRegisteredCallbacks(ACCOUNT);

    assert.equal(res.statusCode, 200);
    assert.equal(platform.tokenRequests.length, 2);
  });
});

describe('RetryPolicy', () => {
  const NOW = Date.parse('2026-01-01T00:00:00Z');
  const SETTINGS = {
    maxRetries: 3,
    initialDelayMs: 100,
    maxDelayMs: 10_000,
    retryOnStatus: [429, 503],
    retryOnTimeout: true,
    retryOnConnectionError: true,
    retryPost: false,
  };
  const REQUEST = { method: 'GET' as const, url: 'http://127.0.0.1:1/x', headers: {}, timeoutMs: 1000 };

  /** A policy on a fake clock that records each wait; `answers` are the statuses (and headers) in turn. */
  function run(answers: Array<[number, Record<string, string>?]>, settings: Partial<typeof SETTINGS> = {}) {
    const waits: number[] = [];
    const policy = new RetryPolicy(
      { ...SETTINGS, ...settings },
      { now: () => NOW, random: () => 0.5, sleep: async (ms) => void waits.push(ms) },
    );
    let sent = 0;
    const done = policy.send(
      REQUEST,
      async () => {
        const [statusCode, headers = {}] = answers[Math.min(sent++, answers.length - 1)];
        return { statusCode, headers, body: '' };
      },
      { idempotent: true },
    );
    return { done, waits, sent: () => sent };
  }

  it('waits the Retry-After seconds of a 429', async () => {
    const { done, waits } = run([[429, { 'retry-after': '1' }], [200]]);
    assert.equal((await done).statusCode, 200);
    assert.deepEqual(waits, [1000]);
  });

  it('caps a Retry-After at maxDelayMs', async () => {
    const { done, waits } = run([[503, { 'retry-after': '3600' }], [200]], { maxDelayMs: 100 });
    assert.equal((await done).statusCode, 200);
    assert.deepEqual(waits, [100]);
  });

  it('waits until a Retry-After HTTP date, measured from now', async () => {
    const { done, waits } = run([[503, { 'retry-after': 'Thu, 01 Jan 2026 00:00:02 GMT' }], [200]]);
    await done;
    assert.deepEqual(waits, [2000]);
  });

  it('backs off exponentially with full jitter, capped at maxDelayMs', async () => {
    const { done, waits, sent } = run([[503]], { maxDelayMs: 300 });
    assert.equal((await done).statusCode, 503);
    assert.equal(sent(), 4, 'one attempt and three retries');
    // random() = 0.5 of min(300, 100 · 2^attempt)
    assert.deepEqual(waits, [50, 100, 150]);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delta-seconds', () => {
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now), 0);
  });

  it('ignores what it cannot read', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('1.5', now), undefined, 'delay-seconds are whole seconds');
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});
