import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small stand-in for the platform's token, login and callback endpoints, on 127.0.0.1 and a random
 * port, that records every request. Tests script unusual answers with `intercept`.
 */

export interface SeenRequest {
  method: string;
  /** Path and query exactly as sent (still percent-encoded). */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** Answers the request itself and returns true, or returns false to let the fake platform answer. */
export type Interceptor = (request: SeenRequest, response: ServerResponse) => boolean;

export interface FakePlatformOptions {
  /** `expires_in` of issued access tokens, in seconds. */
  tokenExpiresIn?: number;
}

export const CREDENTIALS = {
  thingspaceOauthCredentials: { oauthClientId: 'test-client', oauthClientSecret: 'test-secret' },
  sessionCredentials: { username: 'alice', password: 'alice-password' },
};

export const STATIC_SESSION_TOKEN = 'static-session-token';

/** An account the fake platform's user may not manage. */
export const UNMANAGED_ACCOUNT = '0000999999-00001';

export function reply(
  response: ServerResponse,
  statusCode: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(statusCode, { 'content-type': 'application/json', ...headers });
  response.end(text);
}

export class FakePlatform {
  readonly requests: SeenRequest[] = [];
  intercept: Interceptor | undefined;
  private readonly tokens = new Set<string>();
  private readonly sessions = new Set<string>([STATIC_SESSION_TOKEN]);
  private readonly registrations = new Map<string, Map<string, Record<string, string>>>();
  private issued = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: FakePlatformOptions,
  ) {}

  static async start(options: FakePlatformOptions = {}): Promise<FakePlatform> {
    const server = createServer();
    const platform = new FakePlatform(server, options);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const seen: SeenRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        platform.requests.push(seen);
        if (!platform.intercept?.(seen, res)) platform.answer(seen, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return platform;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api`;
  }

  /** Requests whose method matches and whose path starts with `pathPrefix` (after `/api`). */
  seen(method: string, pathPrefix: string): SeenRequest[] {
    return this.requests.filter((r) => r.method === method && r.url.startsWith(`/api${pathPrefix}`));
  }

  get tokenRequests(): SeenRequest[] {
    return this.seen('POST', '/ts/v1/oauth2/token');
  }

  get logins(): SeenRequest[] {
    return this.seen('POST', '/m2m/v1/session/login');
  }

  get callbackRequests(): SeenRequest[] {
    return this.requests.filter((r) => r.url.startsWith('/api/m2m/v1/callbacks'));
  }

  /** As if every session had been idle too long. */
  expireSessions(): void {
    for (const s of this.sessions) if (s !== STATIC_SESSION_TOKEN) this.sessions.delete(s);
  }

  /** As if every access token had been revoked. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The fake platform's own answer; an interceptor may call it later to delay it. */
  answer(request: SeenRequest, response: ServerResponse) {
    const path = request.url;
    if (request.method === 'POST' && path === '/api/ts/v1/oauth2/token') return this.issueToken(request, response);
    if (request.method === 'POST' && path === '/api/m2m/v1/session/login') return this.logIn(request, response);
    const match = /^\/api\/m2m\/v1\/callbacks\/([^/]+)(?:\/name\/([^/]+))?$/.exec(path);
    if (!match) return reply(response, 404, { errorCode: 'NOT_FOUND', errorMessage: `No route ${path}` });
    if (!this.tokens.has(bearer(request))) {
      return reply(response, 401, {
        errorCode: 'REQUEST_FAILED.AccessToken.Invalid',
        errorMessage: 'The access token is not valid',
      });
    }
    // The platform answers every M2M-level error with 400, session and account errors included.
    if (!this.sessions.has(String(request.headers['vz-m2m-token']))) {
      return reply(response, 400, {
        errorCode: 'REQUEST_FAILED.SessionToken.Expired',
        errorMessage: 'The session token is invalid or expired',
      });
    }
    const account = decodeURIComponent(match[1]);
    if (account === UNMANAGED_ACCOUNT) {
      return reply(response, 400, {
        errorCode: 'REQUEST_FAILED.AccountName',
        errorMessage: `account ${account} is not managed by user alice`,
      });
    }
    const service = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const registered = this.registrations.get(account) ?? new Map<string, Record<string, string>>();
    this.registrations.set(account, registered);

    if (request.method === 'GET' && service === undefined) {
      // The platform answers an empty body when nothing is registered.
      return registered.size === 0 ? reply(response, 200) : reply(response, 200, [...registered.values()]);
    }
    if (request.method === 'POST' && service === undefined) {
      const body = JSON.parse(request.body || '{}') as Record<string, string>;
      if (!body.name || !body.url) {
        return reply(response, 400, {
          errorCode: 'INPUT_INVALID.RequestUndefined',
          errorMessage: 'name and url are required',
        });
      }
      registered.set(body.name, { accountName: account, serviceName: body.name, ...body });
      return reply(response, 200, { accountName: account, serviceName: body.name });
    }
    if (request.method === 'DELETE' && service !== undefined) {
      if (!registered.delete(service)) {
        return reply(response, 400, {
          errorCode: 'REQUEST_FAILED.RegistrationNotFound',
          errorMessage: `${service} is not registered for ${account}`,
        });
      }
      return reply(response, 200, { accountName: account, serviceName: service });
    }
    return reply(response, 404, { errorCode: 'NOT_FOUND', errorMessage: `No route ${request.method} ${path}` });
  }

  private issueToken(request: SeenRequest, response: ServerResponse) {
    const { oauthClientId, oauthClientSecret } = CREDENTIALS.thingspaceOauthCredentials;
    const expected = `Basic ${Buffer.from(`${oauthClientId}:${oauthClientSecret}`).toString('base64')}`;
    if (request.headers.authorization !== expected) {
      return reply(response, 401, { error: 'invalid_client', error_description: 'Unknown client or wrong secret' });
    }
    if (request.body !== 'grant_type=client_credentials') {
      return reply(response, 400, { error: 'unsupported_grant_type', error_description: 'Use client_credentials' });
    }
    const token = `token-${++this.issued}`;
    this.tokens.add(token);
    reply(response, 200, {
      access_token: token,
      token_type: 'bearer',
      expires_in: this.options.tokenExpiresIn ?? 3600,
      scope: 'm2m',
    });
  }

  private logIn(request: SeenRequest, response: ServerResponse) {
    if (!this.tokens.has(bearer(request))) {
      return reply(response, 401, {
        errorCode: 'REQUEST_FAILED.AccessToken.Invalid',
        errorMessage: 'The access token is not valid',
      });
    }
    const { username, password } = JSON.parse(request.body || '{}') as Record<string, string>;
    if (username !== CREDENTIALS.sessionCredentials.username || password !== CREDENTIALS.sessionCredentials.password) {
      return reply(response, 400, {
        errorCode: 'REQUEST_FAILED.Login.InvalidCredentials',
        errorMessage: 'Wrong username or password',
      });
    }
    const session = `session-${++this.issued}`;
    this.sessions.add(session);
    reply(response, 200, { sessionToken: session, expiresIn: 1200 });
  }
}

function bearer(request: SeenRequest): string {
  return String(request.headers.authorization ?? '').replace(/^Bearer /, '');
}

/** A port on 127.0.0.1 where nothing listens. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
