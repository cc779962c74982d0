import { type Command, InvalidArgumentError } from 'commander';
import { SCOPES } from '../domain/scopes.js';
import { addConnectionOptions, adminApi, type JsonFlag, request, show, table } from './options.js';

/** `a,b` → distinct, non-empty items. */
function list(what: string, allowed?: readonly string[]) {
  return (value: string): string[] => {
    const items = value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
    if (items.length === 0) throw new InvalidArgumentError(`give at least one ${what}.`);
    if (new Set(items).size !== items.length) throw new InvalidArgumentError(`a ${what} is listed twice.`);
    const unknown = allowed ? items.filter((item) => !allowed.includes(item)) : [];
    if (unknown.length > 0) {
      throw new InvalidArgumentError(`unknown ${what} ${unknown.join(', ')}; expected some of ${allowed?.join(', ')}.`);
    }
    return items;
  };
}

function expiry(value: string): string {
  const at = Date.parse(value);
  if (!Number.isFinite(at))
    throw new InvalidArgumentError('expected an ISO 8601 date-time, e.g. 2027-06-01T00:00:00Z.');
  return new Date(at).toISOString();
}

/** `ccb keys …`: scoped API keys of the admin API (`/admin/v1/keys`, docs/access.md). */
export function registerKeysCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description('Create, list and revoke scoped API keys of the admin API (usable as --admin-token)');
  const admin = (command: Command) => addConnectionOptions(command, { uses: 'admin' });

  admin(
    keys
      .command('create')
      .description('Create an API key; the key is shown once')
      .argument('<name>', 'what the key is for, e.g. "billing publisher"')
      .requiredOption('--scopes <list>', `comma-separated scopes: ${SCOPES.join(', ')}`, list('scope', SCOPES))
      .option('--accounts <list>', 'limit the key to these comma-separated accounts', list('account'))
      .option('--expires <date-time>', 'when the key stops working (ISO 8601)', expiry)
      .option('--json', 'print JSON'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  npx ccb keys create "billing publisher" --scopes messages:publish --accounts 0000123456-00001\n' +
        '  npx ccb keys create support --scopes messages:read,messages:replay --expires 2027-06-01T00:00:00Z',
    )
    .action(
      async (
        name: string,
        flags: JsonFlag & { scopes: string[]; accounts?: string[]; expires?: string },
        command: Command,
      ) => {
        const created = await request(command, (connection) =>
          adminApi(connection).createKey({
            name,
            scopes: flags.scopes,
            accounts: flags.accounts,
            expiresAt: flags.expires,
          }),
        );
        const limits = created.accounts ? ` for ${created.accounts.join(', ')}` : ' for every account';
        show(
          command,
          flags.json,
          created,
          `Created key ${created.id} (${created.scopes.join(', ')}${limits})\nKey: ${created.key} (shown only now)`,
        );
      },
    );

  admin(
    keys
      .command('list')
      .description('List API keys, revoked ones included (never the keys)')
      .option('--json', 'print JSON'),
  )
    .addHelpText('after', '\nExample:\n  npx ccb keys list')
    .action(async (flags: JsonFlag, command: Command) => {
      const items = await request(command, (connection) => adminApi(connection).listKeys());
      const state = (key: (typeof items)[number]) =>
        key.revokedAt ? `revoked ${key.revokedAt}` : key.expiresAt ? `until ${key.expiresAt}` : 'active';
      show(
        command,
        flags.json,
        items,
        table(
          ['ID', 'NAME', 'SCOPES', 'ACCOUNTS', 'STATE'],
          items.map((key) => [key.id, key.name, key.scopes.join(','), key.accounts?.join(',') ?? 'all', state(key)]),
        ),
      );
    });

  admin(
    keys
      .command('revoke')
      .description('Revoke an API key: refused at once by every instance')
      .argument('<id>', 'the key id (key_…), from keys list')
      .option('--json', 'print JSON'),
  )
    .addHelpText('after', '\nExample:\n  npx ccb keys revoke key_3f9c1a7e5b2d4c60')
    .action(async (id: string, flags: JsonFlag, command: Command) => {
      const revoked = await request(command, (connection) => adminApi(connection).revokeKey(id));
      show(command, flags.json, revoked, `Revoked key ${revoked.id} (${revoked.name})`);
    });
}
