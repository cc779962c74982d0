/**
 * All configuration in one typed place: parsed from CLI flags, then environment variables, then
 * defaults (flags > env > defaults), validated once, and passed down. Nothing else reads process.env.
 */

export type Role = 'api' | 'worker' | 'all';

export interface Config {
  dev: boolean;
  host: string;
  port: number;
  /** `sqlite:<path>` or `postgres://…` (DATABASE_URL / --db) */
  databaseUrl: string;
  role: Role;
  /** Bearer token for /admin/v1 (CCB_ADMIN_TOKEN; the dev profile uses `dev-admin-token`). */
  adminToken: string;
  /** 32-byte key for AES-256-GCM of callback passwords and signing secrets (CCB_ENCRYPTION_KEY). */
  encryptionKey: Buffer;
  /** Allowed listener ports; null = any (CCB_ALLOWED_PORTS=any). */
  allowedPorts: Set<number> | null;
  /** Loopback listener URLs allowed (dev profile). */
  allowLoopback: boolean;
  /** Private ranges allowed (CCB_ALLOW_PRIVATE_TARGETS=1). */
  allowPrivateTargets: boolean;
  delivery: DeliveryConfig;
  retention: RetentionConfig;
  logLevel: string;
  bodyLimitBytes: number;
  http: HttpServerConfig;
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
  /** Delays between attempts in ms; attempts allowed = delays + 1. */
  retrySchedule: number[];
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

export interface RetentionConfig {
  deliveredMs: number;
  failedMs: number;
  purgeIntervalMs: number;
}

export const DEFAULT_ALLOWED_PORTS = '80,443,9001-9006,50551-50559,28200-28220';
export const DEFAULT_RETRY_SCHEDULE = '5m,5m,5m';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration like `300ms`, `5s`, `5m`, `2h`, `7d` (a bare number is milliseconds). */
export function parseDuration(text: string, what = 'duration'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new ConfigError(`${what}: "${text}" is not a duration like 300ms, 5s, 5m, 2h or 7d`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']);
}

/** Parses a retry schedule such as `300ms,5s,5m,2h` into delays in ms. */
export function parseRetrySchedule(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new ConfigError(`retry schedule: "${text}" must be comma-separated delays such as 5s,5m,30m,2h`);
  }
  return parts.map((p) => parseDuration(p, 'retry schedule'));
}

/** Parses `80,443,9001-9006` (or `any`) into a set of ports. */
export function parseAllowedPorts(text: string): Set<number> | null {
  if (text.trim().toLowerCase() === 'any') return null;
  const ports = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim())) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    const low = match ? Number(match[1]) : Number.NaN;
    const high = match?.[2] ? Number(match[2]) : low;
    if (!match || low < 1 || high > 65535 || low > high) {
      throw new ConfigError(`allowed ports: "${part}" is not a port or range like 9001-9006 (or use "any")`);
    }
    for (let p = low; p <= high; p++) ports.add(p);
  }
  return ports;
}

/** Flags as given by commander (`ccb serve`); undefined = not given. */
export interface ServeFlags {
  dev?: boolean;
  host?: string;
  port?: string | number;
  db?: string;
  role?: string;
  retrySchedule?: string;
  attemptTimeout?: string;
  concurrency?: string | number;
  originConcurrency?: string | number;
}

