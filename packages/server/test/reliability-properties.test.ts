// test tier: full (the reliability suite: npm test and npm run test:reliability)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { adminHeaders, DEV_CREDENTIALS, login, startTestServer, type TestServer } from './helpers.js';

/**
 * Property-based attack on every route of the OpenAPI document (issue 12, the suite): random and
 * hostile bodies, queries, headers and path parameters, sent as raw bytes so nothing is cleaned up on
 * the way. Every answer must be a documented status, an error must be the envelope, nothing may be a
 * 5xx, and a refused request must leave the store as it was.
 */

/** Runs per route; CCB_PROPERTY_RUNS raises it for a longer hunt. */
const RUNS = Number(process.env.CCB_PROPERTY_RUNS ?? 100);
/** The statuses docs/server-and-api.md documents (redirects: `/` to the dashboard or docs). */
const DOCUMENTED = new Set([200, 201, 202, 204, 302, 400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 422, 429, 431]);
/** Tables whose rows a refused request must not change. Sessions, tokens and login counters may. */
const KEPT_TABLES: Record<string, string> = {
  oauth_clients: 'SELECT client_id, name, secret_hash FROM oauth_clients ORDER BY client_id',
  users: 'SELECT username, password_hash, accounts FROM users ORDER BY username',
  registrations: 'SELECT * FROM registrations ORDER BY account_name, service_name',
  messages: 'SELECT * FROM messages ORDER BY id',
  attempts: 'SELECT * FROM attempts ORDER BY message_id, attempt_number',
};

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request as bytes on a fresh connection; the first response is read to the connection's end. */
function rawRequest(port: number, head: string, body: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body])));
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, end).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let rest = Buffer.from(text.slice(end + 4), 'latin1');
      if (headers['content-length']) rest = rest.subarray(0, Number(headers['content-length']));
      resolve({ status, headers, body: rest.toString('utf8') });
    });
  });
}

const HOSTILE = [
  '..',
  '../../etc/passwd',
  '%2e%2e%2f',
  '%00',
  '%zz',
  '%',
  '__proto__',
  'constructor',
  'prototype',
  '\u0000',
  '\u202e',
  '\ud800',
  '😀',
  'a'.repeat(70),
  'a'.repeat(5000),
  DEV_CREDENTIALS.accountName,
  'CarrierService',
  ' ',
  '\t',
  '\r\n',
  '-1',
  '1e400',
  '99999999999999999999',
];

const hostileText = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...HOSTILE),
);

/** Percent-encodes the UTF-8 bytes of any text, lone surrogates included (encodeURIComponent throws on those). */
function percentEncode(text: string): string {
  let encoded = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    encoded += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/** A path segment: percent-encoded, or raw (spaces, `..`, bad escapes and non-ASCII bytes included). */
const pathSegment = fc.oneof(
  hostileText.map(percentEncode),
  hostileText.map((text) => Buffer.from(text, 'utf8').toString('latin1')),
);

/** Field names the routes know, so random values reach validation instead of an unknown-field refusal. */
const FIELDS = [
  'name',
  'url',
  'username',
  'password',
  'accounts',
  'clientId',
  'clientSecret',
  'accountName',
  'serviceName',
  'payload',
  'messages',
  'filter',
  'status',
  'grant_type',
];

const jsonish = fc.oneof(fc.jsonValue({ maxDepth: 3 }), hostileText);

const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value) => Buffer.from(JSON.stringify(value) ?? 'null')),
  fc.dictionary(fc.constantFrom(...FIELDS), jsonish, { maxKeys: 5 }).map((value) => Buffer.from(JSON.stringify(value))),
  fc
    .constantFrom(
      '{"__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '['.repeat(3000),
      `{"payload":${'['.repeat(200)}${']'.repeat(200)}}`,
      '{"payload":{"n":1e400}}',
      '{"accountName":"0000123456-00001","serviceName":"CarrierService","payload":{"n":123456789012345678901234}}',
      '{"url":["https://hooks.example.net/"],"name":"CarrierService"}',
      '',
      'grant_type=client_credentials',
      'null',
    )
    .map((text) => Buffer.from(text)),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
);

const contentType = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset="UTF-16"',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  '*/*',
  'garbage',
  '',
);

const query = fc.dictionary(
  fc.oneof(fc.constantFrom('limit', 'cursor', 'status', 'accountName', 'serviceName', 'stauts'), hostileText),
  hostileText,
  { maxKeys: 3 },
);

/** Header values as bytes on the wire: anything but CR and LF, which would end the header. */
const headerValue = hostileText.map((text) =>
  Buffer.from(text, 'utf8')
    .toString('latin1')
    .replace(/[\r\n]/g, ''),
);

const extraHeaders = fc.dictionary(
  fc.constantFrom('idempotency-key', 'x-forwarded-for', 'accept', 'accept-encoding', 'x-random', 'vz-m2m-token'),
  headerValue,
  { maxKeys: 3 },
);

const auth = fc.constantFrom('valid', 'valid', 'valid', 'none', 'garbage');
const method = (routeMethod: string) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(routeMethod) },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'FOO') },
  );

interface Route {
  method: string;
  path: string;
  security: string[];
}

