import type { ServiceName } from '@ccb/sdk';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { MESSAGE_STATUSES, type MessageStatus, REPLAYABLE_STATUSES } from '../domain/statuses.js';
import { ConfigError, parseDuration } from '../settings.js';
import type { AdminApi, MessagePageView, MessageWithAttemptsView, ReplayFilter, ReplayJobView } from './admin-api.js';
import {
  addConnectionOptions,
  adminApi,
  connectionFrom,
  fail,
  failRequest,
  positiveInteger,
  print,
  printJson,
  request,
  serviceName,
  show,
  table,
} from './options.js';

/** How often a bulk replay's progress is read. */
const REPLAY_POLL_INTERVAL_MS = 200;
const DEFAULT_REPLAY_TIMEOUT = '10m';

interface ListFlags {
  status?: MessageStatus;
  account?: string;
  service?: ServiceName;
  limit?: number;
  cursor?: string;
  json?: boolean;
}

interface ReplayFlags {
  status?: MessageStatus;
  since?: string;
  account?: string;
  service?: ServiceName;
  timeout: string;
  json?: boolean;
}

/** `--since`: an ISO 8601 date-time, or a duration back from now such as 30m, 2h or 7d. Returns ISO. */
export function sinceTime(value: string, now: number = Date.now()): string {
  if (/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/.test(value)) return new Date(now - parseDuration(value)).toISOString();
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new InvalidArgumentError('expected an ISO 8601 date-time (2026-11-25T08:00:00Z) or a duration like 2h.');
  }
  return new Date(ms).toISOString();
}

function duration(value: string): string {
  try {
    parseDuration(value);
  } catch (error) {
    if (error instanceof ConfigError) throw new InvalidArgumentError('expected a duration like 30s, 10m or 1h.');
    throw error;
  }
  return value;
}

const dash = (value: string | number | null | undefined) =>
  value === null || value === undefined || value === '' ? '-' : String(value);

export function formatMessagePage(page: MessagePageView): string {
  if (page.items.length === 0) return 'No messages.';
  const rows = page.items.map((m) => [
    m.id,
    m.createdAt,
    m.accountName,
    m.serviceName,
    m.status,
    `${m.attempts}/${m.maxAttempts}`,
    dash(m.reason),
  ]);
  const text = table(['ID', 'CREATED', 'ACCOUNT', 'SERVICE', 'STATUS', 'ATTEMPTS', 'REASON'], rows);
  return page.nextCursor ? `${text}\n\nMore: add --cursor ${page.nextCursor}` : text;
}

