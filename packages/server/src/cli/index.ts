import { ConfigError, readSettings } from '../settings.js';
import { buildProgram } from './program.js';
import { CLI_SETTINGS } from './settings.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    // Configuration and start-up problems are the user's to fix: the message, not a stack trace.
    const message = error instanceof Error ? error.message : String(error);
    console.error(`Error: ${message}`);
    if (!(error instanceof ConfigError) && readSettings(CLI_SETTINGS).debug && error instanceof Error) {
      console.error(error.stack);
    }
    process.exit(1);
  });
