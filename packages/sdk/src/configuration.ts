import { optionalNonNegativeNumber, requireNonEmptyString, requirePlainObject } from './arguments.js';
import { ArgumentError } from './errors.js';
import { FetchHttpClient, type HttpClient } from './http/http-client.js';

/** The platform's public environments. */
export const Environment = {
  Production: 'production',
  Staging: 'staging',
} as const;
export type Environment = (typeof Environment)[keyof typeof Environment];

/** Base URL of each environment; operation paths (`/m2m/v1/…`, `/ts/v1/…`) are appended to it. */
export const ENVIRONMENT_BASE_URLS: Readonly<Record<Environment, string>> = {
  production: 'https://thingspace.verizon.com/api',
  staging: 'https://staging.thingspace.verizon.com/api',
};

/** The OAuth 2.0 client (application key and secret) used to obtain the bearer token. */
export interface ThingspaceOauthCredentials {
  oauthClientId: string;
  oauthClientSecret: string;
}

/** The Connectivity Management user the SDK logs in as to obtain a session token (`VZ-M2M-Token`). */
export interface SessionCredentials {
  username: string;
  password: string;
}

/** A session token obtained elsewhere; the SDK sends it as is and never logs in. */
export interface VZM2mTokenCredentials {
  'VZ-M2M-Token': string;
}

export interface RetryOptions {
  /** Retries after the first attempt; 0 turns retrying off. Default 2. */
  maxRetries?: number;
  /** Upper bound of the first backoff; doubled on each retry (full jitter). Default 500 ms. */
  initialDelayMs?: number;
  /** Cap on every wait, backoff and `Retry-After` alike. Default 10 000 ms. */
  maxDelayMs?: number;
  /** Statuses that are retried. Default 408, 429, 500, 502, 503, 504. */
  retryOnStatus?: readonly number[];
  /** Retry when no response arrived (refused, reset, DNS). Default true. */
  retryOnConnectionError?: boolean;
  /** Retry after `timeout` passed. Default true. */
  retryOnTimeout?: boolean;
  /** Retry POST (`registerCallback`) too; safe here because registering again replaces. Default false. */
  retryPost?: boolean;
}

export interface ClientOptions {
  /** Base URL of any server, e.g. `http://127.0.0.1:8080/api`. Give this or `environment`. */
  baseUrl?: string;
  /** One of the platform's environments. Default `Environment.Production` when no `baseUrl` is given. */
  environment?: Environment;
  thingspaceOauthCredentials: ThingspaceOauthCredentials;
  /** Log in with these; or give `vZM2mTokenCredentials`. */
  sessionCredentials?: SessionCredentials;
  vZM2mTokenCredentials?: VZM2mTokenCredentials;
  /** Milliseconds allowed for each HTTP request (each attempt); 0 means no limit. Default 30 000. */
  timeout?: number;
  retries?: RetryOptions;
  /** Replaces the fetch-based HTTP layer. */
  httpClient?: HttpClient;
}

export type RetrySettings = Required<RetryOptions>;

export type SessionSource = { kind: 'login'; credentials: SessionCredentials } | { kind: 'static'; token: string };

