import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SERVICE_NAMES } from '@ccb/sdk';
import { createListener, type ListenerMessage } from '@ccb/sdk/listener';
import { type Command, InvalidArgumentError } from 'commander';

/** What `ccb listen` needs to run. */
export interface ListenOptions {
  port: number;
  host: string;
  username?: string;
  password?: string;
  secrets: string[];
  /** One JSON line per message (the default when stdout is not a terminal). */
  json: boolean;
  /** Where messages are printed. */
  out: NodeJS.WritableStream;
}

/** A running `ccb listen` server. */
export interface RunningListener {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts the listener of `ccb listen`: acknowledges every valid message after printing it. */
export async function startListenServer(options: ListenOptions): Promise<RunningListener> {
  const handler = createListener({
    username: options.username,
    password: options.password,
    signingSecrets: options.secrets.length > 0 ? options.secrets : undefined,
    onMessage: (message) => {
      options.out.write(options.json ? formatJsonLine(message) : formatPretty(message));
    },
  });
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The body as printed: the registration's password is a secret and never shown. */
function printable(message: ListenerMessage): Record<string, unknown> {
  const body: Record<string, unknown> = { ...message.body };
  if (typeof body.password === 'string' && body.password !== '') body.password = '[redacted]';
  return body;
}

function formatJsonLine(message: ListenerMessage): string {
  return `${JSON.stringify({
    id: message.id,
    account: message.account,
    service: message.service,
    attempt: message.attempt,
    timestamp: message.timestamp.toISOString(),
    body: printable(message),
  })}\n`;
}

function formatPretty(message: ListenerMessage): string {
  const body = printable(message);
  const attempts =
    typeof body.maxCallbackThreshold === 'number' ? `${message.attempt}/${body.maxCallbackThreshold}` : message.attempt;
  const heading = [
    message.timestamp.toISOString(),
    message.service ?? 'unknown service',
    message.account ?? 'unknown account',
    `attempt ${attempts}`,
    message.id,
  ].join('  ');
  return `\n${heading}\n${JSON.stringify(body, null, 2)}\n`;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('expected a port number 0-65535.');
  return port;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * An option the user gave on this command, or on the root program if it defines the same option
 * (commander hands options to the program wherever they appear). Defaults and environment values of
 * the root do not count: the listener checks credentials only when asked to.
 */
function givenOption(command: Command, name: string): unknown {
  const local = command.getOptionValue(name);
  if (local !== undefined && command.getOptionValueSource(name) === 'cli') return local;
  for (let parent = command.parent; parent; parent = parent.parent) {
    if (parent.getOptionValueSource(name) === 'cli') return parent.getOptionValue(name);
  }
  return undefined;
}

/** `ccb listen`: a ready listener that prints each message. */
export function registerListenCommand(program: Command): void {
  program
    .command('listen')
    .description(
      'Run a callback listener that prints every message it receives and acknowledges it (204). ' +
        'Register its URL with `ccb callbacks register`. Runs until Ctrl-C / SIGTERM.',
    )
    .requiredOption('--port <port>', 'port to listen on (0 picks a free one)', parsePort)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--username <username>', 'expected username in each message body (as registered)')
    .option('--password <password>', 'expected password in each message body (as registered)')
    .option(
      '--secret <whsec>',
      "signing secret of the registration (whsec_...); repeat during a rotation; without it signatures aren't checked",
      collect,
    )
    .option('--json', 'print one JSON line per message even on a terminal')
    .addHelpText(
      'after',
      `\nOutput: a readable block per message on a terminal, otherwise one JSON line per message
({id, account, service, attempt, timestamp, body}); passwords in bodies are redacted.
Refusals: 401 (bad signature, stale timestamp, wrong credentials), 400 (not JSON), 413 (over 1 MiB).
Known services: ${SERVICE_NAMES.join(', ')}.

Example:
  ccb listen --port 9001 --secret "$(curl -s -H 'authorization: Bearer dev-admin-token' \\
    http://127.0.0.1:8080/admin/v1/callbacks/0000123456-00001/CarrierService/secret | jq -r .secret)"`,
    )
    .action(async (_options: unknown, command: Command) => {
      const secrets = [...((givenOption(command, 'secret') as string[] | undefined) ?? [])];
      const running = await startListenServer({
        port: command.getOptionValue('port') as number,
        host: command.getOptionValue('host') as string,
        username: givenOption(command, 'username') as string | undefined,
        password: givenOption(command, 'password') as string | undefined,
        secrets,
        json: givenOption(command, 'json') === true || !process.stdout.isTTY,
        out: process.stdout,
      }).catch((error: NodeJS.ErrnoException) => {
        process.stderr.write(
          `Error: cannot listen on ${command.getOptionValue('host')}:${command.getOptionValue('port')}: ${error.code ?? error.message}\n`,
        );
        process.exit(1);
      });
      const checks = [
        secrets.length > 0 ? `signatures (${secrets.length} secret${secrets.length > 1 ? 's' : ''})` : undefined,
        givenOption(command, 'username') !== undefined || givenOption(command, 'password') !== undefined
          ? 'body credentials'
          : undefined,
      ].filter(Boolean);
      process.stderr.write(
        `Listening on ${running.url} (checks: ${checks.length > 0 ? checks.join(', ') : 'none'}). Ctrl-C to stop.\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await running.close();
    });
}
