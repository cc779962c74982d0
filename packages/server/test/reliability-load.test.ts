// test tier: full (the reliability suite: npm test and npm run test:reliability)
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SERVICE_NAMES } from '@ccb/sdk';
import { Agent } from 'undici';
import {
  accessToken,
  adminHeaders,
  DEV_CREDENTIALS,
  type Login,
  login,
  startTestServer,
  type TestServer,
} from './helpers.js';

/** Calls in flight at once (issue 12: 2,000 concurrent mixed API calls). */
const CALLS = 2_000;
const SESSIONS = 8;

interface Call {
  kind: string;
  url: string;
  init: RequestInit;
  service?: string;
  listener?: string;
}

/** The kernel's count of SYN cookies sent for full listen queues (Linux), or null elsewhere. */
function synCookiesSent(): number | null {
  if (!existsSync('/proc/net/netstat')) return null;
  const [names, values] = readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('TcpExt:'))
    .map((line) => line.split(/\s+/));
  const at = names.indexOf('TCPReqQFullDoCookies');
  return at < 0 ? null : Number(values[at]);
}

describe('reliability: 2,000 concurrent mixed API calls', () => {
  let server: TestServer;
  let sessions: Login[];
  // As patient while connecting as while waiting for the answer: 2,000 connections at once overflow
  // the listen backlog, and a loaded machine accepts the rest late (the default connect timeout, 10 s,
  // would fail calls the server answers).
  const patient = new Agent({ connect: { timeout: 120_000 } });

  before(async () => {
    // No delivery engine: the registered URLs are never called, so no traffic leaves 127.0.0.1. The
    // client shares this process, so on a loaded machine a burst's last requests may be written more
    // than the default 10 s after their connection opened: the server allows them as long as the
    // client waits (the HTTP timeouts have tests of their own: reliability-slow-clients).
    server = await startTestServer({
      flags: { role: 'api' },
      env: { CCB_ALLOWED_PORTS: 'any', CCB_HEADERS_TIMEOUT: '120s', CCB_REQUEST_TIMEOUT: '120s' },
    });
    // At once: right passwords sent together all log in (the lockout counts only failures).
    sessions = await Promise.all(Array.from({ length: SESSIONS }, () => login(server)));
  });
  after(async () => {
    await server.close();
    await patient.close();
  });

  function call(i: number): Call {
    const account = DEV_CREDENTIALS.accountName;
    const m2m = sessions[i % SESSIONS].headers;
    const admin = adminHeaders(server);
    const service = SERVICE_NAMES[i % SERVICE_NAMES.length];
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
      case 3: {
        const listener = `https://hooks.example.net/${service}/${i}`;
        return {
          kind: 'register',
          service,
          listener,
          url: `${server.apiUrl}/m2m/v1/callbacks/${account}`,
          init: { method: 'POST', headers: m2m, body: JSON.stringify({ name: service, url: listener }) },
        };
      }
      case 4:
      case 5:
        return { kind: 'list', url: `${server.apiUrl}/m2m/v1/callbacks/${account}`, init: { headers: m2m } };
      case 6:
      case 7:
        return {
          kind: 'publish',
          url: `${server.baseUrl}/admin/v1/messages`,
          init: {
            method: 'POST',
            headers: admin,
            body: JSON.stringify({ accountName: account, serviceName: service, payload: { requestId: `load-${i}` } }),
          },
        };
      case 8:
        return { kind: 'messages', url: `${server.baseUrl}/admin/v1/messages?limit=20`, init: { headers: admin } };
      default:
        return i % 20 === 9
          ? {
              kind: 'token',
              url: `${server.apiUrl}/ts/v1/oauth2/token`,
              init: {
                method: 'POST',
                headers: {
                  authorization: `Basic ${Buffer.from(`${DEV_CREDENTIALS.clientId}:${DEV_CREDENTIALS.clientSecret}`).toString('base64')}`,
                  'content-type': 'application/x-www-form-urlencoded',
                },
                body: 'grant_type=client_credentials',
              },
            }
          : { kind: 'stats', url: `${server.baseUrl}/admin/v1/stats`, init: { headers: admin } };
    }
  }

  it('answers every call without a 5xx and keeps one registration per service', async () => {
    assert.ok(await accessToken(server));
    const cookiesBefore = synCookiesSent();
    const calls = Array.from({ length: CALLS }, (_, i) => call(i));
    const results = await Promise.all(
      calls.map(async (c) => {
        const init = { ...c.init, dispatcher: patient, signal: AbortSignal.timeout(120_000) };
        const response = await fetch(c.url, init as RequestInit).catch((error: Error) => {
          throw new Error(`${c.kind}: ${error.message} (${String((error.cause as Error)?.message ?? error.cause)})`, {
            cause: error,
          });
        });
        return { call: c, status: response.status, text: await response.text() };
      }),
    );

    // The server's listen queue holds the whole burst: the kernel never fell back to SYN cookies (with
    // Node's default backlog of 511 it sent about a thousand here, and a client whose cookie no longer
    // checked out was reset: ECONNRESET).
    if (cookiesBefore !== null) assert.equal(synCookiesSent(), cookiesBefore, 'SYN cookies sent during the burst');
    const failures = results.filter((r) => r.status >= 300);
    assert.deepEqual(
      failures.slice(0, 5).map((r) => `${r.call.kind} ${r.status} ${r.text.slice(0, 200)}`),
      [],
      `${failures.length} of ${CALLS} calls failed`,
    );
    const published = results.filter((r) => r.call.kind === 'publish').map((r) => JSON.parse(r.text).messageId);
    assert.equal(new Set(published).size, published.length, 'every publish got its own message');

    const registrations = await server.ctx.store.registrations.list(DEV_CREDENTIALS.accountName);
    const byService = new Map<string, string[]>();
    for (const registration of registrations) {
      byService.set(registration.serviceName, [...(byService.get(registration.serviceName) ?? []), registration.url]);
    }
    assert.equal(registrations.length, SERVICE_NAMES.length, 'one registration per service');
    for (const service of SERVICE_NAMES) {
      const urls = byService.get(service) ?? [];
      assert.equal(urls.length, 1, service);
      const sent = calls.filter((c) => c.service === service && c.kind === 'register').map((c) => c.listener);
      assert.ok(sent.includes(urls[0]), `${service} is registered with a URL that was sent`);
    }
  });
});
