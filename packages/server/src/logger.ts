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
/** What the server's parts log through: pino's object-first calls (a FastifyBaseLogger fits). */
export interface StructuredLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** pino's level check, when the logger has one. */
  isLevelEnabled?(level: string): boolean;
}

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

/**
 * The server's logger, secrets redacted: JSON lines on stdout (or the given stream), or with
 * `format: 'pretty'` short lines for a person at a terminal (see prettyDestination).
 */
export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  if (format === 'json') return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
  return pino(loggerOptions(level), prettyDestination(destination ?? pino.destination(1)));
}

export type LogFormat = 'json' | 'pretty';

/** Log messages that the terminal banner already says, left out of the pretty output. */
const SAID_BY_THE_BANNER = /^Server listening at /;

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** `HH:MM:SS` in local time. */
function clock(time: unknown): string {
  const date = typeof time === 'number' ? new Date(time) : new Date();
  return date.toTimeString().slice(0, 8);
}

/** One pino JSON line as a person reads it; undefined for a line to leave out. */
export function prettyLine(json: string): string | undefined {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const msg = String(entry.msg ?? '');
  if (SAID_BY_THE_BANNER.test(msg)) return undefined;
  const time = clock(entry.time);
  if (msg === 'request completed' || msg === 'request errored') {
    const line = `${time} ${entry.method} ${entry.url} ${entry.statusCode} ${entry.ms} ms`;
    const err = entry.err as { message?: string } | undefined;
    return err?.message ? `${line} (${err.message})` : line;
  }
  if (typeof entry.outcome === 'string' && typeof entry.messageId === 'string') {
    // A delivery attempt (dispatcher): outcome, message, target, answer and time taken.
    const answer = entry.statusCode ?? entry.error ?? 'no answer';
    const tail =
      entry.outcome === 'failed' ? ` (${entry.reason})` : entry.outcome === 'retry' ? ` (retry ${entry.retryIn})` : '';
    return `${time} ${entry.outcome} ${entry.messageId} → ${entry.url} ${answer} ${entry.ms} ms${tail}`;
  }
  const level = Number(entry.level);
  const prefix = level === 30 ? '' : `${(LEVEL_NAMES[level] ?? 'log').toUpperCase()} `;
  const err = entry.err as { message?: string } | undefined;
  return `${time} ${prefix}${msg}${err?.message ? `: ${err.message}` : ''}`;
}

/** A pino destination that writes each line through prettyLine into `out`. */
export function prettyDestination(out: DestinationStream): DestinationStream {
  return {
    write(chunk: string) {
      for (const json of chunk.split('\n')) {
        if (json === '') continue;
        const line = prettyLine(json);
        if (line !== undefined) out.write(`${line}\n`);
      }
    },
  };
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
