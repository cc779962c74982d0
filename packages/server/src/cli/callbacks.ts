import type { ConnectivityManagementCallback, RegisterCallbackRequest } from '@ccb/sdk';
import type { Command } from 'commander';
import { registerSettingsCommand } from './callback-settings.js';
import { addConnectionOptions, fail, type JsonFlag, request, sdkClient, serviceName, show, table } from './options.js';

const ACCOUNT_ARGUMENT = 'account name, e.g. 0000123456-00001 (the dev profile manages that one)';

interface RegisterFlags extends JsonFlag {
  username?: string;
  password?: string;
  callbackUsername?: string;
  callbackPassword?: string;
}

/** The registrations as a table; passwords are secrets and only said to be set. */
export function formatCallbacks(aname: string, callbacks: ConnectivityManagementCallback[]): string {
  if (callbacks.length === 0) return `No callbacks registered for account ${aname}.`;
  const rows = callbacks.map((callback) => [
    callback.serviceName ?? '',
    callback.url ?? '',
    callback.username || '-',
    callback.password ? '(set)' : '-',
  ]);
  return table(['SERVICE', 'URL', 'USERNAME', 'PASSWORD'], rows);
}

/**
 * The callback's credential given as `--callback-<name>` or, as SPEC §9 writes it, `--<name>`; giving
 * both with different values is refused.
 */
function callbackCredential(command: Command, flags: RegisterFlags, name: 'username' | 'password'): string | undefined {
  const short = flags[name];
  const long = name === 'username' ? flags.callbackUsername : flags.callbackPassword;
  if (short !== undefined && long !== undefined && short !== long) {
    fail(command, `--${name} and --callback-${name} disagree; give one of them`);
  }
  return long ?? short;
}

/** `ccb callbacks list|register|deregister`: the registration API through the SDK. */
export function registerCallbacksCommand(program: Command): void {
  const callbacks = program
    .command('callbacks')
    .description('List, register and deregister the callback listeners of an account (through the SDK)');

  addConnectionOptions(
    callbacks
      .command('list')
      .description('List the callback listeners registered for an account')
      .argument('<aname>', ACCOUNT_ARGUMENT)
      .option('--json', 'print the raw JSON array the server answers'),
    { uses: 'registration' },
  )
    .addHelpText(
      'after',
      `\nOutput: one row per service (passwords are shown as "(set)"; --json prints them as the server returns them).

Example:
  ccb callbacks list 0000123456-00001`,
    )
    .action(async (aname: string, flags: JsonFlag, command: Command) => {
      const { data } = await request(command, (connection) =>
        sdkClient(connection).connectivityCallbacks.listRegisteredCallbacks(aname),
      );
      show(command, flags.json, data, formatCallbacks(aname, data));
    });

  addConnectionOptions(
    callbacks
      .command('register')
      .description("Register (or replace) the account's listener URL for a callback service")
      .argument('<aname>', ACCOUNT_ARGUMENT)
      .argument('<service>', 'callback service, e.g. CarrierService', serviceName)
      .argument('<url>', 'listener URL: absolute http(s), on an allowed port (e.g. 9001-9006, 80, 443)')
      .option('--callback-username <user>', 'username the server puts in every message body for the listener')
      .option('--callback-password <password>', 'password the server puts in every message body for the listener')
      .option('--username <user>', 'same as --callback-username')
      .option('--password <password>', 'same as --callback-password')
      .option('--json', 'print the raw JSON the server answers'),
    { uses: 'registration', loginFlags: false },
  )
    .addHelpText(
      'after',
      `\nOn this command --username/--password are the callback's credentials, so the
user the CLI logs in as comes from CCB_USERNAME/CCB_PASSWORD (default: demo/demo-password).
Registering a service again replaces its URL and credentials.

Examples:
  ccb callbacks register 0000123456-00001 CarrierService http://127.0.0.1:9001/
  ccb callbacks register 0000123456-00001 DeviceUsage https://example.com/hook --username hook --password s3cret`,
    )
    // biome-ignore lint/complexity/useMaxParams: commander passes a command's three arguments, its options and itself positionally
    .action(async (aname: string, service: string, url: string, flags: RegisterFlags, command: Command) => {
      const body: RegisterCallbackRequest = { name: service, url };
      const username = callbackCredential(command, flags, 'username');
      const password = callbackCredential(command, flags, 'password');
      if (username !== undefined) body.username = username;
      if (password !== undefined) body.password = password;
      const { data } = await request(command, (connection) =>
        sdkClient(connection).connectivityCallbacks.registerCallback(aname, body),
      );
      show(command, flags.json, data, `Registered ${service} for account ${aname}: ${url}`);
    });

  addConnectionOptions(
    callbacks
      .command('deregister')
      .description("Remove the account's listener for a callback service; its pending messages are cancelled")
      .argument('<aname>', ACCOUNT_ARGUMENT)
      .argument('<service>', 'callback service, e.g. CarrierService', serviceName)
      .option('--json', 'print the raw JSON the server answers'),
    { uses: 'registration' },
  )
    .addHelpText('after', '\nExample:\n  ccb callbacks deregister 0000123456-00001 CarrierService')
    .action(async (aname: string, service: string, flags: JsonFlag, command: Command) => {
      const { data } = await request(command, (connection) =>
        sdkClient(connection).connectivityCallbacks.deregisterCallback(aname, service),
      );
      show(
        command,
        flags.json,
        data,
        `Deregistered ${service} for account ${aname}; its pending messages are cancelled.`,
      );
    });

  registerSettingsCommand(callbacks);
}
