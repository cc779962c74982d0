import {
  ConfigError,
  duration,
  type Flags,
  flag,
  oneOf,
  parseWith,
  port,
  positiveDuration,
  positiveInteger,
  readSetting,
  readSettings,
  setting,
  text,
} from './settings.js';

/**
 * The server's configuration in one typed place: `SERVE_SETTINGS` declares every setting of
 * `ccb serve` once (flag, environment variables, default, description, parser; see settings.ts), and
 * `loadConfig` turns them into a `Config`. The CLI's tables are in cli/settings.ts.
 */

export type Role = 'api' | 'worker' | 'all';

/** OpenTelemetry tracing (the standard OTEL_* variables); null in Config when tracing is off. */
export interface TracingConfig {
  exporter: 'otlp' | 'console';
  /** The OTLP/HTTP traces URL; null = the exporter's default (http://localhost:4318/v1/traces). */
  endpoint: string | null;
  serviceName: string;
}

/** An egress proxy every delivery goes through with CONNECT (CCB_EGRESS_PROXY). */
export interface EgressProxyConfig {
  /** `host:port` of the proxy. */
  host: string;
  port: number;
  /** `Proxy-Authorization` value when the URL carries credentials. */
  authorization: string | null;
}

export interface Config {
  dev: boolean;
  host: string;
  port: number;
  /** `sqlite:<path>` or `postgres://…` (DATABASE_URL / --db) */
  databaseUrl: string;
  /** PostgreSQL connections per instance (CCB_DB_POOL_SIZE). */
  databasePoolSize: number;
  /** PostgreSQL: width of the history's time partitions (CCB_PARTITION_INTERVAL). */
  partitionIntervalMs: number;
  /** PostgreSQL: the bounds of every wait on the database, in milliseconds (CCB_DB_*). */
  databaseTimeouts: {
    connectTimeoutMs: number;
    statementTimeoutMs: number;
    idleInTransactionTimeoutMs: number;
    keepAliveDelayMs: number;
  };
  role: Role;
  /** Bearer token for /admin/v1 (CCB_ADMIN_TOKEN; the dev profile uses `dev-admin-token`). */
  adminToken: string;
  /** Bearer token GET /metrics requires; null = /metrics is open (CCB_METRICS_TOKEN). */
  metricsToken: string | null;
  /** 32-byte key for AES-256-GCM of callback passwords and signing secrets (CCB_ENCRYPTION_KEY). */
  encryptionKey: Buffer;
  /** Allowed listener ports; null = any (CCB_ALLOWED_PORTS=any). */
  allowedPorts: Set<number> | null;
  /** Host names the server answers to (Host header); null = any (CCB_ALLOWED_HOSTS). */
  allowedHosts: string[] | null;
  /** Loopback listener URLs allowed (dev profile). */
  allowLoopback: boolean;
  /** Private ranges allowed (CCB_ALLOW_PRIVATE_TARGETS=1). */
  allowPrivateTargets: boolean;
  delivery: DeliveryConfig;
  retention: RetentionConfig;
  statsHistory: StatsHistoryConfig;
  access: AccessConfig;
  logLevel: string;
  /** OpenTelemetry traces; null = off (the default). */
  tracing: TracingConfig | null;
  /** Deliveries go through this HTTP CONNECT proxy; null = directly (the default). */
  egressProxy: EgressProxyConfig | null;
  bodyLimitBytes: number;
  http: HttpServerConfig;
  /** Operator events (SPEC §11); url null = off (CCB_OPERATOR_WEBHOOK_URL, CCB_OPERATOR_WEBHOOK_SECRET). */
  operatorWebhook: { url: string | null; secret: string | null };
}

/** How long the HTTP server waits for clients, and how many it holds at once. */
export interface HttpServerConfig {
  /** Time allowed to receive a request's headers (CCB_HEADERS_TIMEOUT). */
  headersTimeoutMs: number;
  /** Time allowed to receive a whole request, body included (CCB_REQUEST_TIMEOUT); then 408. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long (CCB_KEEP_ALIVE_TIMEOUT). */
  keepAliveTimeoutMs: number;
  /** Open connections at most; further ones are closed at once (CCB_MAX_CONNECTIONS). */
  maxConnections: number;
  /** On SIGTERM, connections still open after this long are cut (CCB_SHUTDOWN_GRACE). */
  shutdownGraceMs: number;
}

