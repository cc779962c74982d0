import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SERVICE_NAMES } from '@ccb/sdk';
import { createListener, type ListenerMessage, type ListenerRefusal } from '@ccb/sdk/listener';
import { type Command, InvalidArgumentError } from 'commander';
import { DEV_CREDENTIALS } from '../config.js';
import { addSettingOptions, settingsOf } from './options.js';
import { LISTEN_SETTINGS } from './settings.js';

/** What `ccb listen` needs to run. */
export interface ListenOptions {
  port: number;
  host: string;
  username?: string;
  password?: string;
  secrets: string[];
  /** One JSON line per message (the default when stdout is not a terminal). */
  json: boolean;
  /** Remember processed ids and acknowledge repeats without printing the message again. Default true. */
  dedupe?: boolean;
  /** Where messages are printed. */
  out: NodeJS.WritableStream;
  /** Where refused deliveries and duplicates are reported (one line each). Default: nowhere. */
  log?: NodeJS.WritableStream;
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
    dedupe: options.dedupe === false ? false : undefined,
    onMessage: (message) => {
      options.out.write(options.json ? formatJsonLine(message) : formatPretty(message));
    },
    onRefused: (refusal) => options.log?.write(formatRefusal(refusal)),
    onDuplicate: (message) => options.log?.write(`duplicate of ${message.id}, answered 204\n`),
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

function formatRefusal(refusal: ListenerRefusal): string {
  const id = refusal.messageId ? ` ${refusal.messageId}` : '';
  return `refused${id}: ${refusal.statusCode} ${refusal.errorCode}: ${refusal.reason}\n`;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('expected a port number 0-65535.');
  return port;
}

/** `ccb listen`: a ready listener that prints each message. */
export function registerListenCommand(program: Command): void {
  const listen = program
    .command('listen')
    .description(
      'Run a callback listener that prints every message it receives and acknowledges it (204). ' +
        'Register its URL with `ccb callbacks register`. Runs until Ctrl-C / SIGTERM.',
    )
    .requiredOption('--port <port>', 'port to listen on (0 picks a free one)', parsePort)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--json', 'print one JSON line per message even on a terminal')
    .option('--no-dedupe', 'print every delivery, repeats included (by default a repeated id is acknowledged only)');
  addSettingOptions(listen, Object.values(LISTEN_SETTINGS))
    .addHelpText(
      'after',
      `\nOutput: a readable block per message on a terminal, otherwise one JSON line per message
({id, account, service, attempt, timestamp, body}); passwords in bodies are redacted.
Refusals, 401 (bad signature, stale timestamp, wrong credentials), 400 (not JSON) and 413 (over 1 MiB),
and duplicates are reported on stderr, one line each. Give secrets through the environment to keep
them out of the process list.
Known services: ${SERVICE_NAMES.join(', ')}.

Example:
  CCB_SIGNING_SECRET="$(curl -s -H 'authorization: Bearer ${DEV_CREDENTIALS.adminToken}' \\
    http://127.0.0.1:8080/admin/v1/callbacks/0000123456-00001/CarrierService/secret | jq -r .secret)" \\
    npx ccb listen --port 9001`,
    )
    .action(async (flags: { port: number; host: string; json?: boolean; dedupe: boolean }, command: Command) => {
      const { secrets = [], username, password } = settingsOf(command, LISTEN_SETTINGS);
      const running = await startListenServer({
        port: flags.port,
        host: flags.host,
        username,
        password,
        secrets,
        json: flags.json === true || !process.stdout.isTTY,
        dedupe: flags.dedupe,
        out: process.stdout,
        log: process.stderr,
      }).catch((error: NodeJS.ErrnoException) => {
        command.error(`Error: cannot listen on ${flags.host}:${flags.port}: ${error.code ?? error.message}`);
      });
      const checks = [
        secrets.length > 0 ? `signatures (${secrets.length} secret${secrets.length > 1 ? 's' : ''})` : undefined,
        username !== undefined || password !== undefined ? 'body credentials' : undefined,
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
