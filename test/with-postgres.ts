/**
 * `node --import tsx test/with-postgres.ts <command> [args…]`: runs the command (the test runner)
 * with TEST_DATABASE_URL set to one throwaway PostgreSQL cluster for the whole run, so the test files
 * share it instead of each starting a cluster of its own (an initdb and a start, seconds each). With
 * TEST_DATABASE_URL already set, or no PostgreSQL installed, the command runs as it is (the test files
 * then skip, or fail under CI=true). Exits with the command's status.
 */
import { spawn } from 'node:child_process';
import { postgresBinaries, startThrowawayCluster } from './postgres-cluster.js';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node --import tsx test/with-postgres.ts <command> [args…]');
  process.exit(2);
}

const bin = process.env.TEST_DATABASE_URL ? null : postgresBinaries();
const cluster = bin ? await startThrowawayCluster(bin) : null;
process.once('exit', () => cluster?.stop());

const child = spawn(command, args, {
  stdio: 'inherit',
  env: cluster ? { ...process.env, TEST_DATABASE_URL: cluster.url } : process.env,
});
// Ctrl-C reaches the runner through the terminal; a signal sent to this process alone is passed on.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
