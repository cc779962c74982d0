import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fastTestFiles, testFiles } from '../../../test/tiers.js';
import { childProcessTest } from './server-process.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

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
      const run = spawnSync(
        process.execPath,
        ['--import', join(ROOT, 'test/test-timeout.mjs'), '--test', '--test-reporter=tap', file],
        { encoding: 'utf8', env: { ...env, CCB_TEST_TIMEOUT_MS: '1000' }, timeout: 60_000 },
      );
      assert.notEqual(run.status, 0);
      assert.match(run.stdout, /not ok \d+ - hangs forever\n[\s\S]*?test timed out after 1000ms/);
      assert.match(run.stdout, /\nok \d+ - still runs after it/);
      assert.match(run.stdout, /\nok \d+ - keeps its own timeout/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
