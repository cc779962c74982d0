import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { batchEntry, batchFiles, fileWeights, runPlan } from '../../../test/run.js';
import { fastTestFiles, testFiles } from '../../../test/tiers.js';
import { childProcessTest } from './server-process.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** `test/run.ts all` with these arguments, as `npm test` starts it. */
function runTheRunner(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(
    process.execPath,
    [
      '--conditions=ccb-source',
      '--import',
      'tsx',
      '--import',
      './test/test-timeout.mjs',
      'test/run.ts',
      'all',
      ...args,
    ],
    { cwd: ROOT, encoding: 'utf8', env, timeout: 60_000 },
  );
}

describe('test tiers', () => {
  it('runs every file without a `// test tier: full` line, outside the reliability suite, in the fast tier', () => {
    const all = testFiles(ROOT);
    const fast = new Set(fastTestFiles(ROOT));
    assert.ok(all.length > fast.size && fast.size > 0);
    for (const file of all) {
      const full =
        /^\/\/ test tier: full\b/m.test(readFileSync(join(ROOT, file), 'utf8')) || /\/reliability-[^/]*$/.test(file);
      assert.equal(fast.has(file), !full, file);
    }
    assert.ok(fast.has('packages/server/test/test-tiers.test.ts'));
    assert.ok(!fast.has('packages/server/test/cli-serve.test.ts'));
  });

  it("batches the fast tier: every file once, batches of about equal weight, each in the files' order", () => {
    const files = ['a.test.ts', 'b.test.ts', 'c.test.ts', 'd.test.ts', 'e.test.ts', 'f.test.ts'];
    const weights: Record<string, number> = {
      'a.test.ts': 9,
      'b.test.ts': 1,
      'c.test.ts': 5,
      'd.test.ts': 4,
      'e.test.ts': 1,
      'f.test.ts': 8,
    };
    const batches = batchFiles(files, 3, (file) => weights[file]);
    assert.deepEqual(batches.flat().sort(), files);
    const sums = batches.map((batch) => batch.reduce((sum, file) => sum + weights[file], 0));
    assert.ok(Math.max(...sums) - Math.min(...sums) <= 1, JSON.stringify(batches));
    for (const batch of batches) assert.deepEqual(batch, [...batch].sort());
    assert.deepEqual(
      batchFiles(['a.test.ts'], 3, () => 1),
      [['a.test.ts']],
    );
    const plan = runPlan(files, (file) => weights[file]);
    assert.deepEqual(plan.flat().sort(), files);
    const planSums = plan.map((batch) => batch.reduce((sum, file) => sum + weights[file], 0));
    assert.deepEqual(
      planSums,
      [...planSums].sort((a, b) => b - a),
      'heaviest batch first',
    );
  });

  it("weighs a file by its time in the last run, or by its size at the timed files' seconds per byte", () => {
    const sizes: Record<string, number> = { 'a.test.ts': 1_000, 'b.test.ts': 3_000, 'new.test.ts': 2_000 };
    const weight = fileWeights(Object.keys(sizes), { 'a.test.ts': 4, 'b.test.ts': 4 }, (file) => sizes[file]);
    assert.equal(weight('a.test.ts'), 4);
    assert.equal(weight('b.test.ts'), 4);
    assert.equal(weight('new.test.ts'), 2_000 * (8 / 4_000));
    assert.equal(fileWeights(['a.test.ts'], {}, (file) => sizes[file])('a.test.ts'), 1_000);
  });

  it('runs each file of a batch in a suite of its own, so its top-level hooks stay its own', childProcessTest, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-batch-'));
    try {
      for (const name of ['first', 'second']) {
        writeFileSync(
          join(dir, `${name}.test.mjs`),
          [
            "import assert from 'node:assert/strict';",
            "import { before, it } from 'node:test';",
            // One process: the last hook to run before a test is what it sees.
            `before(() => { globalThis.seen = '${name}'; });`,
            'await Promise.resolve();',
            `it('sees its own before hook', () => assert.equal(globalThis.seen, '${name}'));`,
          ].join('\n'),
        );
      }
      const entry = join(dir, 'batch.test.mjs');
      writeFileSync(entry, batchEntry(dir, ['first.test.mjs', 'second.test.mjs']));
      const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
      const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', entry], {
        encoding: 'utf8',
        env,
        timeout: 60_000,
      });
      assert.equal(run.status, 0, run.stdout);
      assert.match(run.stdout, /ok \d+ - first\.test\.mjs/);
      assert.match(run.stdout, /ok \d+ - second\.test\.mjs/);
      assert.match(run.stdout, /# pass 2\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails a hung test with its name and runs the rest of its file', childProcessTest, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-timeout-'));
    try {
      const file = join(dir, 'hang.test.mjs');
      writeFileSync(
        file,
        [
          "import { it } from 'node:test';",
          "it('hangs forever', () => new Promise((resolve) => setTimeout(resolve, 600_000)));",
          "it('still runs after it', () => {});",
          "it('keeps its own timeout', { timeout: 5_000 }, () => new Promise((resolve) => setTimeout(resolve, 1_500)));",
        ].join('\n'),
      );
      // The runner tells the processes of test files what they are by NODE_TEST_CONTEXT; this one is a runner.
      const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
      // The runner of npm test, on this one file: the hung test's timer would keep its process alive for 600 s.
      const run = runTheRunner([file], { ...env, CCB_TEST_TIMEOUT_MS: '1000' });
      assert.equal(run.signal, null, 'the run ended by itself, not by the 60 s limit');
      assert.equal(run.status, 1, run.stdout);
      assert.match(run.stdout, /not ok \d+ - hangs forever\n[\s\S]*?test timed out after 1000ms/);
      assert.match(run.stdout, /\n\s*ok \d+ - still runs after it/);
      assert.match(run.stdout, /\n\s*ok \d+ - keeps its own timeout/);
      assert.match(run.stdout, /\n3 tests: 2 passed, 1 failed, 0 skipped/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails a run in which no test ran (a name pattern that matches nothing)', childProcessTest, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccb-none-'));
    try {
      const file = join(dir, 'one.test.mjs');
      writeFileSync(file, "import { it } from 'node:test';\nit('passes', () => {});\n");
      const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
      const none = runTheRunner(['--test-name-pattern=^nothing by this name$', file], env);
      assert.equal(none.status, 1, none.stdout);
      assert.match(none.stderr, /no test ran/);
      const one = runTheRunner(['--test-name-pattern=^passes$', file], env);
      assert.equal(one.status, 0, one.stdout + one.stderr);
      assert.match(one.stdout, /\n1 test: 1 passed, 0 failed, 0 skipped/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
