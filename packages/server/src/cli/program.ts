/** The `ccb` program: every command, one help format, one error style (cli/index.ts runs it). */
import { Command } from 'commander';
import { banner } from '../banner.js';
import { SERVE_SETTINGS } from '../config.js';
import { resolveConfig } from '../dev.js';
import { ConfigError, type Setting, settingNotes } from '../settings.js';
import { VERSION } from '../version.js';
import { registerAccessCommands } from './access.js';
import { registerCallbacksCommand } from './callbacks.js';
import { registerKeysCommands } from './keys.js';
import { registerListenCommand } from './listen.js';
import { registerMessagesCommand } from './messages.js';
import { addSettingOptions, applyCliConventions } from './options.js';
import { registerPublishCommand } from './publish.js';
import { registerSimulateCommand } from './simulate.js';

const SERVE_OPTIONS = Object.values(SERVE_SETTINGS).filter((setting) => setting.flag !== undefined);

/** The settings that only the environment sets, listed under the options of `ccb serve --help`. */
function environmentHelp(): string {
  const rows = Object.values(SERVE_SETTINGS as Record<string, Setting<unknown>>)
    .filter((setting) => setting.flag === undefined)
    .map((setting) => {
      const notes = settingNotes(setting).filter((note) => !note.startsWith('env: '));
      return [setting.env.join(' or '), `${setting.description}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`];
    });
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    '',
    'Environment (each option above also has its variable; flags win over environment, environment over defaults):',
    ...rows.map(([name, text]) => `  ${name.padEnd(width)}  ${text}`),
    '',
    'Examples:',
    '  ccb serve --dev',
    '  CCB_ADMIN_TOKEN=… CCB_ENCRYPTION_KEY=$(openssl rand -hex 32) ccb serve --db sqlite:/var/lib/ccb/ccb.sqlite',
  ].join('\n');
}

export function buildProgram(): Command {
  const program = applyCliConventions(
    new Command('ccb')
      .version(VERSION)
      .description('Connectivity Callbacks: a ThingSpace-compatible callback server, its CLI and tools'),
  );

  addSettingOptions(
    program.command('serve').description('Run the server: registration API, admin API and delivery engine'),
    SERVE_OPTIONS,
  )
    .addHelpText('after', environmentHelp())
    .action(async (flags: Record<string, unknown>) => {
      const config = resolveConfig(flags);
      // Loaded here, not at the top: the client commands start without the server's modules.
      const { startServer } = await import('../server.js');
      const server = await startServer(config).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EADDRINUSE') throw error;
        throw new ConfigError(
          `port ${config.port} on ${config.host} is already in use by another program: stop it, or start on another port with --port ${config.port === 8080 ? 8081 : 8080} (or PORT=…; --port 0 picks a free one)`,
        );
      });
      process.stdout.write(banner(server, VERSION));

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(1);
        stopping = true;
        server.ctx.logger.info({ signal }, 'shutting down');
        server.close().then(
          () => process.exit(0),
          (error) => {
            console.error(`Error: shutdown failed: ${error instanceof Error ? error.message : error}`);
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
  registerAccessCommands(program);
  registerKeysCommands(program);
  return program;
}
