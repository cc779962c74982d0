import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { banner } from '../banner.js';
import { ConfigError, DEFAULT_ALLOWED_PORTS, DEFAULT_RETRY_SCHEDULE, type ServeFlags } from '../config.js';
import { resolveConfig } from '../dev.js';
import { startServer } from '../server.js';
import { registerCallbacksCommand } from './callbacks.js';
import { registerListenCommand } from './listen.js';
import { registerMessagesCommand } from './messages.js';
import { registerPublishCommand } from './publish.js';
import { registerSimulateCommand } from './simulate.js';

const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

const SERVE_ENVIRONMENT = `
Environment (flags win over environment, environment over defaults):
  CCB_DEV=1                    same as --dev
  PORT, CCB_PORT               --port (default 8080)
  HOST, CCB_HOST               --host (default 127.0.0.1)
  DATABASE_URL                 --db (default sqlite:./data/ccb.sqlite)
  CCB_ROLE                     --role (default all)
  CCB_ADMIN_TOKEN              bearer token of /admin/v1 (required without --dev)
  CCB_ENCRYPTION_KEY           32 bytes as hex or base64 (required without --dev)
  CCB_ALLOWED_PORTS            listener ports (default ${DEFAULT_ALLOWED_PORTS}; "any" lifts the rule)
  CCB_ALLOW_PRIVATE_TARGETS=1  allow private listener addresses (RFC 1918, fc00::/7)
  CCB_ALLOW_LOOPBACK_TARGETS=1 allow loopback listener addresses (always on with --dev)
  CCB_RETRY_SCHEDULE           --retry-schedule (default ${DEFAULT_RETRY_SCHEDULE})
  CCB_ATTEMPT_TIMEOUT          --attempt-timeout (default 15s)
  CCB_CONCURRENCY              --concurrency (default 256)
  CCB_ORIGIN_CONCURRENCY       --origin-concurrency (default 64)
  CCB_BATCH_SIZE, CCB_POLL_INTERVAL                 delivery claiming (default 200, 1s)
  CCB_RETENTION_DELIVERED, CCB_RETENTION_FAILED     retention (default 7d, 30d)
  CCB_PURGE_INTERVAL                                retention purge interval (default 1h)
  CCB_HEADERS_TIMEOUT, CCB_REQUEST_TIMEOUT          time to receive headers / a whole request (default 10s, 30s)
  CCB_KEEP_ALIVE_TIMEOUT, CCB_MAX_CONNECTIONS       idle connection close, open connections (default 5s, 4096)
  CCB_SHUTDOWN_GRACE                                on SIGTERM, cut connections still open after (default 10s)
  CCB_LOG_LEVEL, LOG_LEVEL     log level (default info)
`;

export function buildProgram(): Command {
  const program = new Command('ccb')
    .version(VERSION)
    .description('Connectivity Callbacks: a ThingSpace-compatible callback server, its CLI and tools');

  program
    .command('serve')
    .description('Run the server: registration API, admin API and delivery engine')
    .option('--dev', 'dev profile: seeds a demo client, user and admin token, allows loopback listeners')
    .option('--port <port>', 'port to listen on (0 = any free port)')
    .option('--host <host>', 'address to listen on')
    .option('--db <url>', 'database: sqlite:<path>')
    .addOption(
      new Option('--role <role>', 'api serves HTTP, worker delivers, all does both').choices(['api', 'worker', 'all']),
    )
    .option('--retry-schedule <delays>', 'delays between attempts, e.g. 5s,5m,30m,2h')
    .option('--attempt-timeout <duration>', 'time allowed for one delivery attempt, e.g. 15s')
    .option('--concurrency <n>', 'deliveries in flight at once')
    .option('--origin-concurrency <n>', 'deliveries in flight per listener origin')
    .addHelpText('after', SERVE_ENVIRONMENT)
    .action(async (flags: ServeFlags) => {
      const config = resolveConfig(flags, process.env);
      const server = await startServer(config);
      process.stdout.write(banner(server, VERSION));

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(1);
        stopping = true;
        server.ctx.logger.info({ signal }, 'shutting down');
        server.close().then(
          () => process.exit(0),
          (error) => {
            console.error(`ccb: shutdown failed: ${error instanceof Error ? error.message : error}`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });

  registerCallbacksCommand(program);
  registerPublishCommand(program);
  registerMessagesCommand(program);
  registerListenCommand(program);
  registerSimulateCommand(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    // Configuration and start-up problems are the user's to fix: the message, not a stack trace.
    const message = error instanceof Error ? error.message : String(error);
    console.error(`ccb: ${message}`);
    if (!(error instanceof ConfigError) && process.env.CCB_DEBUG === '1' && error instanceof Error) {
      console.error(error.stack);
    }
    process.exit(1);
  });
