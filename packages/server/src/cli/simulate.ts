import { exampleMessage, SERVICE_NAMES, type ServiceName } from '@ccb/sdk';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { AdminApi } from './admin-api.js';
import { DEFAULT_SERVER, positiveInteger, serviceName } from './options.js';

/** The admin API accepts at most this many messages per batch (SPEC §4). */
export const MAX_BATCH_SIZE = 1000;
/** With --rate, batches are sized for about this many requests per second, so pacing stays smooth. */
const PACED_BATCHES_PER_SECOND = 10;

export interface SimulationOptions {
  /** Server base URL, e.g. http://127.0.0.1:8080. */
  server: string;
  adminToken: string;
  account: string;
  /** One service; without it the simulation cycles through every service. */
  service?: ServiceName;
  count: number;
  /** Average messages per second; without it batches go out back to back. */
  rate?: number;
  /** Called after every batch. */
  onProgress?: (published: number) => void;
}

export interface SimulationSummary {
  published: number;
  failed: number;
  elapsedMs: number;
  /** Published messages per second over the whole run. */
  ratePerSecond: number;
}

/** The run stopped: the server refused a batch or could not be reached. Carries what was done so far. */
export class SimulationError extends Error {
  constructor(
    message: string,
    readonly summary: SimulationSummary,
  ) {
    super(message);
    this.name = 'SimulationError';
  }
}

/**
 * Publishes `count` example messages through `POST /admin/v1/messages/batch`, paced to `rate` when
 * given. Stops at the first refused batch (the rest are counted as failed).
 */
export async function runSimulation(options: SimulationOptions): Promise<SimulationSummary> {
  const api = new AdminApi(options.server, options.adminToken);
  const batchSize = options.rate
    ? Math.min(MAX_BATCH_SIZE, Math.max(1, Math.ceil(options.rate / PACED_BATCHES_PER_SECOND)))
    : MAX_BATCH_SIZE;
  const started = performance.now();
  let published = 0;
  const summary = (): SimulationSummary => {
    const elapsedMs = performance.now() - started;
    return {
      published,
      failed: options.count - published,
      elapsedMs: Math.round(elapsedMs),
      ratePerSecond: elapsedMs > 0 ? Math.round((published / elapsedMs) * 1000 * 10) / 10 : 0,
    };
  };

  while (published < options.count) {
    if (options.rate) {
      // Each batch starts when the average rate allows it, so slow batches are caught up on, not lost.
      const due = started + (published / options.rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const size = Math.min(batchSize, options.count - published);
    const messages = Array.from({ length: size }, (_, i) => {
      const serviceName = options.service ?? SERVICE_NAMES[(published + i) % SERVICE_NAMES.length];
      return { accountName: options.account, serviceName, payload: producerPayload(serviceName, options.account) };
    });
    try {
      const { messageIds } = await api.publishBatch(messages);
      published += messageIds?.length ?? messages.length;
    } catch (error) {
      throw new SimulationError((error as Error).message, summary());
    }
    options.onProgress?.(published);
  }
  return summary();
}

/** An example without the keys the delivery engine sets. */
function producerPayload(serviceName: ServiceName, accountName: string): Record<string, unknown> {
  const {
    username: _u,
    password: _p,
    callbackCount: _c,
    maxCallbackThreshold: _m,
    ...payload
  } = exampleMessage(serviceName, { accountName }) as unknown as Record<string, unknown>;
  return payload;
}

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError('expected a number above 0.');
  return number;
}

/** This command's value, else the root program's if it defines the same option (e.g. --server). */
function optionValue(command: Command, name: string): unknown {
  for (let current: Command | null = command; current; current = current.parent) {
    const value = current.getOptionValue(name);
    if (value !== undefined) return value;
  }
  return undefined;
}

function formatSummary(summary: SimulationSummary): string {
  return (
    `Published ${summary.published} message${summary.published === 1 ? '' : 's'}, ${summary.failed} failed, ` +
    `in ${(summary.elapsedMs / 1000).toFixed(2)} s (${summary.ratePerSecond} msg/s)\n`
  );
}

/** `ccb simulate`: publishes example messages through the admin API. */
export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('Publish realistic example callback messages for an account through the admin API')
    .requiredOption('--account <aname>', 'account the messages are for, e.g. 0000123456-00001')
    .option('--service <name>', 'only this service (default: cycle through every service)', serviceName)
    .requiredOption('--count <n>', 'how many messages to publish', positiveInteger)
    .option(
      '--rate <per-second>',
      'average messages per second (default: as fast as the server accepts)',
      positiveNumber,
    )
    .option('--server <url>', 'server base URL (env CCB_SERVER, default http://127.0.0.1:8080)')
    .option('--admin-token <token>', 'admin API token (env CCB_ADMIN_TOKEN, default dev-admin-token)')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `\nMessages go out in batches of up to ${MAX_BATCH_SIZE} (POST /admin/v1/messages/batch); with --rate the
batches are paced so the average rate holds. A progress bar shows on a terminal.

Examples:
  ccb simulate --account 0000123456-00001 --count 100
  ccb simulate --account 0000123456-00001 --service CarrierService --count 5000 --rate 500`,
    )
    .action(async (_options: unknown, command: Command) => {
      const json = optionValue(command, 'json') === true;
      const count = command.getOptionValue('count') as number;
      const bar =
        process.stderr.isTTY && !json
          ? new SingleBar({
              format: 'simulate [{bar}] {percentage}% | {value}/{total} | {duration_formatted}',
              stream: process.stderr,
              hideCursor: true,
            })
          : undefined;
      bar?.start(count, 0);
      try {
        const summary = await runSimulation({
          server: String(optionValue(command, 'server') ?? process.env.CCB_SERVER ?? DEFAULT_SERVER),
          adminToken: String(optionValue(command, 'adminToken') ?? process.env.CCB_ADMIN_TOKEN ?? 'dev-admin-token'),
          account: command.getOptionValue('account') as string,
          service: command.getOptionValue('service') as ServiceName | undefined,
          count,
          rate: command.getOptionValue('rate') as number | undefined,
          onProgress: (published) => bar?.update(published),
        });
        bar?.stop();
        process.stdout.write(json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
      } catch (error) {
        bar?.stop();
        if (!(error instanceof SimulationError)) throw error;
        if (json) process.stdout.write(`${JSON.stringify({ ...error.summary, error: error.message })}\n`);
        else process.stdout.write(formatSummary(error.summary));
        process.stderr.write(`Error: ${error.message}\n`);
        process.exitCode = 1;
      }
    });
}
