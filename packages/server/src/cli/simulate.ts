import { examplePayload, SERVICE_NAMES, type ServiceName } from '@ccb/sdk';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { MessageReasons } from '../domain/reasons.js';
import { AdminApi } from './admin-api.js';
import { addConnectionOptions, connectionFrom, positiveInteger, serviceName } from './options.js';

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
  /** Time for the pacing, injectable so tests check it without waiting. */
  clock?: SimulationClock;
}

export interface SimulationClock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

const SYSTEM_CLOCK: SimulationClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface SimulationSummary {
  published: number;
  /** Messages the server did not take (the run stopped at a refused batch). */
  failed: number;
  /** Published messages that found no registered listener: stored as failed (no_registration). */
  noListener: number;
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
  const clock = options.clock ?? SYSTEM_CLOCK;
  const started = clock.now();
  let published = 0;
  let noListener = 0;
  const summary = (): SimulationSummary => {
    const elapsedMs = clock.now() - started;
    return {
      published,
      failed: options.count - published,
      noListener,
      elapsedMs: Math.round(elapsedMs),
      ratePerSecond: elapsedMs > 0 ? Math.round((published / elapsedMs) * 1000 * 10) / 10 : 0,
    };
  };

  while (published < options.count) {
    if (options.rate) {
      // Each batch starts when the average rate allows it, so slow batches are caught up on, not lost.
      const due = started + (published / options.rate) * 1000;
      const wait = due - clock.now();
      if (wait > 0) await clock.sleep(wait);
    }
    const size = Math.min(batchSize, options.count - published);
    const messages = Array.from({ length: size }, (_, i) => {
      const serviceName = options.service ?? SERVICE_NAMES[(published + i) % SERVICE_NAMES.length];
      return {
        accountName: options.account,
        serviceName,
        payload: examplePayload(serviceName, { accountName: options.account }),
      };
    });
    try {
      const { messageIds, statuses } = await api.publishBatch(messages);
      published += messageIds?.length ?? messages.length;
      noListener += statuses?.filter((status) => status === 'failed').length ?? 0;
    } catch (error) {
      throw new SimulationError((error as Error).message, summary());
    }
    options.onProgress?.(published);
  }
  return summary();
}

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError('expected a number above 0.');
  return number;
}

function formatSummary(summary: SimulationSummary): string {
  const lines = [
    `Published ${summary.published.toLocaleString('en-US')} message${summary.published === 1 ? '' : 's'} ` +
      `in ${(summary.elapsedMs / 1000).toFixed(2)} s (${summary.ratePerSecond} msg/s)`,
  ];
  if (summary.noListener > 0) {
    lines.push(
      `${summary.noListener.toLocaleString('en-US')} stored as failed: ${MessageReasons.noRegistration} ` +
        '(no listener registered for the account and service; register one, then ccb messages replay --status failed)',
    );
  }
  if (summary.failed > 0) lines.push(`${summary.failed.toLocaleString('en-US')} not published`);
  return `${lines.join('\n')}\n`;
}

interface SimulateFlags {
  account: string;
  service?: ServiceName;
  count: number;
  rate?: number;
  json?: boolean;
}

/** `ccb simulate`: publishes example messages through the admin API. */
export function registerSimulateCommand(program: Command): void {
  const simulate = program
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
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `\nMessages go out in batches of up to ${MAX_BATCH_SIZE} (POST /admin/v1/messages/batch); with --rate the
batches are paced so the average rate holds. A progress bar shows on a terminal.

Examples:
  ccb simulate --account 0000123456-00001 --count 100
  ccb simulate --account 0000123456-00001 --service CarrierService --count 5000 --rate 500`,
    );
  addConnectionOptions(simulate, { uses: 'admin' }).action(async (flags: SimulateFlags, command: Command) => {
    const { json = false, count } = flags;
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
      const { server, adminToken } = connectionFrom(command);
      const summary = await runSimulation({
        server,
        adminToken,
        account: flags.account,
        service: flags.service,
        count,
        rate: flags.rate,
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
