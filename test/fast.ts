/**
 * `npm run test:fast`: the in-process test files (see test/tiers.ts) with CCB_TEST_TIER=fast, three
 * at a time, each test limited to 60 s (test/test-timeout.mjs) so a hung one fails with its name. Extra arguments go to
 * `node --test` (e.g. `--test-name-pattern=replay`). Exits with the runner's status.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { fastTestFiles } from './tiers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const child = spawn(
  process.execPath,
  [
    '--conditions=ccb-source',
    '--import',
    'tsx',
    '--import',
    './test/test-timeout.mjs',
    '--test',
    '--test-concurrency=3',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=./test/summary-reporter.mjs',
    '--test-reporter-destination=stdout',
    ...process.argv.slice(2),
    ...fastTestFiles(root),
  ],
  { cwd: root, stdio: 'inherit', env: { CCB_TEST_TIMEOUT_MS: '60000', ...process.env, CCB_TEST_TIER: 'fast' } },
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