function positiveInt(value: string | number, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${what}: "${value}" must be a positive whole number`);
  return n;
}

/**
 * Builds the configuration. `devEncryptionKey` is supplied by the dev profile (generated once and
 * kept beside the database) when CCB_ENCRYPTION_KEY is not set.
 */
export function loadConfig(
  flags: ServeFlags = {},
  env: NodeJS.ProcessEnv = process.env,
  devEncryptionKey?: Buffer,
): Config {
  const dev = flags.dev ?? env.CCB_DEV === '1';
  // Port 0 asks the OS for a free port (tests, several local servers).
  const portText = flags.port ?? env.PORT ?? env.CCB_PORT ?? 8080;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0) throw new ConfigError(`port: "${portText}" must be a whole number`);
  if (port > 65535) throw new ConfigError(`port: ${port} is above 65535`);

  const role = (flags.role ?? env.CCB_ROLE ?? 'all') as Role;
  if (!['api', 'worker', 'all'].includes(role)) throw new ConfigError(`role: "${role}" must be api, worker or all`);

  const adminToken = env.CCB_ADMIN_TOKEN ?? (dev ? 'dev-admin-token' : '');
  if (!adminToken) {
    throw new ConfigError('CCB_ADMIN_TOKEN is not set: the admin API needs a token (or start with --dev)');
  }

  let encryptionKey: Buffer;
  if (env.CCB_ENCRYPTION_KEY) {
    encryptionKey = Buffer.from(
      env.CCB_ENCRYPTION_KEY,
      /^[0-9a-f]{64}$/i.test(env.CCB_ENCRYPTION_KEY) ? 'hex' : 'base64',
    );
    if (encryptionKey.length !== 32) {
      throw new ConfigError('CCB_ENCRYPTION_KEY must be 32 bytes, as 64 hex characters or base64');
    }
  } else if (devEncryptionKey) {
    encryptionKey = devEncryptionKey;
  } else {
    throw new ConfigError(
      'CCB_ENCRYPTION_KEY is not set: give 32 random bytes as hex (openssl rand -hex 32), or start with --dev',
    );
  }

  const retrySchedule = parseRetrySchedule(flags.retrySchedule ?? env.CCB_RETRY_SCHEDULE ?? DEFAULT_RETRY_SCHEDULE);
  const attemptTimeoutMs = parseDuration(flags.attemptTimeout ?? env.CCB_ATTEMPT_TIMEOUT ?? '15s', 'attempt timeout');
  if (attemptTimeoutMs < 1) throw new ConfigError('attempt timeout must be positive');
  // The lease must outlast a whole attempt, or a slow listener could get a second, concurrent delivery.
  const leaseMs = env.CCB_LEASE ? parseDuration(env.CCB_LEASE, 'CCB_LEASE') : attemptTimeoutMs * 2 + 5_000;
  if (leaseMs < attemptTimeoutMs + 1_000) {
    throw new ConfigError(`CCB_LEASE must be at least the attempt timeout plus 1s (${attemptTimeoutMs + 1_000} ms)`);
  }

  const headersTimeoutMs = parseDuration(env.CCB_HEADERS_TIMEOUT ?? '10s', 'CCB_HEADERS_TIMEOUT');
  const requestTimeoutMs = parseDuration(env.CCB_REQUEST_TIMEOUT ?? '30s', 'CCB_REQUEST_TIMEOUT');
  if (headersTimeoutMs < 1 || requestTimeoutMs < headersTimeoutMs) {
    throw new ConfigError('CCB_HEADERS_TIMEOUT must be positive and at most CCB_REQUEST_TIMEOUT');
  }

  return {
    dev,
    host: flags.host ?? env.HOST ?? env.CCB_HOST ?? '127.0.0.1',
    port,
    databaseUrl: flags.db ?? env.DATABASE_URL ?? 'sqlite:./data/ccb.sqlite',
    role,
    adminToken,
    encryptionKey,
    allowedPorts: parseAllowedPorts(env.CCB_ALLOWED_PORTS ?? DEFAULT_ALLOWED_PORTS),
    allowLoopback: dev || env.CCB_ALLOW_LOOPBACK_TARGETS === '1',
    allowPrivateTargets: env.CCB_ALLOW_PRIVATE_TARGETS === '1',
    delivery: {
      retrySchedule,
      attemptTimeoutMs,
      leaseMs,
      concurrency: positiveInt(flags.concurrency ?? env.CCB_CONCURRENCY ?? 256, 'concurrency'),
      originConcurrency: positiveInt(flags.originConcurrency ?? env.CCB_ORIGIN_CONCURRENCY ?? 64, 'origin concurrency'),
      batchSize: positiveInt(env.CCB_BATCH_SIZE ?? 200, 'CCB_BATCH_SIZE'),
      pollIntervalMs: parseDuration(env.CCB_POLL_INTERVAL ?? '1s', 'poll interval'),
    },
    retention: {
      deliveredMs: parseDuration(env.CCB_RETENTION_DELIVERED ?? '7d', 'delivered retention'),
      failedMs: parseDuration(env.CCB_RETENTION_FAILED ?? '30d', 'failed retention'),
      purgeIntervalMs: parseDuration(env.CCB_PURGE_INTERVAL ?? '1h', 'purge interval'),
    },
    logLevel: env.CCB_LOG_LEVEL ?? env.LOG_LEVEL ?? 'info',
    bodyLimitBytes: 1024 * 1024,
    http: {
      headersTimeoutMs,
      requestTimeoutMs,
      keepAliveTimeoutMs: parseDuration(env.CCB_KEEP_ALIVE_TIMEOUT ?? '5s', 'CCB_KEEP_ALIVE_TIMEOUT'),
      maxConnections: positiveInt(env.CCB_MAX_CONNECTIONS ?? 4096, 'CCB_MAX_CONNECTIONS'),
      shutdownGraceMs: parseDuration(env.CCB_SHUTDOWN_GRACE ?? '10s', 'CCB_SHUTDOWN_GRACE'),
    },
  };
}
