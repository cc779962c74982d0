import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MAX_FAILED_ATTEMPTS } from '../src/access/throttle.js';
import { DEV_CREDENTIALS, inject, send, startTestServer, type TestServer } from './helpers.js';
import { postgresForTests } from './postgres.js';
import { twoProcessesOnOneDatabase } from './server-process.js';

const pg = await postgresForTests();

function wrongSecret(forwardedFor?: string) {
  return {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${DEV_CREDENTIALS.clientId}:not-the-secret`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
    },
    body: 'grant_type=client_credentials',
  };
}

describe('the failed-attempt throttle behind a reverse proxy', () => {
  const servers: TestServer[] = [];
  after(() => Promise.all(servers.map((server) => server.close())));

  it('counts per forwarded address only when CCB_TRUST_PROXY names the proxy', async () => {
    const trusting = await startTestServer({ env: { CCB_TRUST_PROXY: '127.0.0.1' } });
    servers.push(trusting);
    const statuses: number[] = [];
    for (let i = 0; i <= MAX_FAILED_ATTEMPTS; i++) {
      statuses.push((await inject(trusting, '/api/ts/v1/oauth2/token', wrongSecret('203.0.113.1'))).status);
    }
    assert.equal(statuses.at(-1), 429, 'the forwarded caller is limited');
    const neighbour = await inject(trusting, '/api/ts/v1/oauth2/token', wrongSecret('203.0.113.2'));
    assert.equal(neighbour.status, 401, 'another caller behind the same proxy is not');
  });

  it('ignores X-Forwarded-For by default (a caller cannot pick a new address per attempt)', async () => {
    const plain = await startTestServer();
    servers.push(plain);
    const statuses: number[] = [];
    for (let i = 0; i <= MAX_FAILED_ATTEMPTS; i++) {
      statuses.push((await inject(plain, '/api/ts/v1/oauth2/token', wrongSecret(`203.0.113.${i + 1}`))).status);
    }
    assert.deepEqual(statuses.slice(MAX_FAILED_ATTEMPTS), [429]);
  });
});

describe('the failed-attempt throttle on two processes sharing one PostgreSQL', { skip: pg.skip }, () => {
  const servers = twoProcessesOnOneDatabase(pg);

  it('allows the documented number of failed attempts per address in all, not per process', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < MAX_FAILED_ATTEMPTS + 4; i++) {
      const server = servers[i % 2];
      const answer = await send(`${server.baseUrl}/api/ts/v1/oauth2/token`, wrongSecret());
      statuses.push(answer.status);
    }
    assert.deepEqual(statuses.slice(0, MAX_FAILED_ATTEMPTS), Array(MAX_FAILED_ATTEMPTS).fill(401));
    assert.deepEqual(statuses.slice(MAX_FAILED_ATTEMPTS), [429, 429, 429, 429]);
  });
});