describe('reliability: hostile input on every route (property-based)', () => {
  let server: TestServer;
  let port: number;
  let db: Database.Database;
  let m2m: Record<string, string>;
  let routes: Route[];
  let tried = 0;
  const statuses = new Map<number, number>();

  before(async () => {
    // No delivery engine: nothing changes the store in the background between two checks.
    server = await startTestServer({ flags: { role: 'api' }, env: { CCB_ALLOWED_PORTS: 'any' } });
    port = Number(new URL(server.baseUrl).port);
    db = new Database(server.dbPath, { readonly: true, fileMustExist: true });
    m2m = (await login(server)).headers;
    const document = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>>;
    };
    routes = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(([name, operation]) => ({
        method: name.toUpperCase(),
        path,
        security: (operation.security ?? []).flatMap((requirement) => Object.keys(requirement)),
      })),
    );
    // Routes the document hides: the dashboard's files, the API reference's, and the root.
    routes.push(
      { method: 'GET', path: '/ui/{file}', security: [] },
      { method: 'GET', path: '/docs/static/{file}', security: [] },
      { method: 'GET', path: '/{anything}', security: [] },
    );
  });
  after(async () => {
    db?.close();
    await server?.close();
    const seen = [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`);
    console.log(`# property tests: ${tried} hostile requests over ${routes.length} routes; answers ${seen.join(' ')}`);
  });

  function fingerprint(): string {
    const hash = createHash('sha256');
    for (const [table, sql] of Object.entries(KEPT_TABLES)) {
      hash.update(table);
      hash.update(JSON.stringify(db.prepare(sql).all()));
    }
    return hash.digest('hex');
  }

  function authHeaders(route: Route, mode: string): Record<string, string> {
    if (mode === 'none') return {};
    if (mode === 'garbage') {
      return { authorization: 'Bearer \u00ff\u00fe garbage', 'vz-m2m-token': '../../x' };
    }
    if (route.security.includes('basicAuth')) {
      const basic = Buffer.from(`${DEV_CREDENTIALS.clientId}:${DEV_CREDENTIALS.clientSecret}`).toString('base64');
      return { authorization: `Basic ${basic}` };
    }
    if (route.security.includes('adminToken')) return { authorization: adminHeaders(server).authorization };
    if (route.security.includes('sessionToken')) {
      return { authorization: m2m.authorization, 'vz-m2m-token': m2m['vz-m2m-token'] };
    }
    if (route.security.includes('bearerAuth')) return { authorization: m2m.authorization };
    return {};
  }

  async function attack(route: Route, runs: number) {
    await fc.assert(
      fc.asyncProperty(
        method(route.method),
        fc.array(pathSegment, { minLength: 3, maxLength: 3 }),
        query,
        auth,
        extraHeaders,
        contentType,
        body,
        async (verb, segments, params, mode, extra, type, payload) => {
          let i = 0;
          const path = route.path.replace(/\{[^}]+\}/g, () => segments[i++ % segments.length] || 'x');
          const search = Object.entries(params)
            .map(([key, value]) => `${percentEncode(key)}=${percentEncode(value)}`)
            .join('&');
          const headers: Record<string, string> = {
            host: `127.0.0.1:${port}`,
            connection: 'close',
            ...extra,
            ...authHeaders(route, mode),
          };
          if (type !== undefined) headers['content-type'] = type;
          const sendsBody = verb !== 'GET' && verb !== 'HEAD';
          if (sendsBody) headers['content-length'] = String(payload.length);
          const head =
            `${verb} ${path}${search ? `?${search}` : ''} HTTP/1.1\r\n` +
            Object.entries(headers)
              .map(([name, value]) => `${name}: ${value}\r\n`)
              .join('') +
            '\r\n';
          const before_ = fingerprint();
          const response = await rawRequest(port, head, sendsBody ? payload : Buffer.alloc(0));
          tried++;
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const what = `${verb} ${path} → ${response.status} ${response.body.slice(0, 300)}`;
          assert.ok(DOCUMENTED.has(response.status), `undocumented status: ${what}`);
          if (response.status >= 400) {
            if (verb !== 'HEAD') {
              assert.match(response.headers['content-type'] ?? '', /^application\/json/, what);
              const envelope = JSON.parse(response.body) as { errorCode?: unknown; errorMessage?: unknown };
              assert.equal(typeof envelope.errorCode, 'string', what);
              assert.match(envelope.errorCode as string, /^(INPUT_INVALID|REQUEST_FAILED)\./, what);
              assert.equal(typeof envelope.errorMessage, 'string', what);
            }
            assert.equal(fingerprint(), before_, `a refused request changed the store: ${what}`);
          }
          if (route.path === '/api/m2m/v1/session/logout' && response.status === 200 && mode === 'valid') {
            m2m = (await login(server)).headers;
          }
        },
      ),
      { numRuns: runs, includeErrorInReport: true },
    );
  }

  it('answers hostile requests to the registration API with documented statuses in the envelope', async () => {
    for (const route of routes.filter(
      (r) => r.path.startsWith('/api/m2m/v1/callbacks') || r.path.endsWith('/logout'),
    )) {
      await attack(route, RUNS);
    }
  });

  it('answers hostile requests to the admin API, operations and static routes likewise', async () => {
    for (const route of routes.filter((r) => !r.path.startsWith('/api/'))) await attack(route, RUNS);
  });

  it('answers hostile token and login requests likewise (fewer runs: each costs a password hash)', async () => {
    for (const route of routes.filter((r) => r.path.endsWith('/oauth2/token') || r.path.endsWith('/login'))) {
      await attack(route, Math.ceil(RUNS / 2));
    }
  });
});
