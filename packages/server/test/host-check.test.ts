import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { hostAllowed, hostNameOf } from '../src/api/host-check.js';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/settings.js';
import { inject, startTestServer, type TestServer } from './helpers.js';

/** A GET over a real socket with the Host header a browser would send for `host`. */
function getWithHost(server: TestServer, path: string, host: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(server.baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Host check', () => {
  describe('in the dev profile', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer();
    });
    after(() => server.close());

    it('refuses a page that rebound its own name to 127.0.0.1: no dev admin token, no admin API', async () => {
      const { port } = new URL(server.baseUrl);
      const profile = await getWithHost(server, '/ui/profile.json', `rebind.attacker.example:${port}`);
      assert.equal(profile.status, 400);
      assert.doesNotMatch(profile.body, /dev-admin-token/);
      const error = JSON.parse(profile.body) as { errorCode: string; errorMessage: string };
      assert.equal(error.errorCode, 'INPUT_INVALID.Request.Host');
      assert.match(error.errorMessage, /localhost, 127\.0\.0\.1, \[::1\] \(CCB_ALLOWED_HOSTS\)/);

      const stats = await inject(server, '/admin/v1/stats', {
        headers: { host: 'rebind.attacker.example', authorization: 'Bearer dev-admin-token' },
      });
      assert.equal(stats.status, 400);
      // A name that only ends like an allowed one is another name.
      assert.equal((await inject(server, '/healthz', { headers: { host: 'evil-localhost' } })).status, 400);
      assert.equal((await inject(server, '/healthz', { headers: { host: '127.0.0.1.nip.io' } })).status, 400);
    });

    it('answers the loopback names, with or without a port, in any case', async () => {
      const { port } = new URL(server.baseUrl);
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LocalHost', 'localhost.']) {
        const profile = await getWithHost(server, '/ui/profile.json', host);
        assert.equal(profile.status, 200, `${host}: ${profile.body}`);
        assert.equal((JSON.parse(profile.body) as { devAdminToken?: string }).devAdminToken, 'dev-admin-token');
      }
    });
  });

  describe('with CCB_ALLOWED_HOSTS', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ dev: false, env: { CCB_ALLOWED_HOSTS: 'ccb.example.com,*.internal.example' } });
    });
    after(() => server.close());

    it('answers the listed names and subdomains of a wildcard, and refuses the rest', async () => {
      const status = async (host: string) => (await inject(server, '/healthz', { headers: { host } })).status;
      assert.equal(await status('ccb.example.com:443'), 200);
      assert.equal(await status('a.internal.example'), 200);
      assert.equal(await status('b.a.internal.example'), 200);
      assert.equal(await status('internal.example'), 400);
      assert.equal(await status('localhost'), 400);
      assert.equal(await status('ccb.example.com.evil.example'), 400);
    });
  });

  it('answers every host name outside the dev profile by default', async () => {
    const server = await startTestServer({ dev: false });
    try {
      assert.equal((await inject(server, '/healthz', { headers: { host: 'anything.example' } })).status, 200);
    } finally {
      await server.close();
    }
  });

  it('reads host names without ports and refuses a list it cannot use', () => {
    assert.equal(hostNameOf('[::1]:8080'), '[::1]');
    assert.equal(hostNameOf('Example.COM.:80'), 'example.com');
    assert.equal(hostAllowed('a.b.example', ['*.b.example']), true);
    assert.equal(hostAllowed('b.example', ['*.b.example']), false);
    const env = { CCB_ADMIN_TOKEN: 't', CCB_ENCRYPTION_KEY: 'a'.repeat(64) };
    assert.deepEqual(loadConfig({}, { ...env, CCB_ALLOWED_HOSTS: 'A.example, localhost' }).allowedHosts, [
      'a.example',
      'localhost',
    ]);
    assert.equal(loadConfig({}, env).allowedHosts, null);
    assert.deepEqual(loadConfig({ dev: true }, env).allowedHosts, ['localhost', '127.0.0.1', '[::1]']);
    assert.throws(() => loadConfig({}, { ...env, CCB_ALLOWED_HOSTS: 'ccb.example.com:8080' }), ConfigError);
    assert.throws(() => loadConfig({}, { ...env, CCB_ALLOWED_HOSTS: ' , ' }), /CCB_ALLOWED_HOSTS/);
  });
});
