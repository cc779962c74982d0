import {
  ApiError,
  ArgumentError,
  Client,
  ConnectionError,
  isServiceName,
  SERVICE_NAMES,
  type ServiceName,
  TimeoutError,
} from '@ccb/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEV_CREDENTIALS } from '../dev.js';
import { AdminApi, AdminApiError } from './admin-api.js';

/** Where `npm start` serves. */
export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export function positiveInteger(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1) throw new InvalidArgumentError('expected a whole number above 0.');
  return number;
}

export function serviceName(value: string): ServiceName {
  if (!isServiceName(value)) {
    throw new InvalidArgumentError(`unknown service; expected one of: ${SERVICE_NAMES.join(', ')}.`);
  }
  return value;
}

/** Everything a client command needs to reach a server: the SDK's credentials and the admin token. */
export interface Connection {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8080; the SDK's base URL is `<server>/api`. */
  server: string;
  clientId: string;
  clientSecret: string;
  /** The user the SDK logs in as (a session user), not a callback's credentials. */
  username: string;
  password: string;
  adminToken: string;
}

const CONNECTION_OPTIONS_HEADING = 'Connection options (flag, else environment variable, else the dev profile value):';

function serverUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected an absolute URL such as http://127.0.0.1:8080.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected an http(s) URL.');
  return value.replace(/\/+$/, '');
}

/** Commands whose --username/--password are not the login user's. */
const withoutLoginFlags = new WeakSet<Command>();

/**
 * The common options of the client commands (SPEC §9), each with its environment variable and the dev
 * profile's value as default. `loginFlags: false` leaves out `--username`/`--password` for a command
 * that uses those names for something else (`callbacks register`); the login user then comes from
 * CCB_USERNAME/CCB_PASSWORD or the dev profile.
 */
export function addConnectionOptions(command: Command, { loginFlags = true }: { loginFlags?: boolean } = {}): Command {
  if (!loginFlags) withoutLoginFlags.add(command);
  const option = (flags: string, description: string, env: string, defaultValue: string) =>
    new Option(flags, description).env(env).default(defaultValue).helpGroup(CONNECTION_OPTIONS_HEADING);
  command.addOption(
    option('--server <url>', 'server base URL (the SDK uses <url>/api)', 'CCB_SERVER', DEFAULT_SERVER).argParser(
      serverUrl,
    ),
  );
  command.addOption(option('--client-id <id>', 'OAuth client id', 'CCB_CLIENT_ID', DEV_CREDENTIALS.clientId));
  command.addOption(
    option('--client-secret <secret>', 'OAuth client secret', 'CCB_CLIENT_SECRET', DEV_CREDENTIALS.clientSecret),
  );
  if (loginFlags) {
    command.addOption(
      option('--username <user>', 'user to log in as (session user)', 'CCB_USERNAME', DEV_CREDENTIALS.username),
    );
    command.addOption(
      option('--password <password>', "that user's password", 'CCB_PASSWORD', DEV_CREDENTIALS.password),
    );
  }
  command.addOption(
    option('--admin-token <token>', 'admin API bearer token', 'CCB_ADMIN_TOKEN', DEV_CREDENTIALS.adminToken),
  );
  return command;
}

/** The connection of a command given `addConnectionOptions`. */
export function connectionFrom(command: Command, env: NodeJS.ProcessEnv = process.env): Connection {
  const options = command.opts<Record<string, string>>();
  const loginFlags = !withoutLoginFlags.has(command);
  return {
    server: options.server,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    username: loginFlags ? options.username : (env.CCB_USERNAME ?? DEV_CREDENTIALS.username),
    password: loginFlags ? options.password : (env.CCB_PASSWORD ?? DEV_CREDENTIALS.password),
    adminToken: options.adminToken,
  };
}

/** The SDK client for the registration API (`<server>/api`). */
export function sdkClient(connection: Connection): Client {
  return new Client({
    baseUrl: `${connection.server}/api`,
    thingspaceOauthCredentials: { oauthClientId: connection.clientId, oauthClientSecret: connection.clientSecret },
    sessionCredentials: { username: connection.username, password: connection.password },
    // A refused connection from a CLI usually means the server is not running: say so at once.
    retries: { retryOnConnectionError: false },
  });
}

export function adminApi(connection: Connection): AdminApi {
  return new AdminApi(connection.server, connection.adminToken);
}

/**
 * What a person should read about a failed request: the server's errorMessage and errorCode, or why the
 * server could not be reached. Undefined for anything else (a bug, which keeps its stack trace).
 */
export function describeError(error: unknown, server: string): string | undefined {
  if (error instanceof ApiError) {
    if (error.errorMessage === undefined) return error.message;
    // The SDK names the step that failed before a call ("Session login failed: HTTP 401 …").
    const step = /^(.+?): HTTP \d+/.exec(error.message)?.[1];
    const code = error.errorCode ? ` (${error.errorCode})` : '';
    return `${step ? `${step}: ` : ''}${error.errorMessage}${code}`;
  }
  if (error instanceof TimeoutError) return `${server} did not answer in time: ${error.message}`;
  if (error instanceof ConnectionError) return `Cannot reach ${server}: ${error.code}`;
  if (error instanceof ArgumentError) return `invalid input: ${error.message}`;
  if (error instanceof AdminApiError) return error.message;
  return undefined;
}

/** Ends the command: prints `Error: …` to stderr and exits 1, without a stack trace. */
export function fail(command: Command, message: string): never {
  command.error(`Error: ${message}`, { exitCode: 1, code: 'ccb.failed' });
}

/** Ends the command for a failed request; anything that is not a request failure is rethrown. */
export function failRequest(command: Command, error: unknown, server: string): never {
  const message = describeError(error, server);
  if (message === undefined) throw error;
  fail(command, message);
}

/** Writes command output where the program's output is configured to go (stdout unless a test captures it). */
export function print(command: Command, text: string): void {
  const write = command.configureOutput().writeOut ?? ((s: string) => process.stdout.write(s));
  write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Compact JSON on one line, for `--json`. */
export function printJson(command: Command, value: unknown): void {
  print(command, JSON.stringify(value));
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
