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
import {
  flagAttribute,
  readSettings,
  type Setting,
  type Settings,
  type SettingValues,
  settingNotes,
} from '../settings.js';
import { AdminApi, AdminApiError } from './admin-api.js';
import { CONNECTION_SETTINGS } from './settings.js';

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

/** An option declared by a setting of config.ts; its value is read with `settingsOf`. */
export class SettingOption extends Option {
  constructor(readonly setting: Setting<unknown>) {
    super(setting.flag as string, setting.description);
    if (setting.choices) this.choices(setting.choices);
  }
}

/**
 * How every option's help reads, one format for all commands: the description, then in parentheses
 * `required`, the choices, the default and the environment variables that set it.
 */
export function describeOption(option: Option): string {
  const notes: string[] = [];
  if (option.mandatory) notes.push('required');
  if (option.argChoices) notes.push(`one of: ${option.argChoices.join(', ')}`);
  if (option instanceof SettingOption) {
    notes.push(...settingNotes(option.setting));
  } else if (option.defaultValue !== undefined) {
    notes.push(`default: ${option.defaultValueDescription ?? String(option.defaultValue)}`);
  }
  return notes.length > 0 ? `${option.description} (${notes.join('; ')})` : (option.description ?? '');
}

/**
 * The conventions every command shares: one help format (describeOption) and one error prefix
 * (`Error: …`, commander's own messages included). Call it on the program before adding commands,
 * since a command copies these settings when it is created.
 */
export function applyCliConventions(program: Command): Command {
  return program
    .configureHelp({ optionDescription: describeOption })
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'Error: ')) });
}

/** Adds the flags of these settings to a command (under `heading` in its help, when given). */
export function addSettingOptions(command: Command, settings: Setting<unknown>[], heading?: string): Command {
  for (const setting of settings) {
    const option = new SettingOption(setting);
    if (setting.repeatable) option.argParser(collect);
    if (heading) option.helpGroup(heading);
    command.addOption(option);
  }
  return command;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * A table's values for a command: the flags the command declares for it (as SettingOption), else the
 * environment, else the defaults. A setting whose flag the command does not declare (because the name
 * means something else there) comes from the environment or its default.
 */
export function settingsOf<S extends Settings>(command: Command, table: S): SettingValues<S> {
  const declared = new Set<Setting<unknown>>(
    command.options.filter((option) => option instanceof SettingOption).map((option) => option.setting),
  );
  const given = command.opts();
  const flags: Record<string, unknown> = {};
  for (const setting of Object.values(table)) {
    if (setting.flag && declared.has(setting)) {
      const name = flagAttribute(setting.flag);
      flags[name] = given[name];
    }
  }
  return readSettings(table, flags);
}

/** Everything a client command needs to reach a server: the SDK's credentials and the admin token. */
export type Connection = SettingValues<typeof CONNECTION_SETTINGS>;

const CONNECTION_OPTIONS_HEADING = 'Connection options:';

/** Which API a client command calls, and so which connection options it lists. */
export type ConnectionUse = 'admin' | 'registration';

const CONNECTION_OPTIONS: Record<ConnectionUse, Setting<unknown>[]> = {
  admin: [CONNECTION_SETTINGS.server, CONNECTION_SETTINGS.adminToken],
  registration: [
    CONNECTION_SETTINGS.server,
    CONNECTION_SETTINGS.clientId,
    CONNECTION_SETTINGS.clientSecret,
    CONNECTION_SETTINGS.username,
    CONNECTION_SETTINGS.password,
  ],
};

/**
 * The common options of the client commands (SPEC §9) that a command uses: `admin` commands need the
 * server and admin token, `registration` commands the SDK's OAuth client and session user.
 * `loginFlags: false` leaves out `--username`/`--password` for a command that uses those names for
 * something else (`callbacks register`); the login user then comes from CCB_USERNAME/CCB_PASSWORD or
 * the dev profile.
 */
export function addConnectionOptions(
  command: Command,
  { uses, loginFlags = true }: { uses: ConnectionUse; loginFlags?: boolean },
): Command {
  const settings = CONNECTION_OPTIONS[uses].filter(
    (setting) => loginFlags || (setting !== CONNECTION_SETTINGS.username && setting !== CONNECTION_SETTINGS.password),
  );
  return addSettingOptions(command, settings, CONNECTION_OPTIONS_HEADING);
}

/** The connection of a command given `addConnectionOptions`. */
export function connectionFrom(command: Command): Connection {
  return settingsOf(command, CONNECTION_SETTINGS);
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

/**
 * Makes a client command's request with its connection; a failed request ends the command with the
 * server's message (failRequest), anything else is rethrown.
 */
export async function request<T>(command: Command, call: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = connectionFrom(command);
  try {
    return await call(connection);
  } catch (error) {
    failRequest(command, error, connection.server);
  }
}

/** The `--json` flag of a command that can answer in JSON (see show). */
export interface JsonFlag {
  json?: boolean;
}

/** Prints an answer: as one line of JSON with `--json`, else as the text for a person. */
export function show(command: Command, json: boolean | undefined, answer: unknown, text: string): void {
  if (json) printJson(command, answer);
  else print(command, text);
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
