import { Command, CommanderError } from 'commander';
import { applyCliConventions } from '../src/cli/options.js';
import type { CcbRun } from './server-process.js';

/** Adds a group of commands to a program (`registerCallbacksCommand`, `registerAccessCommands`, …). */
export type RegisterCommands = (program: Command) => void;

/**
 * Runs `ccb <args>` in this process with the given command groups, capturing what it prints, for tests
 * of what a client command does; a child process (`runCcb`) is for what only a process shows (its
 * environment, exit status, start-up). Commands print through the program's configured output and
 * fail through commander (`exitOverride`), so nothing is written to this process's stdout and it
 * does not exit. Settings not given as flags still come from this process's environment.
 */
export async function runCcbInProcess(commands: RegisterCommands[], args: string[]): Promise<CcbRun> {
  let stdout = '';
  let stderr = '';
  const program = applyCliConventions(
    new Command('ccb').exitOverride().configureOutput({
      writeOut: (text) => {
        stdout += text;
      },
      writeErr: (text) => {
        stderr += text;
      },
    }),
  );
  for (const register of commands) register(program);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof CommanderError) return { code: error.exitCode, stdout, stderr };
    throw error;
  }
}
