import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { FastifyBaseLogger } from 'fastify';
import type { ServeFlags } from '../src/config.js';
import type { AppContext } from '../src/context.js';
import { DEV_CREDENTIALS, resolveConfig } from '../src/dev.js';
import { createLogger } from '../src/logger.js';
import { type RunningServer, startServer } from '../src/server.js';

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** `baseUrl + '/api'`, the SDK's base URL. */
  apiUrl: string;
  adminToken: string;
  ctx: AppContext;
  running: RunningServer;
  dbPath: string;
  dataDir: string;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Environment variables on top of the test defaults (no process.env is read). */
  env?: Record<string, string>;
  /** `ccb serve` flags on top of the test defaults. */
  flags?: ServeFlags;
  /** The dev profile (seeded demo client, user and admin token; loopback listeners). Default true. */
  dev?: boolean;
  /** Receives the server's log (JSON lines, redacted); by default the log is silent unless CCB_TEST_LOG=1. */
  logger?: FastifyBaseLogger;
  clock?: () => number;
  /** Where spans go when tracing is on (OTEL_TRACES_EXPORTER in `env`), e.g. an InMemorySpanExporter. */
  spanExporter?: SpanExporter;
}

/** A real server on a random 127.0.0.1 port with its own temporary database. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dev = options.dev ?? true;
  const dataDir = mkdtempSync(join(tmpdir(), 'ccb-test-'));
  const dbPath = join(dataDir, 'ccb.sqlite');
  const env: Record<string, string> = {
    DATABASE_URL: `sqlite:${dbPath}`,
    CCB_LOG_LEVEL: process.env.CCB_TEST_LOG === '1' ? 'debug' : 'silent',
    CCB_POLL_INTERVAL: '200ms',
    ...(dev
      ? {}
      : { CCB_ADMIN_TOKEN: randomBytes(16).toString('hex'), CCB_ENCRYPTION_KEY: randomBytes(32).toString('hex') }),
    ...options.env,
  };
  const flags: ServeFlags = {
    dev,
    host: '127.0.0.1',
    port: 0,
    retrySchedule: '100ms,200ms,400ms',
    attemptTimeout: '2s',
    ...options.flags,
  };
  const config = resolveConfig(flags, env);
  const logger = options.logger ?? (createLogger(config.logLevel) as FastifyBaseLogger);
  let running: RunningServer;
  try {
    running = await startServer(config, { logger, clock: options.clock, spanExporter: options.spanExporter });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const baseUrl = running.address;
  return {
    baseUrl,
    apiUrl: `${baseUrl}/api`,
    adminToken: config.adminToken,
    ctx: running.ctx,
    running,
    dbPath,
    dataDir,
    async close() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A logger writing JSON lines into `lines` (for asserting what is, and is not, logged). */
export function captureLogger(lines: string[], level = 'debug'): FastifyBaseLogger {
  return createLogger(level, {
    write(line: string) {
      lines.push(line);
    },
  }) as FastifyBaseLogger;
}

export function adminHeaders(server: TestServer): Record<string, string> {
  return { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' };
}

export interface Login {
  accessToken: string;
  sessionToken: string;
  /** Authorization, VZ-M2M-Token and Content-Type, ready for the callback endpoints. */
  headers: Record<string, string>;
}

export async function accessToken(
  server: TestServer,
  clientId: string = DEV_CREDENTIALS.clientId,
  clientSecret: string = DEV_CREDENTIALS.clientSecret,
): Promise<string> {
  const response = await inject<{ access_token: string }>(server, '/api/ts/v1/oauth2/token', {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  if (response.status !== 200) throw new Error(`token request failed: ${response.status} ${response.text}`);
  return response.body.access_token;
}

/** Logs in as a user (the dev user by default) and returns ready-made headers. */
export async function login(
  server: TestServer,
  username: string = DEV_CREDENTIALS.username,
  password: string = DEV_CREDENTIALS.password,
): Promise<Login> {
  const token = await accessToken(server);
  const response = await inject<{ sessionToken: string }>(server, '/api/m2m/v1/session/login', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: { username, password },
  });
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${response.text}`);
  const { sessionToken } = response.body;
  return {
    accessToken: token,
    sessionToken,
    headers: { authorization: `Bearer ${token}`, 'vz-m2m-token': sessionToken, 'content-type': 'application/json' },
  };
}

/** Creates a user through the admin API. */
export async function createUser(server: TestServer, username: string, password: string, accounts: string[]) {
  const response = await inject(server, '/admin/v1/users', {
    method: 'POST',
    headers: adminHeaders(server),
    body: { username, password, accounts },
  });
  if (response.status !== 201 && response.status !== 200) {
    throw new Error(`creating user failed: ${response.status} ${response.text}`);
  }
}

export { DEV_CREDENTIALS };

/**
 * A request to the test server through Fastify's `inject`: the same routes, hooks, validation and
 * errors, without a socket. Use `send` where the socket is the subject (limits, timeouts, keep-alive).
 */
// biome-ignore lint/suspicious/noExplicitAny: tests read response fields without declaring each shape
export async function inject<T = any>(
  server: TestServer,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<JsonResponse<T>> {
  const response = await server.running.app.inject({
    method: (init.method ?? 'GET') as 'GET',
    url: path,
    headers: init.headers,
    payload:
      init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : String(value));
  }
  let body: T;
  try {
    body = JSON.parse(response.body) as T;
  } catch {
    body = undefined as T;
  }
  return { status: response.statusCode, headers, text: response.body, body };
}

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON, or undefined when the body is not JSON. */
  body: T;
}

/** fetch + read the body once; `body` is sent as JSON unless it is already a string. */
// biome-ignore lint/suspicious/noExplicitAny: tests read response fields without declaring each shape
export async function send<T = any>(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<JsonResponse<T>> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: init.headers,
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await response.text();
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    body = undefined as T;
  }
  return { status: response.status, headers: response.headers, text, body };
}

export { eventually } from '../../../test/eventually.js';
