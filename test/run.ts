/**
 * `npm run test:fast`: the in-process test files (see test/tiers.ts) with CCB_TEST_TIER=fast, each
 * test limited to 60 s (test/test-timeout.mjs) so a hung one fails with its name. Extra arguments go
 * to `node --test` (e.g. `--test-name-pattern=replay`). Exits with the runner's status.
 *
 * Unlike `npm test`, which gives every file a process of its own, this runs the files in a few
 * batches, three batches at a time: each batch is one process that imports its files one after the
 * other, each file inside a suite named by its path (so its top-level hooks stay its own). Loading
 * the server's modules through tsx costs a process about 2 s of CPU, which across 60-odd files was
 * most of the tier's time on two cores; a file still gets its own servers, ports and databases.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fastTestFiles } from './tiers.js';

const CONCURRENCY = 3;
/** Batches per process slot: more even finishing times, at the cost of more process starts. */
const BATCHES_PER_SLOT = 2;

/**
 * Splits `files` into `count` batches of about equal weight (longest first, each to the lightest
 * batch so far); each batch keeps the files' own order.
 */
export function batchFiles(files: string[], count: number, weight: (file: string) => number): string[][] {
  const batches = Array.from({ length: Math.min(count, files.length) }, () => ({ files: [] as string[], weight: 0 }));
  const heaviestFirst = [...files].sort((a, b) => weight(b) - weight(a));
  for (const file of heaviestFirst) {
    const lightest = batches.reduce((a, b) => (b.weight < a.weight ? b : a));
    lightest.files.push(file);
    lightest.weight += weight(file);
  }
  return batches.map((batch) => files.filter((file) => batch.files.includes(file)));
}

/**
 * What each file weighs for the batches: the seconds it took in the last full run of the tier where
 * known, else its size in bytes at the seconds per byte of the files that were timed (size alone if
 * none was).
 */
export function fileWeights(
  files: string[],
  lastTimes: Record<string, number>,
  size: (file: string) => number,
): (file: string) => number {
  const timed = files.filter((file) => typeof lastTimes[file] === 'number');
  const timedSize = timed.reduce((sum, file) => sum + size(file), 0);
  const perByte = timedSize > 0 ? timed.reduce((sum, file) => sum + lastTimes[file], 0) / timedSize : 1;
  return (file) => (typeof lastTimes[file] === 'number' ? lastTimes[file] : size(file) * perByte);
}

/** The source of a batch's entry file: one suite per test file, named by its path, that imports it. */
export function batchEntry(root: string, files: string[]): string {
  const suites = files.map(
    (file) =>
      `describe(${JSON.stringify(file)}, async () => {\n  await import(${JSON.stringify(pathToFileURL(join(root, file)).href)});\n});`,
  );
  return ["import { describe } from 'node:test';", '', ...suites, ''].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const files = fastTestFiles(root);
  const dir = mkdtempSync(join(tmpdir(), 'ccb-test-fast-'));
  // The times of the last full run even out the batches (node_modules/.cache, never committed).
  const cache = join(root, 'node_modules/.cache/ccb-test-fast');
  const timesFile = join(cache, 'file-times.json');
  const lastTimes = existsSync(timesFile)
    ? (JSON.parse(readFileSync(timesFile, 'utf8')) as Record<string, number>)
    : {};
  const weight = fileWeights(files, lastTimes, (file) => statSync(join(root, file)).size);
  const batchWeight = (batch: string[]) => batch.reduce((sum, file) => sum + weight(file), 0);
  // Heaviest first: the runner starts them in this order, so the light ones fill the gaps at the end.
  const batches = batchFiles(files, CONCURRENCY * BATCHES_PER_SLOT, weight).sort(
    (a, b) => batchWeight(b) - batchWeight(a),
  );
  // A filtered run (extra arguments) times only part of each file: it leaves the times as they were.
  const filtered = process.argv.length > 2;
  const newTimes = join(dir, 'file-times.json');
  const entries = batches.map((batch, i) => {
    const entry = join(dir, `batch-${i + 1}.test.mjs`);
    writeFileSync(entry, batchEntry(root, batch));
    return entry;
  });
  const child = spawn(
    process.execPath,
    [
      '--conditions=ccb-source',
      '--import',
      'tsx',
      '--import',
      './test/test-timeout.mjs',
      '--test',
      `--test-concurrency=${CONCURRENCY}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=./test/summary-reporter.mjs',
      '--test-reporter-destination=stdout',
      ...(filtered
        ? []
        : ['--test-reporter=./test/file-times-reporter.mjs', `--test-reporter-destination=${newTimes}`]),
      ...process.argv.slice(2),
      ...entries,
    ],
    { cwd: root, stdio: 'inherit', env: { CCB_TEST_TIMEOUT_MS: '60000', ...process.env, CCB_TEST_TIER: 'fast' } },
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (!filtered && existsSync(newTimes)) {
      mkdirSync(cache, { recursive: true });
      writeFileSync(timesFile, readFileSync(newTimes));
    }
    rmSync(dir, { recursive: true, force: true });
    process.exitCode = code ?? (signal ? 1 : 0);
  });
}