export interface DeliveryConfig {
  /** Delays between attempts in ms. */
  retrySchedule: number[];
  /** Attempts a new message is allowed: the first one and one per delay of the schedule. */
  maxAttempts: number;
  attemptTimeoutMs: number;
  /** Claim lease; always longer than the attempt timeout. */
  leaseMs: number;
  concurrency: number;
  originConcurrency: number;
  /** Messages claimed per batch. */
  batchSize: number;
  /** Longest sleep of an idle worker between polls (a publish wakes it at once). */
  pollIntervalMs: number;
}

/** Who may call, from where, and what is recorded (docs/access.md, docs/portal.md). */
export interface AccessConfig {
  /** Audit entries older than this are purged (CCB_AUDIT_RETENTION). */
  auditRetentionMs: number;
  /**
   * Which proxies' X-Forwarded-For is believed for the caller's address (CCB_TRUST_PROXY): false for none,
   * true for any, or a list of addresses and CIDR ranges (Fastify's trustProxy).
   */
  trustProxy: boolean | string[];
  /** The CSP frame-ancestors sources of the portal's pages (CCB_PORTAL_FRAME_ANCESTORS). */
  portalFrameAncestors: string;
  /** The server's public base URL for portal links (CCB_PUBLIC_URL); null: from the request. */
  publicUrl: string | null;
}

export interface RetentionConfig {
  deliveredMs: number;
  failedMs: number;
  purgeIntervalMs: number;
}

/** The dashboard's chart history (stats-history.ts). */
export interface StatsHistoryConfig {
  sampleIntervalMs: number;
  keepMs: number;
}

/** What the dev profile seeds and prints (SPEC §9). Well known on purpose: never use them in production. */
export const DEV_CREDENTIALS = {
  clientId: 'demo-client',
  clientSecret: 'demo-secret',
  username: 'demo',
  password: 'demo-password',
  accountName: '0000123456-00001',
  adminToken: 'dev-admin-token',
} as const;

/**
 * A database URL; a bare file path (`/var/lib/ccb.sqlite`, `./data/x.db`) is taken as SQLite, since
 * that is what a person giving a path means.
 */
function databaseUrl(value: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return value;
  if (/\.(sqlite3?|db)$/i.test(value) || value.startsWith('/') || value.startsWith('.')) return `sqlite:${value}`;
  throw new Error(`"${value}" is not a database URL: use sqlite:<path> (e.g. sqlite:./data/ccb.sqlite)`);
}

function encryptionKey(value: string): Buffer {
  const key = Buffer.from(value, /^[0-9a-f]{64}$/i.test(value) ? 'hex' : 'base64');
  if (key.length !== 32) throw new Error('must be 32 bytes, as 64 hex characters or base64');
  return key;
}

function operatorWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${value}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${value}" must be an http or https URL`);
  return value;
}

function signingSecret(value: string): string {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(value);
  if (!match || Buffer.from(match[1], 'base64').length < 24) {
    throw new Error('must be whsec_ followed by the base64 of at least 24 random bytes');
  }
  return value;
}

function retrySchedule(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new Error(`"${value}" must be comma-separated delays such as 5s,5m,30m,2h`);
  return parts.map(duration);
}

const TRACES_EXPORTERS = ['otlp', 'console', 'none'] as const;

function absoluteHttpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${value}" is not an absolute URL such as http://collector:4318`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${value}" is not an http(s) URL`);
  return value;
}

function egressProxy(value: string): EgressProxyConfig {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${value}" is not a proxy URL such as http://127.0.0.1:4750`);
  }
  if (url.protocol !== 'http:') throw new Error(`"${value}" must be an http:// proxy URL (CONNECT over plain HTTP)`);
  if (url.pathname !== '/' || url.search || url.hash) throw new Error(`"${value}" must be only http://host:port`);
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return {
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: Number(url.port) || 80,
    authorization: user || password ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : null,
  };
}

