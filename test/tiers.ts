/**
 * The two test tiers. `npm test` runs every test file; `npm run test:fast` (test/run.ts fast) runs the
 * in-process ones: Fastify's `inject`, fake timers, SQLite, listeners on 127.0.0.1 — no child
 * process, no browser, no PostgreSQL. A test file that is about one of those says so in a line of
 * its own near the top:
 *
 *     // test tier: full (starts ccb serve processes)
 *
 * and a single test inside an in-process file passes `childProcessTest` (packages/server/test/
 * server-process.ts) as its options. In the fast tier `spawnCcb` throws and PostgreSQL is skipped, so
 * a test that forgot its mark fails with its name instead of slowing the tier.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TEST_DIRECTORIES = ['packages/sdk/test', 'packages/server/test'];
const FULL_TIER = /^\/\/ test tier: full\b/m;

/** Whether this process runs the fast tier (set by test/run.ts for the test files it starts). */
export const fastTier = process.env.CCB_TEST_TIER === 'fast';

/** Every test file, relative to `root`, in a stable order. */
export function testFiles(root: string): string[] {
  return TEST_DIRECTORIES.flatMap((dir) =>
    readdirSync(join(root, dir))
      .filter((name) => name.endsWith('.test.ts'))
      .sort()
      .map((name) => join(dir, name)),
  );
}

/**
 * The test files of the fast tier: those without a `// test tier: full` line. The reliability suite
 * (`reliability-*.test.ts`: faults, load, hostile clients) is full tier by its name.
 */
export function fastTestFiles(root: string): string[] {
  return testFiles(root).filter(
    (file) => !/(^|\/)reliability-[^/]*$/.test(file) && !FULL_TIER.test(readFileSync(join(root, file), 'utf8')),
  );
}
