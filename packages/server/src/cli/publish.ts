import { readFileSync } from 'node:fs';
import type { ServiceName } from '@ccb/sdk';
import { type Command, InvalidArgumentError } from 'commander';
import { MessageReasons } from '../domain/reasons.js';
import type { PublishResult } from './admin-api.js';
import { addConnectionOptions, adminApi, fail, request, serviceName, show } from './options.js';

interface PublishFlags {
  data?: string;
  file?: string;
  idempotencyKey?: string;
  json?: boolean;
}

/**
 * A message payload: the JSON text as given, once it is known to be a JSON object (as the admin API
 * requires). The text itself is sent, not a re-serialised copy: parsing and writing again would round
 * a number a 64-bit float cannot keep (a 23-digit integer) where the server refuses it instead.
 * Throws with what is wrong.
 */
export function parsePayload(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError('expected a JSON object, e.g. {"requestId": "…"}.');
  }
  return text.trim();
}

/** The payload from --data or --file (`-` reads standard input), checked before any request. */
function payloadFrom(command: Command, flags: PublishFlags): string {
  if (flags.data !== undefined && flags.file !== undefined) fail(command, 'give either --data or --file, not both');
  if (flags.data !== undefined) return flags.data;
  if (flags.file === undefined) fail(command, 'give the payload with --data <json> or --file <path>');
  let text: string;
  try {
    text = readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8');
  } catch (error) {
    fail(command, `cannot read ${flags.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return parsePayload(text);
  } catch (error) {
    fail(command, `${flags.file}: ${(error as Error).message}`);
  }
}

export function formatPublished(aname: string, service: string, result: PublishResult): string {
  const lines = [`Published ${result.messageId} (${service} for account ${aname}): ${result.status}`];
  if (result.idempotentReplay) lines.push('The Idempotency-Key was used before: this is the first publish of it.');
  if (result.status === 'failed') {
    lines.push(
      `The account has no listener for ${service}, so the message is kept as failed (${MessageReasons.noRegistration}).`,
      `Register one, then: ccb messages replay ${result.messageId}`,
    );
  }
  return lines.join('\n');
}

/** `ccb publish`: one callback message through the admin API. */
export function registerPublishCommand(program: Command): void {
  addConnectionOptions(
    program
      .command('publish')
      .description('Publish a callback message for an account and service (POST /admin/v1/messages)')
      .argument('<aname>', 'account name, e.g. 0000123456-00001')
      .argument('<service>', 'callback service, e.g. CarrierService', serviceName)
      .option('--data <json>', 'the payload, a JSON object', parsePayload)
      .option('--file <path>', 'read the payload (a JSON object) from a file; - reads standard input')
      .option('--idempotency-key <key>', 'publishing again with the same key returns the first message')
      .option('--json', 'print the raw JSON the server answers ({messageId, status})'),
    { uses: 'admin' },
  )
    .addHelpText(
      'after',
      `\nThe delivery engine adds username, password, callbackCount and maxCallbackThreshold to the payload.
Without a registration for the account and service the message is kept as failed (${MessageReasons.noRegistration})
and can be replayed once a listener is registered.

Examples:
  ccb publish 0000123456-00001 CarrierService --data '{"requestId":"r-1","status":"Success"}'
  ccb publish 0000123456-00001 DeviceUsage --file usage.json --idempotency-key usage-2026-11-25`,
    )
    .action(async (aname: string, service: ServiceName, flags: PublishFlags, command: Command) => {
      const payload = payloadFrom(command, flags);
      const result = await request(command, (connection) =>
        adminApi(connection).publishText(aname, service, payload, flags.idempotencyKey),
      );
      show(
        command,
        flags.json,
        { messageId: result.messageId, status: result.status },
        formatPublished(aname, service, result),
      );
    });
}
