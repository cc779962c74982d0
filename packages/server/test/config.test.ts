import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONNECTION_SETTINGS } from '../src/cli/settings.js';
import { loadConfig, SERVE_SETTINGS } from '../src/config.js';
import { ConfigError, formatDuration, parseDuration, readSetting } from '../src/settings.js';

const KEY = 'ab'.repeat(32);
const PRODUCTION = { CCB_ADMIN_TOKEN: 'token', CCB_ENCRYPTION_KEY: KEY };

describe('configuration', () => {
  it('takes the flag over the environment and the environment over the default', () => {
    assert.equal(loadConfig({}, PRODUCTION).port, 8080);
    assert.equal(loadConfig({}, { ...PRODUCTION, PORT: '9000' }).port, 9000);
    assert.equal(loadConfig({}, { ...PRODUCTION, CCB_PORT: '9001' }).port, 9001, 'the second name of a setting');
    assert.equal(loadConfig({ port: '9002' }, { ...PRODUCTION, PORT: '9000' }).port, 9002);
    assert.equal(loadConfig({ port: 0 }, PRODUCTION).port, 0);
  });

  it('uses a retry schedule in seconds in the dev profile and the platform schedule otherwise', () => {
    assert.deepEqual(loadConfig({}, PRODUCTION).delivery.retrySchedule, [300_000, 300_000, 300_000]);
    assert.deepEqual(loadConfig({ dev: true }, {}, Buffer.alloc(32)).delivery.retrySchedule, [5_000, 30_000, 120_000]);
    assert.deepEqual(
      loadConfig({ dev: true }, { CCB_RETRY_SCHEDULE: '1s' }, Buffer.alloc(32)).delivery.retrySchedule,
      [1_000],
      'a given schedule wins over the dev default',
    );
  });

  it('writes durations the way it reads them', () => {
    for (const ms of [0, 1, 1500, 5_000, 300_000, 7_200_000, 86_400_000, 90_061_001]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, formatDuration(ms));
    }
  });

  it('takes an operator webhook URL and its signing secret, off by default, and refuses malformed ones', () => {
    assert.deepEqual(loadConfig({}, PRODUCTION).operatorWebhook, { url: null, secret: null });
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    assert.deepEqual(
      loadConfig(
        {},
        { ...PRODUCTION, CCB_OPERATOR_WEBHOOK_URL: 'https://ops.test/hook', CCB_OPERATOR_WEBHOOK_SECRET: secret },
      ).operatorWebhook,
      { url: 'https://ops.test/hook', secret },
    );
    assert.throws(
      () => loadConfig({}, { ...PRODUCTION, CCB_OPERATOR_WEBHOOK_URL: 'ops.test/hook' }),
      /CCB_OPERATOR_WEBHOOK_URL/,
    );
    assert.throws(
      () => loadConfig({}, { ...PRODUCTION, CCB_OPERATOR_WEBHOOK_URL: 'ftp://ops.test/' }),
      /http or https/,
    );
    assert.throws(
      () => loadConfig({}, { ...PRODUCTION, CCB_OPERATOR_WEBHOOK_SECRET: 'whsec_c2hvcnQ=' }),
      /CCB_OPERATOR_WEBHOOK_SECRET: must be whsec_/,
    );
  });

  it('allows one attempt more than the retry schedule has delays', () => {
    assert.equal(loadConfig({}, PRODUCTION).delivery.maxAttempts, 4);
    assert.equal(loadConfig({ retrySchedule: '1s' }, PRODUCTION).delivery.maxAttempts, 2);
  });

  it('names where a bad value came from', () => {
    assert.throws(() => loadConfig({ attemptTimeout: 'soon' }, PRODUCTION), {
      name: 'ConfigError',
      message: '--attempt-timeout: "soon" is not a duration like 300ms, 5s, 5m, 2h or 7d',
    });
    assert.throws(() => loadConfig({}, { ...PRODUCTION, CCB_CONCURRENCY: '0' }), {
      message: 'CCB_CONCURRENCY: "0" must be a positive whole number',
    });
    assert.throws(() => loadConfig({}, { ...PRODUCTION, CCB_ROLE: 'boss' }), {
      message: 'CCB_ROLE: "boss" must be one of api, worker, all',
    });
    assert.throws(() => loadConfig({}, { ...PRODUCTION, CCB_DEV: 'maybe' }), ConfigError);
  });

  it('requires the admin token and encryption key outside the dev profile', () => {
    assert.throws(() => loadConfig({}, { CCB_ENCRYPTION_KEY: KEY }), /CCB_ADMIN_TOKEN is not set/);
    assert.throws(() => loadConfig({}, { CCB_ADMIN_TOKEN: 'x' }), /CCB_ENCRYPTION_KEY is not set/);
    assert.throws(() => loadConfig({}, { CCB_ADMIN_TOKEN: 'x', CCB_ENCRYPTION_KEY: 'abcd' }), {
      message: 'CCB_ENCRYPTION_KEY: must be 32 bytes, as 64 hex characters or base64',
    });
    const dev = loadConfig({ dev: true }, {}, Buffer.alloc(32, 7));
    assert.equal(dev.adminToken, 'dev-admin-token');
    assert.ok(dev.allowLoopback);
  });

  it('takes a bare file path given as the database for SQLite', () => {
    assert.equal(
      loadConfig({ db: '/var/lib/ccb/ccb.sqlite' }, PRODUCTION).databaseUrl,
      'sqlite:/var/lib/ccb/ccb.sqlite',
    );
    assert.equal(loadConfig({ db: './x.db' }, PRODUCTION).databaseUrl, 'sqlite:./x.db');
    assert.equal(loadConfig({ db: 'postgres://h/db' }, PRODUCTION).databaseUrl, 'postgres://h/db');
    assert.throws(() => loadConfig({ db: 'ccb' }, PRODUCTION), /--db: "ccb" is not a database URL: use sqlite:<path>/);
  });

  it('keeps the lease longer than an attempt', () => {
    assert.equal(loadConfig({ attemptTimeout: '10s' }, PRODUCTION).delivery.leaseMs, 25_000);
    assert.throws(
      () => loadConfig({ attemptTimeout: '10s' }, { ...PRODUCTION, CCB_LEASE: '10s' }),
      /CCB_LEASE must be/,
    );
  });

  it('reads the client settings with the dev profile values as defaults', () => {
    assert.equal(readSetting(CONNECTION_SETTINGS.server, {}, {}), 'http://127.0.0.1:8080');
    assert.equal(readSetting(CONNECTION_SETTINGS.server, {}, { CCB_SERVER: 'http://h:1/' }), 'http://h:1');
    assert.throws(() => readSetting(CONNECTION_SETTINGS.server, { server: 'nope' }, {}), /^ConfigError: --server: /);
  });

  it('declares every setting with a description and, without a flag, at least one environment variable', () => {
    for (const [key, setting] of Object.entries(SERVE_SETTINGS)) {
      assert.ok(setting.description.length > 0, key);
      assert.ok(setting.flag !== undefined || setting.env.length > 0, key);
    }
  });
});
