/**
 * The test runner behind `npm test` (`test/run.ts all`, after the lint) and `npm run test:fast`
 * (`test/run.ts fast`: the in-process files of test/tiers.ts, with CCB_TEST_TIER=fast). Each test
 * without a timeout of its own gets one (test/test-timeout.mjs: 60 s in the fast tier, 300 s in the
 * whole suite) so a hung test fails with its name, and a file whose hung test left a timer or socket
 * behind still ends (`forceExit`). `--test-name-pattern=<regexp>` (repeatable) runs only the tests it
 * names, and test files named after the tier run alone. Exits with 1 when a test failed, or when
 * none ran (a file list or pattern that matches nothing).
 *
 * The files run in a few batches, three processes at a time: each batch is one process that imports
 * its files one after the other, each file inside a suite named by its path (so its top-level hooks
 * stay its own). Loading the server's modules through tsx costs a process about 2 s of CPU, which
 * one process per file spent 93 times; a file still gets its own servers, ports, databases, child
 * processes and browser. No test file changes process-wide state
 * (environment, global dispatcher, timers) for the files after it: that is what makes batches safe.
 *
 * Started with the node flags its test processes need, which they inherit:
 * `node --conditions=ccb-source --import tsx --import ./test/test-timeout.mjs test/run.ts <tier>`.
 */
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';
import { fileURLToPath, pathToFileURL } from 'node:url';
// @ts-expect-error: a reporter module of plain JavaScript, without types
import fileTimesReporter from './file-times-reporter.mjs';
// @ts-expect-error: a reporter module of plain JavaScript, without types
import summaryReporter from './summary-reporter.mjs';
import { fastTestFiles, testFiles } from './tiers.js';

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

/** What each tier runs with: which files, in which batches, with which reporters and per-test timeout. */
const TIERS = {
  fast: {
    env: { CCB_TEST_TIER: 'fast' },
    timeoutMs: 60_000,
    reporter: 'spec',
  },
  all: {
    env: {},
    timeoutMs: 300_000,
    reporter: 'tap',
  },
} as const;
type Tier = keyof typeof TIERS;

/**
 * The batches the runner starts, heaviest first: `node --test` starts them in this order, so the
 * light ones fill the gaps at the end.
 */
export function runPlan(files: string[], weight: (file: string) => number): string[][] {
  const batchWeight = (batch: string[]) => batch.reduce((sum, file) => sum + weight(file), 0);
  return batchFiles(files, CONCURRENCY * BATCHES_PER_SLOT, weight).sort((a, b) => batchWeight(b) - batchWeight(a));
}

const NAME_PATTERN = /^--test-name-pattern=(.+)$/;
const USAGE = 'usage: test/run.ts fast|all [--test-name-pattern=<regexp>]… [test file]…';

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [tierName, ...extra] = process.argv.slice(2);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const patterns = extra.flatMap((arg) => NAME_PATTERN.exec(arg)?.[1] ?? []);
  const chosen = extra.filter((arg) => !NAME_PATTERN.test(arg));
  if (tierName !== 'fast' && tierName !== 'all') {
    console.error(USAGE);
    process.exit(2);
  }
  for (const file of chosen) {
    if (!existsSync(file) || !/\.test\.[cm]?[jt]s$/.test(file)) {
      console.error(`not a test file: ${file}\n${USAGE}`);
      process.exit(2);
    }
  }
  // Files named on the command line (relative to where it runs), as paths relative to the root.
  const named = chosen.map((file) => relative(root, resolve(file)));
  const tier = TIERS[tierName as Tier];
  process.chdir(root);
  const files = named.length > 0 ? named : tierName === 'all' ? testFiles(root) : fastTestFiles(root);
  const dir = mkdtempSync(join(tmpdir(), 'ccb-test-run-'));
  // The times of this tier's last run on this machine (node_modules/.cache, never committed), else
  // those of a whole run on a two-core machine (test/file-times.json), even out the batches.
  const cache = join(root, 'node_modules/.cache/ccb-test-run');
  const timesFile = join(cache, `file-times-${tierName}.json`);
  const lastTimes = JSON.parse(
    readFileSync(existsSync(timesFile) ? timesFile : join(root, 'test/file-times.json'), 'utf8'),
  ) as Record<string, number>;
  const weight = fileWeights(files, lastTimes, (file) => statSync(join(root, file)).size);
  const entries = runPlan(files, weight).map((batch, i) => {
    const entry = join(dir, `batch-${i + 1}.test.mjs`);
    writeFileSync(entry, batchEntry(root, batch));
    return entry;
  });
  // The processes of the test files inherit this environment, and this process's node flags.
  process.env.CCB_TEST_TIMEOUT_MS ??= String(tier.timeoutMs);
  Object.assign(process.env, tier.env);
  const stream = run({
    files: entries,
    concurrency: CONCURRENCY,
    // A test that failed by its timeout may leave a timer or socket behind: its file still ends.
    forceExit: true,
    ...(patterns.length > 0 ? { testNamePatterns: patterns } : {}),
  });
  // Each reporter below listens to the stream's end through compose and pipeline: more than the default 10.
  stream.setMaxListeners(32);
  let failed = false;
  let passed = 0;
  stream.on('test:fail', (event) => {
    if (!event.todo) failed = true;
  });
  stream.on('test:pass', (event) => {
    // Not suites, nor (Node 22 and later) a file of no tests, reported as a test named by its path.
    if (!event.skip && !event.todo && event.details.type !== 'suite' && event.name !== event.file) passed++;
  });
  const reporters = [
    pipeline(stream.compose(tier.reporter === 'tap' ? tap : new spec()), process.stdout, { end: false }),
    pipeline(stream.compose(summaryReporter), process.stdout, { end: false }),
  ];
  // A filtered run times only part of the suite: it leaves the times as they were.
  if (patterns.length === 0 && chosen.length === 0) {
    const newTimes = join(dir, 'file-times.json');
    reporters.push(
      pipeline(stream.compose(fileTimesReporter), createWriteStream(newTimes)).then(() => {
        mkdirSync(cache, { recursive: true });
        writeFileSync(timesFile, readFileSync(newTimes));
      }),
    );
  }
  await Promise.all(reporters);
  rmSync(dir, { recursive: true, force: true });
  // A file list or name pattern that matches no test is a mistake, not a pass.
  if (passed === 0 && !failed) console.error('no test ran: check the test files and --test-name-pattern');
  process.exitCode = failed || passed === 0 ? 1 : 0;
}