export function formatMessage(message: MessageWithAttemptsView): string {
  const fields: Array<[string, string]> = [
    ['Message', message.id],
    ['Account', message.accountName],
    ['Service', message.serviceName],
    ['Status', message.reason ? `${message.status} (${message.reason})` : message.status],
    ['Attempts', `${message.attempts} of ${message.maxAttempts}`],
    ['Created', message.createdAt],
    ['Updated', message.updatedAt],
    ['Delivered', dash(message.deliveredAt)],
    ['Next attempt', dash(message.nextAttemptAt)],
    ['Idempotency key', dash(message.idempotencyKey)],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  const lines = fields.map(([name, value]) => `${name.padEnd(width)}  ${value}`);
  lines.push('', 'Delivery attempts:');
  if (message.deliveryAttempts.length === 0) {
    lines.push('  none yet');
  } else {
    const rows = message.deliveryAttempts.map((a) => [
      String(a.attemptNumber),
      a.startedAt,
      dash(a.statusCode),
      `${Math.round(a.latencyMs)} ms`,
      a.url,
      [
        a.error && `${a.error.kind}: ${a.error.detail}`,
        a.responseExcerpt ? `response: ${a.responseExcerpt.replace(/\s+/g, ' ')}` : null,
      ]
        .filter(Boolean)
        .join('; ') || '-',
    ]);
    const attempts = table(['#', 'STARTED', 'STATUS', 'LATENCY', 'URL', 'ERROR / RESPONSE'], rows);
    lines.push(...attempts.split('\n').map((line) => `  ${line}`));
  }
  lines.push('', 'Payload:', JSON.stringify(message.payload, null, 2));
  return lines.join('\n');
}

export interface BulkReplayOptions {
  /** How long to wait for the job to finish; it keeps running on the server after that. */
  timeoutMs: number;
  pollIntervalMs?: number;
  onProgress?: (job: ReplayJobView) => void;
}

/** Starts a bulk replay and follows it until it is done, failed, or `timeoutMs` passed (then still running). */
export async function runBulkReplay(
  api: AdminApi,
  filter: ReplayFilter,
  options: BulkReplayOptions,
): Promise<ReplayJobView> {
  const deadline = Date.now() + options.timeoutMs;
  const { jobId } = await api.startReplay(filter);
  for (;;) {
    const job = await api.getReplay(jobId);
    options.onProgress?.(job);
    if (job.status !== 'running' || Date.now() >= deadline) return job;
    await new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs ?? REPLAY_POLL_INTERVAL_MS));
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The server finds the matching messages while it replays them, so no total is known up front: the
 * progress line counts what was replayed and matched so far instead of filling a bar to a guess.
 */
function progressLine(json: boolean): SingleBar | undefined {
  if (json || !process.stderr.isTTY) return undefined;
  return new SingleBar({
    format: 'replay: {value} replayed, {matched} matched so far | {duration_formatted}',
    stream: process.stderr,
    hideCursor: true,
  });
}

async function replayOne(command: Command, id: string, flags: ReplayFlags): Promise<void> {
  const result = await request(command, (connection) => adminApi(connection).replayMessage(id));
  show(command, flags.json, result, `Queued ${result.messageId} for delivery again (${result.status}).`);
}

async function replayMany(command: Command, flags: ReplayFlags): Promise<void> {
  const connection = connectionFrom(command);
  const filter: ReplayFilter = { status: flags.status };
  if (flags.account !== undefined) filter.accountName = flags.account;
  if (flags.service !== undefined) filter.serviceName = flags.service;
  if (flags.since !== undefined) filter.since = flags.since;
  const bar = progressLine(flags.json === true);
  let barStarted = false;
  let job: ReplayJobView;
  try {
    job = await runBulkReplay(adminApi(connection), filter, {
      timeoutMs: parseDuration(flags.timeout),
      onProgress: (progress) => {
        if (!bar) return;
        if (!barStarted) bar.start(0, progress.replayed, { matched: progress.matched });
        barStarted = true;
        bar.update(progress.replayed, { matched: progress.matched });
      },
    });
  } catch (error) {
    bar?.stop();
    failRequest(command, error, connection.server);
  }
  bar?.stop();
  if (flags.json) printJson(command, job);
  const skipped =
    job.noListener > 0
      ? `; ${job.noListener} skipped: no listener is registered for their account and service (register one, then replay again)`
      : '';
  const counts = `${job.replayed} of ${plural(job.matched, 'matching message')} replayed${skipped}`;
  if (job.status === 'failed') {
    fail(command, `replay job ${job.jobId} failed: ${job.error ?? 'unknown error'} (${counts})`);
  }
  if (job.status === 'running') {
    fail(
      command,
      `replay job ${job.jobId} still running after ${flags.timeout} (${counts} so far); it continues on the server`,
    );
  }
  if (!flags.json) {
    print(
      command,
      job.matched === 0 ? `No messages matched; nothing replayed (job ${job.jobId}).` : `${counts} (job ${job.jobId}).`,
    );
  }
}

/** `ccb messages list|show|replay`: the message stream through the admin API. */
export function registerMessagesCommand(program: Command): void {
  const messages = program.command('messages').description('List, inspect and replay callback messages (admin API)');

  addConnectionOptions(
    messages
      .command('list')
      .description('List messages, newest first (GET /admin/v1/messages)')
      .addOption(new Option('--status <status>', 'only messages with this status').choices(MESSAGE_STATUSES))
      .option('--account <aname>', 'only messages for this account')
      .option('--service <name>', 'only messages of this callback service', serviceName)
      .option('--limit <n>', 'messages per page, 1-1000', positiveInteger, 50)
      .option('--cursor <cursor>', 'the next page, as printed under the previous one')
      .option('--json', 'print the raw JSON the server answers ({items, nextCursor})'),
    { uses: 'admin' },
  )
    .addHelpText(
      'after',
      `\nExamples:
  ccb messages list --status failed
  ccb messages list --account 0000123456-00001 --service CarrierService --limit 10 --json`,
    )
    .action(async (flags: ListFlags, command: Command) => {
      const page = await request(command, (connection) =>
        adminApi(connection).listMessages({
          accountName: flags.account,
          serviceName: flags.service,
          status: flags.status,
          limit: flags.limit === undefined ? undefined : String(flags.limit),
          cursor: flags.cursor,
        }),
      );
      show(command, flags.json, page, formatMessagePage(page));
    });

  addConnectionOptions(
    messages
      .command('show')
      .description('Show one message with every delivery attempt (GET /admin/v1/messages/{id})')
      .argument('<id>', 'message id, e.g. msg_019abc…')
      .option('--json', 'print the raw JSON the server answers'),
    { uses: 'admin' },
  )
    .addHelpText('after', '\nExample:\n  ccb messages show msg_019abc…')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      const message = await request(command, (connection) => adminApi(connection).getMessage(id));
      show(command, flags.json, message, formatMessage(message));
    });

  addConnectionOptions(
    messages
      .command('replay')
      .description('Deliver a message again, or every message matching --status (and filters) as a bulk job')
      .argument('[id]', 'message id; leave out for a bulk replay with --status')
      .addOption(
        new Option(
          '--status <status>',
          'bulk: replay every message with this status (required for a bulk replay)',
        ).choices(REPLAYABLE_STATUSES),
      )
      .option('--since <time>', 'bulk: only messages created since an ISO date-time or a duration ago (2h)', (value) =>
        sinceTime(value),
      )
      .option('--account <aname>', 'bulk: only messages for this account')
      .option('--service <name>', 'bulk: only messages of this callback service', serviceName)
      .option('--timeout <duration>', 'bulk: how long to wait for the job to finish', duration, DEFAULT_REPLAY_TIMEOUT)
      .option('--json', 'print the raw JSON the server answers (bulk: the finished job)'),
    { uses: 'admin' },
  )
    .addHelpText(
      'after',
      `\nA single replay queues the message again under the same id (callbackCount continues), due at once: a
pending message waiting for its next attempt is delivered now. A message being delivered right now
cannot be replayed until that attempt ends. A bulk replay runs on the server as a job: the command follows
its progress (a progress bar on a terminal) and prints how many messages were replayed. If --timeout
passes first it exits 1 while the job carries on.

Examples:
  ccb messages replay msg_019abc…
  ccb messages replay --status failed --since 2h
  ccb messages replay --status failed --account 0000123456-00001 --service CarrierService --json`,
    )
    .action(async (id: string | undefined, flags: ReplayFlags, command: Command) => {
      const filtered = flags.since !== undefined || flags.account !== undefined || flags.service !== undefined;
      if (id !== undefined) {
        if (flags.status !== undefined || filtered) {
          fail(command, 'give a message id or bulk filters (--status, --since, --account, --service), not both');
        }
        return replayOne(command, id, flags);
      }
      if (flags.status === undefined) {
        fail(command, 'give a message id, or --status (e.g. --status failed) for a bulk replay');
      }
      return replayMany(command, flags);
    });
}