/** The tracing settings: on when an exporter is named, or an OTLP endpoint is given, unless disabled. */
function tracingFrom(values: {
  otelTracesExporter?: (typeof TRACES_EXPORTERS)[number];
  otelTracesEndpoint?: string;
  otelEndpoint?: string;
  otelServiceName: string;
  otelSdkDisabled: boolean;
}): TracingConfig | null {
  const endpoint =
    values.otelTracesEndpoint ?? (values.otelEndpoint ? `${values.otelEndpoint.replace(/\/+$/, '')}/v1/traces` : null);
  const exporter = values.otelTracesExporter ?? (endpoint ? 'otlp' : 'none');
  if (values.otelSdkDisabled || exporter === 'none') return null;
  return { exporter, endpoint, serviceName: values.otelServiceName };
}

/** The dev profile answers only to these (no DNS-rebinding page can reach it under its own name). */
export const LOOPBACK_HOST_NAMES = 'localhost,127.0.0.1,[::1]';

function allowedHosts(value: string): string[] | null {
  if (value.trim().toLowerCase() === 'any') return null;
  const names = value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (names.length === 0) throw new Error('give host names such as ccb.example.com,localhost (or "any")');
  for (const name of names) {
    if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$|^\[[0-9a-f:.]+\]$/.test(name)) {
      throw new Error(
        `"${name}" is not a host name such as ccb.example.com, *.example.com, 10.0.0.5 or [::1] (no port)`,
      );
    }
  }
  return names;
}

function allowedPorts(value: string): Set<number> | null {
  if (value.trim().toLowerCase() === 'any') return null;
  const ports = new Set<number>();
  for (const part of value.split(',').map((p) => p.trim())) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    const low = match ? Number(match[1]) : Number.NaN;
    const high = match?.[2] ? Number(match[2]) : low;
    if (!match || low < 1 || high > 65535 || low > high) {
      throw new Error(`"${part}" is not a port or range like 9001-9006 (or use "any")`);
    }
    for (let p = low; p <= high; p++) ports.add(p);
  }
  return ports;
}

function trustProxy(value: string): boolean | string[] {
  const given = value.trim().toLowerCase();
  if (['0', 'off', 'false', 'no', ''].includes(given)) return false;
  if (['1', 'on', 'true', 'yes'].includes(given)) return true;
  const entries = value.split(',').map((part) => part.trim());
  for (const entry of entries) {
    if (!/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(entry)) {
      throw new Error(`"${entry}" is not off, on, an address or a CIDR range`);
    }
  }
  return entries;
}

function frameAncestors(value: string): string {
  const sources = value.trim().split(/\s+/);
  for (const source of sources) {
    if (!/^(?:'none'|'self'|https?:\/\/[A-Za-z0-9.*-]+(?::\d+)?|https?:)$/.test(source)) {
      throw new Error(`"${source}" is not a frame-ancestors source such as 'self' or https://app.example.com`);
    }
  }
  if (sources.includes("'none'") && sources.length > 1) throw new Error("'none' cannot be combined with other sources");
  return sources.join(' ');
}

function publicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${value}" is not an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${value}" is not an http(s) URL`);
  return value.replace(/\/+$/, '');
}

/** Parses `80,443,9001-9006` (or `any`) into a set of ports; null = any. */
export function parseAllowedPorts(value: string): Set<number> | null {
  return parseWith(allowedPorts, value, 'allowed ports');
}

export const ROLES = ['api', 'worker', 'all'] as const;
export const PRODUCTION_RETRY_SCHEDULE = '5m,5m,5m';

/** The settings of `ccb serve`, in the order its help lists them. */
export const SERVE_SETTINGS = {
  dev: setting({
    flag: '--dev',
    env: ['CCB_DEV'],
    default: '0',
    description:
      'dev profile: seeds and prints a demo client, user and admin token, keeps a generated key, allows loopback listeners',
    parse: flag,
  }),
  port: setting({
    flag: '--port <port>',
    env: ['PORT', 'CCB_PORT'],
    default: '8080',
    description: 'port to listen on (0 = any free port)',
    parse: port,
  }),
  host: setting({
    flag: '--host <host>',
    env: ['HOST', 'CCB_HOST'],
    default: '127.0.0.1',
    description: 'address to listen on (0.0.0.0 to expose)',
    parse: text,
  }),
  allowedHosts: setting({
    env: ['CCB_ALLOWED_HOSTS'],
    default: 'any',
    devDefault: LOOPBACK_HOST_NAMES,
    description:
      'host names the server answers to in the Host header, comma-separated, *.example.com for subdomains ("any" answers all); others get 400',
    parse: allowedHosts,
  }),
  databaseUrl: setting({
    flag: '--db <url>',
    env: ['DATABASE_URL'],
    default: 'sqlite:./data/ccb.sqlite',
    description:
      'database: sqlite:<path> or postgres://… (docs/scaling-out.md); a bare path ending in .sqlite or .db, or starting with / or ., is taken as SQLite',
    parse: databaseUrl,
  }),
  role: setting({
    flag: '--role <role>',
    env: ['CCB_ROLE'],
    default: 'all',
    choices: ROLES,
    description: 'api serves the HTTP API, worker delivers (and serves health and metrics), all does both',
    parse: oneOf(ROLES),
  }),
  retrySchedule: setting({
    flag: '--retry-schedule <delays>',
    env: ['CCB_RETRY_SCHEDULE'],
    default: PRODUCTION_RETRY_SCHEDULE,
    // Seconds, so a developer sees a retry happen; production keeps the platform's schedule.
    devDefault: '5s,30s,2m',
    description: 'delays between attempts, e.g. 5s,5m,30m,2h',
    parse: retrySchedule,
  }),
  attemptTimeout: setting({
    flag: '--attempt-timeout <duration>',
    env: ['CCB_ATTEMPT_TIMEOUT'],
    default: '15s',
    description: 'time allowed for one delivery attempt',
    parse: positiveDuration,
  }),
  concurrency: setting({
    flag: '--concurrency <n>',
    env: ['CCB_CONCURRENCY'],
    default: '256',
    description: 'deliveries in flight at once',
    parse: positiveInteger,
  }),
  originConcurrency: setting({
    flag: '--origin-concurrency <n>',
    env: ['CCB_ORIGIN_CONCURRENCY'],
    default: '64',
    description: 'deliveries in flight per listener origin',
    parse: positiveInteger,
  }),
  adminToken: setting({
    env: ['CCB_ADMIN_TOKEN'],
    devDefault: DEV_CREDENTIALS.adminToken,
    defaultText: `required; ${DEV_CREDENTIALS.adminToken} with --dev`,
    description: 'bearer token of /admin/v1: the root key (API keys with scopes come from POST /admin/v1/keys)',
    parse: text,
  }),
  metricsToken: setting({
    env: ['CCB_METRICS_TOKEN'],
    defaultText: 'none: /metrics answers anyone who reaches the port',
    description: 'bearer token GET /metrics requires (Prometheus: authorization.credentials)',
    parse: text,
  }),
  encryptionKey: setting({
    env: ['CCB_ENCRYPTION_KEY'],
    defaultText: 'required; with --dev generated once and kept in <data dir>/encryption.key',
    description: '32 bytes as hex or base64 (openssl rand -hex 32): encrypts callback passwords and signing secrets',
    parse: encryptionKey,
  }),
  allowedPorts: setting({
    env: ['CCB_ALLOWED_PORTS'],
    default: '80,443,9001-9006,50551-50559,28200-28220',
    description: 'listener ports allowed in registered URLs ("any" lifts the rule)',
    parse: allowedPorts,
  }),
  allowPrivateTargets: setting({
    env: ['CCB_ALLOW_PRIVATE_TARGETS'],
    default: '0',
    description: '1 allows private listener addresses (RFC 1918, fc00::/7)',
    parse: flag,
  }),
  allowLoopbackTargets: setting({
    env: ['CCB_ALLOW_LOOPBACK_TARGETS'],
    default: '0',
    devDefault: '1',
    description: '1 allows loopback listener addresses (always on with --dev)',
    parse: flag,
  }),
  lease: setting({
    env: ['CCB_LEASE'],
    defaultText: 'default: 2 × attempt timeout + 5s',
    description: 'how long a worker holds a claimed message; at least the attempt timeout + 1s',
    parse: positiveDuration,
  }),
  databasePoolSize: setting({
    env: ['CCB_DB_POOL_SIZE'],
    default: '10',
    description: 'PostgreSQL connections per instance',
    parse: positiveInteger,
  }),
  partitionInterval: setting({
    env: ['CCB_PARTITION_INTERVAL'],
    default: '1d',
    description:
      'PostgreSQL: width of the time partitions of the message history; retention drops whole partitions, so messages stay up to this much longer than their retention',
    parse: positiveDuration,
  }),
  databaseConnectTimeout: setting({
    env: ['CCB_DB_CONNECT_TIMEOUT'],
    default: '5s',
    description:
      'PostgreSQL: how long a request waits for a connection (a free one of the pool, or a new one) before it is answered 503 with Retry-After',
    parse: positiveDuration,
  }),
  databaseStatementTimeout: setting({
    env: ['CCB_DB_STATEMENT_TIMEOUT'],
    default: '10s',
    description:
      'PostgreSQL: the longest a statement runs (statement_timeout); a database that does not answer at all (frozen, cut off) is given up 2s later; either way the request is answered 503 with Retry-After',
    parse: positiveDuration,
  }),
  databaseIdleInTransactionTimeout: setting({
    env: ['CCB_DB_IDLE_IN_TRANSACTION_TIMEOUT'],
    default: '30s',
    description:
      'PostgreSQL: the server ends a session left idle inside a transaction this long (idle_in_transaction_session_timeout), so a stalled instance cannot hold locks',
    parse: positiveDuration,
  }),
  databaseKeepAlive: setting({
    env: ['CCB_DB_KEEPALIVE'],
    default: '10s',
    description:
      'PostgreSQL: TCP keepalive probes start after a connection is idle this long, so a peer that vanished (failover, partition) is noticed',
    parse: positiveDuration,
  }),
  batchSize: setting({
    env: ['CCB_BATCH_SIZE'],
    default: '200',
    description: 'messages a worker claims at once',
    parse: positiveInteger,
  }),
  pollInterval: setting({
    env: ['CCB_POLL_INTERVAL'],
    default: '1s',
    description: 'longest pause of an idle worker between polls (a publish wakes it at once)',
    parse: positiveDuration,
  }),
  retentionDelivered: setting({
    env: ['CCB_RETENTION_DELIVERED'],
    default: '7d',
    description: 'how long delivered messages are kept',
    parse: duration,
  }),
  retentionFailed: setting({
    env: ['CCB_RETENTION_FAILED'],
    default: '30d',
    description: 'how long failed messages are kept',
    parse: duration,
  }),
  statsInterval: setting({
    env: ['CCB_STATS_INTERVAL'],
    default: '10s',
    description: "how often each process stores a sample of the message stats for the dashboard's charts",
    parse: positiveDuration,
  }),
  statsRetention: setting({
    env: ['CCB_STATS_RETENTION'],
    default: '24h',
    description: "how long the dashboard's chart samples are kept",
    parse: positiveDuration,
  }),
  purgeInterval: setting({
    env: ['CCB_PURGE_INTERVAL'],
    default: '1h',
    description: 'how often the retention purge runs',
    parse: positiveDuration,
  }),
  operatorWebhookUrl: setting({
    env: ['CCB_OPERATOR_WEBHOOK_URL'],
    description:
      'where operator events go (registration.failing, registration.disabled, registration.recovered, message.exhausted); off when unset',
    parse: operatorWebhookUrl,
  }),
  operatorWebhookSecret: setting({
    env: ['CCB_OPERATOR_WEBHOOK_SECRET'],
    defaultText: 'default: generated once and kept (GET /admin/v1/operator/webhook shows it)',
    description: 'the signing secret of operator events, whsec_ + base64 of at least 24 bytes',
    parse: signingSecret,
  }),
  auditRetention: setting({
    env: ['CCB_AUDIT_RETENTION'],
    default: '90d',
    description: 'how long audit log entries are kept',
    parse: positiveDuration,
  }),
  trustProxy: setting({
    env: ['CCB_TRUST_PROXY'],
    default: 'off',
    description:
      "whose X-Forwarded-For gives the caller address (throttle, audit log): off, on (any proxy), or the proxies' addresses/CIDRs",
    parse: trustProxy,
  }),
  portalFrameAncestors: setting({
    env: ['CCB_PORTAL_FRAME_ANCESTORS'],
    default: "'none'",
    description: 'CSP frame-ancestors of /portal: the origins that may embed it in an iframe',
    parse: frameAncestors,
  }),
  publicUrl: setting({
    env: ['CCB_PUBLIC_URL'],
    defaultText: 'the scheme and Host of the request',
    description: 'public base URL of this server, for portal links (e.g. https://ccb.example.com)',
    parse: publicUrl,
  }),
  headersTimeout: setting({
    env: ['CCB_HEADERS_TIMEOUT'],
    default: '10s',
    description: "time allowed to receive a request's headers (then 408); at most the request timeout",
    parse: positiveDuration,
  }),
  requestTimeout: setting({
    env: ['CCB_REQUEST_TIMEOUT'],
    default: '30s',
    description: 'time allowed to receive a whole request, body included (then 408)',
    parse: positiveDuration,
  }),
  keepAliveTimeout: setting({
    env: ['CCB_KEEP_ALIVE_TIMEOUT'],
    default: '5s',
    description: 'an idle keep-alive connection is closed after this long',
    parse: duration,
  }),
  maxConnections: setting({
    env: ['CCB_MAX_CONNECTIONS'],
    default: '4096',
    description: 'open connections at most; further ones are closed at once (keep it below ulimit -n)',
    parse: positiveInteger,
  }),
  shutdownGrace: setting({
    env: ['CCB_SHUTDOWN_GRACE'],
    default: '10s',
    description: 'on SIGTERM or SIGINT, connections still open after this long are cut',
    parse: duration,
  }),
  egressProxy: setting({
    env: ['CCB_EGRESS_PROXY'],
    defaultText: 'none: deliveries connect directly',
    description:
      'http://[user:password@]host:port of an HTTP CONNECT proxy (e.g. smokescreen) every delivery goes through; the URL guard still checks each target first',
    parse: egressProxy,
  }),
  otelTracesExporter: setting({
    env: ['OTEL_TRACES_EXPORTER'],
    defaultText: 'none: tracing off (otlp when an OTLP endpoint is set)',
    choices: TRACES_EXPORTERS,
    description: 'OpenTelemetry traces of publishes and attempts: otlp (OTLP/HTTP), console, or none',
    parse: oneOf(TRACES_EXPORTERS),
  }),
  otelTracesEndpoint: setting({
    env: ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
    defaultText: 'from OTEL_EXPORTER_OTLP_ENDPOINT',
    description: 'OTLP/HTTP URL traces are sent to, as is (e.g. http://collector:4318/v1/traces)',
    parse: absoluteHttpUrl,
  }),
  otelEndpoint: setting({
    env: ['OTEL_EXPORTER_OTLP_ENDPOINT'],
    defaultText: 'http://localhost:4318 when tracing is on',
    description: 'OTLP/HTTP base URL; traces go to <url>/v1/traces',
    parse: absoluteHttpUrl,
  }),
  otelServiceName: setting({
    env: ['OTEL_SERVICE_NAME'],
    default: 'ccb',
    description: 'service.name of the spans',
    parse: text,
  }),
  otelSdkDisabled: setting({
    env: ['OTEL_SDK_DISABLED'],
    default: 'false',
    description: 'true turns tracing off whatever the other OTEL_* variables say',
    parse: flag,
  }),
  logLevel: setting({
    env: ['CCB_LOG_LEVEL', 'LOG_LEVEL'],
    default: 'info',
    description: 'log level: silent, fatal, error, warn, info, debug or trace',
    parse: text,
  }),
};

/** `ccb serve`'s flags as commander gives them (see SERVE_SETTINGS); undefined = not given. */
export type ServeFlags = Flags;

/**
 * Builds the configuration. `devEncryptionKey` is supplied by the dev profile (generated once and
 * kept beside the database) when CCB_ENCRYPTION_KEY is not set.
 */
export function loadConfig(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env, devEncryptionKey?: Buffer): Config {
  const dev = readSetting(SERVE_SETTINGS.dev, flags, env);
  const values = readSettings(SERVE_SETTINGS, flags, env, dev);

  const adminToken = values.adminToken;
  if (!adminToken) {
    throw new ConfigError('CCB_ADMIN_TOKEN is not set: the admin API needs a token (or start with --dev)');
  }
  const encryptionKey = values.encryptionKey ?? devEncryptionKey;
  if (!encryptionKey) {
    throw new ConfigError(
      'CCB_ENCRYPTION_KEY is not set: give 32 random bytes as hex (openssl rand -hex 32), or start with --dev',
    );
  }
  const attemptTimeoutMs = values.attemptTimeout;
  // The lease must outlast a whole attempt, or a slow listener could get a second, concurrent delivery.
  const leaseMs = values.lease ?? attemptTimeoutMs * 2 + 5_000;
  if (leaseMs < attemptTimeoutMs + 1_000) {
    throw new ConfigError(`CCB_LEASE must be at least the attempt timeout plus 1s (${attemptTimeoutMs + 1_000} ms)`);
  }

  const headersTimeoutMs = values.headersTimeout;
  const requestTimeoutMs = values.requestTimeout;
  if (requestTimeoutMs < headersTimeoutMs) {
    throw new ConfigError('CCB_HEADERS_TIMEOUT must be positive and at most CCB_REQUEST_TIMEOUT');
  }

  return {
    dev,
    host: values.host,
    port: values.port,
    databaseUrl: values.databaseUrl,
    databasePoolSize: values.databasePoolSize,
    partitionIntervalMs: values.partitionInterval,
    databaseTimeouts: {
      connectTimeoutMs: values.databaseConnectTimeout,
      statementTimeoutMs: values.databaseStatementTimeout,
      idleInTransactionTimeoutMs: values.databaseIdleInTransactionTimeout,
      keepAliveDelayMs: values.databaseKeepAlive,
    },
    role: values.role,
    adminToken,
    metricsToken: values.metricsToken || null,
    encryptionKey,
    allowedPorts: values.allowedPorts,
    allowedHosts: values.allowedHosts,
    allowLoopback: dev || values.allowLoopbackTargets,
    allowPrivateTargets: values.allowPrivateTargets,
    delivery: {
      retrySchedule: values.retrySchedule,
      maxAttempts: values.retrySchedule.length + 1,
      attemptTimeoutMs,
      leaseMs,
      concurrency: values.concurrency,
      originConcurrency: values.originConcurrency,
      batchSize: values.batchSize,
      pollIntervalMs: values.pollInterval,
    },
    retention: {
      deliveredMs: values.retentionDelivered,
      failedMs: values.retentionFailed,
      purgeIntervalMs: values.purgeInterval,
    },
    statsHistory: { sampleIntervalMs: values.statsInterval, keepMs: values.statsRetention },
    access: {
      auditRetentionMs: values.auditRetention,
      trustProxy: values.trustProxy,
      portalFrameAncestors: values.portalFrameAncestors,
      publicUrl: values.publicUrl ?? null,
    },
    logLevel: values.logLevel,
    operatorWebhook: { url: values.operatorWebhookUrl ?? null, secret: values.operatorWebhookSecret ?? null },
    tracing: tracingFrom(values),
    egressProxy: values.egressProxy ?? null,
    bodyLimitBytes: 1024 * 1024,
    http: {
      headersTimeoutMs,
      requestTimeoutMs,
      keepAliveTimeoutMs: values.keepAliveTimeout,
      maxConnections: values.maxConnections,
      shutdownGraceMs: values.shutdownGrace,
    },
  };
}