/** `ClientOptions` checked and completed with defaults; the rest of the SDK reads only this. */
export interface Configuration {
  baseUrl: string;
  oauth: ThingspaceOauthCredentials;
  session: SessionSource;
  timeoutMs: number;
  retries: RetrySettings;
  httpClient: HttpClient;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

export const DEFAULT_RETRIES: Readonly<RetrySettings> = {
  maxRetries: 2,
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  retryOnStatus: [408, 429, 500, 502, 503, 504],
  retryOnConnectionError: true,
  retryOnTimeout: true,
  retryPost: false,
};

/** Validates the options; throws `ArgumentError` naming the first bad one. */
export function resolveConfiguration(options: ClientOptions): Configuration {
  requirePlainObject(options, 'options');
  return {
    baseUrl: resolveBaseUrl(options),
    oauth: resolveOauth(options.thingspaceOauthCredentials),
    session: resolveSession(options),
    timeoutMs: optionalNonNegativeNumber(options.timeout, 'timeout', DEFAULT_TIMEOUT_MS),
    retries: resolveRetries(options.retries),
    httpClient: options.httpClient ?? new FetchHttpClient(),
  };
}

function resolveBaseUrl({ baseUrl, environment }: ClientOptions): string {
  if (baseUrl !== undefined && environment !== undefined) {
    throw new ArgumentError('baseUrl', 'give either baseUrl or environment, not both');
  }
  if (baseUrl === undefined) {
    const env = environment ?? Environment.Production;
    if (!Object.hasOwn(ENVIRONMENT_BASE_URLS, env)) {
      throw new ArgumentError('environment', `must be one of ${Object.values(Environment).join(', ')}`);
    }
    return ENVIRONMENT_BASE_URLS[env];
  }
  requireNonEmptyString(baseUrl, 'baseUrl');
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ArgumentError('baseUrl', `must be an absolute URL, got ${JSON.stringify(baseUrl)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArgumentError('baseUrl', 'must be an http or https URL');
  }
  return baseUrl.replace(/\/+$/, '');
}

function resolveOauth(value: unknown): ThingspaceOauthCredentials {
  const credentials = requirePlainObject(value, 'thingspaceOauthCredentials');
  return {
    oauthClientId: requireNonEmptyString(credentials.oauthClientId, 'thingspaceOauthCredentials.oauthClientId'),
    oauthClientSecret: requireNonEmptyString(
      credentials.oauthClientSecret,
      'thingspaceOauthCredentials.oauthClientSecret',
    ),
  };
}

function resolveSession({ sessionCredentials, vZM2mTokenCredentials }: ClientOptions): SessionSource {
  if (sessionCredentials !== undefined && vZM2mTokenCredentials !== undefined) {
    throw new ArgumentError('sessionCredentials', 'give either sessionCredentials or vZM2mTokenCredentials, not both');
  }
  if (vZM2mTokenCredentials !== undefined) {
    const credentials = requirePlainObject(vZM2mTokenCredentials, 'vZM2mTokenCredentials');
    return {
      kind: 'static',
      token: requireNonEmptyString(credentials['VZ-M2M-Token'], "vZM2mTokenCredentials['VZ-M2M-Token']"),
    };
  }
  if (sessionCredentials === undefined) {
    throw new ArgumentError('sessionCredentials', 'give sessionCredentials or vZM2mTokenCredentials');
  }
  const credentials = requirePlainObject(sessionCredentials, 'sessionCredentials');
  return {
    kind: 'login',
    credentials: {
      username: requireNonEmptyString(credentials.username, 'sessionCredentials.username'),
      password: requireNonEmptyString(credentials.password, 'sessionCredentials.password'),
    },
  };
}

function resolveRetries(value: unknown): RetrySettings {
  if (value === undefined) return { ...DEFAULT_RETRIES };
  const options = requirePlainObject(value, 'retries') as RetryOptions;
  const retryOnStatus = options.retryOnStatus ?? DEFAULT_RETRIES.retryOnStatus;
  if (!Array.isArray(retryOnStatus) || !retryOnStatus.every((s) => Number.isInteger(s))) {
    throw new ArgumentError('retries.retryOnStatus', 'must be an array of HTTP status codes');
  }
  return {
    maxRetries: optionalNonNegativeNumber(options.maxRetries, 'retries.maxRetries', DEFAULT_RETRIES.maxRetries, {
      integer: true,
    }),
    initialDelayMs: optionalNonNegativeNumber(
      options.initialDelayMs,
      'retries.initialDelayMs',
      DEFAULT_RETRIES.initialDelayMs,
    ),
    maxDelayMs: optionalNonNegativeNumber(options.maxDelayMs, 'retries.maxDelayMs', DEFAULT_RETRIES.maxDelayMs),
    retryOnStatus: [...retryOnStatus],
    retryOnConnectionError: options.retryOnConnectionError ?? DEFAULT_RETRIES.retryOnConnectionError,
    retryOnTimeout: options.retryOnTimeout ?? DEFAULT_RETRIES.retryOnTimeout,
    retryPost: options.retryPost ?? DEFAULT_RETRIES.retryPost,
  };
}
