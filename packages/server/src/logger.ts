import type { FastifyBaseLogger } from 'fastify';
import pino, {
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type LogFn,
  type Logger,
  type LoggerOptions,
} from 'pino';

/**
 * Everything that may hold a secret, wherever it appears in a log line: request headers, bodies,
 * registrations and errors. Values are replaced, never logged.
 */
export const REDACT_PATHS = [
  'authorization',
  'vz-m2m-token',
  'password',
  'clientSecret',
  'client_secret',
  'access_token',
  'accessToken',
  'sessionToken',
  'secret',
  'signingSecret',
  'previousSecret',
  'adminToken',
  'encryptionKey',
  'headers.authorization',
  'headers["vz-m2m-token"]',
  'req.headers.authorization',
  'req.headers["vz-m2m-token"]',
  'req.headers.cookie',
  '*.authorization',
  '*["vz-m2m-token"]',
  '*.password',
  '*.clientSecret',
  '*.client_secret',
  '*.access_token',
  '*.accessToken',
  '*.sessionToken',
  '*.secret',
  '*.signingSecret',
  '*.previousSecret',
  '*.adminToken',
  '*.encryptionKey',
  'config.adminToken',
  'config.encryptionKey',
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}

/** The server's logger: JSON lines on stdout (or the given stream), secrets redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LevelCheck = FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };

/**
 * A request's logger that makes its pino child (whose bindings are redacted and serialised, which
 * costs more than many requests' own work) only when a line is actually written at an enabled level.
 */
export class LazyChildLogger implements FastifyBaseLogger {
  private real: FastifyBaseLogger | null = null;

  constructor(
    private readonly parent: LevelCheck,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): string {
    return this.real?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.materialise().level = level;
  }

  // Prototype methods, not per-instance closures: one of these is made for every request.
  fatal(...args: Parameters<LogFn>): void {
    this.write('fatal', args);
  }
  error(...args: Parameters<LogFn>): void {
    this.write('error', args);
  }
  warn(...args: Parameters<LogFn>): void {
    this.write('warn', args);
  }
  info(...args: Parameters<LogFn>): void {
    this.write('info', args);
  }
  debug(...args: Parameters<LogFn>): void {
    this.write('debug', args);
  }
  trace(...args: Parameters<LogFn>): void {
    this.write('trace', args);
  }
  silent(): void {}

  isLevelEnabled(level: string): boolean {
    return (this.real as LevelCheck | null)?.isLevelEnabled?.(level) ?? this.parent.isLevelEnabled?.(level) ?? true;
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.materialise().child(bindings, options);
  }

  private materialise(): FastifyBaseLogger {
    this.real ??= this.parent.child(this.bindings, this.options);
    return this.real;
  }

  private write(level: Level, args: unknown[]): void {
    if (this.real === null && this.parent.isLevelEnabled?.(level) === false) return;
    (this.materialise()[level] as (...a: unknown[]) => void)(...args);
  }
}
