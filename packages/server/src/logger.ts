import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

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
