import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminHeaders, captureLogger, DEV_CREDENTIALS, inject, login, send, startTestServer } from './helpers.js';

describe('logging', () => {
  it('never writes secrets, passwords or tokens to the log', async () => {
    const lines: string[] = [];
    const server = await startTestServer({ logger: captureLogger(lines) });
    const secrets: string[] = [DEV_CREDENTIALS.clientSecret, DEV_CREDENTIALS.password, server.adminToken];
    try {
      const session = await login(server);
      secrets.push(session.accessToken, session.sessionToken);
      secrets.push(Buffer.from(`${DEV_CREDENTIALS.clientId}:${DEV_CREDENTIALS.clientSecret}`).toString('base64'));
      const callbacks = `${server.apiUrl}/m2m/v1/callbacks/${DEV_CREDENTIALS.accountName}`;
      const callbackPassword = 'cb-pass-7Q2xZ';
      secrets.push(callbackPassword);
      await send(callbacks, {
        method: 'POST',
        headers: session.headers,
        body: {
          name: 'CarrierService',
          url: 'https://hooks.example.net/c',
          username: 'acme',
          password: callbackPassword,
        },
      });
      const listed = await send(callbacks, { headers: session.headers });
      assert.equal(listed.body[0].password, callbackPassword);
      await send(callbacks, {
        method: 'POST',
        headers: session.headers,
        body: { name: 'CarrierService', url: 'ftp://x', password: callbackPassword },
      });
      await inject(server, `/api/m2m/v1/session/login`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': 'application/json' },
        body: { username: 'demo', password: 'wrong-password-XYZ' },
      });
      secrets.push('wrong-password-XYZ');
      // A body that fails to parse must not be echoed into the log either.
      await inject(server, `/api/m2m/v1/session/login`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': 'application/json' },
        body: '{"username":"demo","password":"malformed-pw-8',
      });
      secrets.push('malformed-pw-8');
      const created = await inject(server, `/admin/v1/clients`, {
        method: 'POST',
        headers: adminHeaders(server),
        body: { name: 'logging test' },
      });
      secrets.push(created.body.clientSecret);
      await inject(server, `/admin/v1/users`, {
        method: 'POST',
        headers: adminHeaders(server),
        body: { username: 'newbie', password: 'newbie-password-Q', accounts: ['X-1'] },
      });
      secrets.push('newbie-password-Q');
      await inject(server, `/api/m2m/v1/session/logout`, { method: 'POST', headers: session.headers });

      // Code that logs objects holding secrets gets them redacted too.
      server.ctx.logger.info(
        {
          password: 'direct-pw-1',
          registration: { password: 'nested-pw-2', signingSecret: 'whsec_nested3' },
          headers: { authorization: 'Bearer header-4', 'vz-m2m-token': 'session-5' },
          clientSecret: 'client-6',
          access_token: 'token-7',
        },
        'object with secrets',
      );
      secrets.push('direct-pw-1', 'nested-pw-2', 'whsec_nested3', 'header-4', 'session-5', 'client-6', 'token-7');
    } finally {
      await server.close();
    }

    const log = lines.join('');
    assert.ok(
      lines.some((l) => l.includes('request completed')),
      'requests are logged',
    );
    assert.ok(log.includes('object with secrets'));
    assert.ok(log.includes('[redacted]'));
    for (const secret of secrets) {
      assert.ok(!log.includes(secret), `the log contains the secret ${JSON.stringify(secret)}`);
    }
  });

  it('logs one line per request with method, url, status and time', async () => {
    const lines: string[] = [];
    const server = await startTestServer({ logger: captureLogger(lines) });
    try {
      await inject(server, `/healthz`);
    } finally {
      await server.close();
    }
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.url === '/healthz');
    assert.equal(requests.length, 1);
    assert.equal(requests[0].method, 'GET');
    assert.equal(requests[0].statusCode, 200);
    assert.equal(typeof requests[0].ms, 'number');
  });
});
