// test tier: full (runs the bench scripts as child processes)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const bench = (script: string, ...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join('bench', script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });

// The bench scripts' command lines: --help answers, bad flags are refused in one line before anything starts.
describe('bench command lines', () => {
  it('prints the usage for --help and exits 0', () => {
    const result = bench('cpu.ts', '--help');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /--single/);
    assert.match(result.stdout, /--rounds N/);
  });

  it('refuses an unknown flag with exit 2 and the usage', () => {
    const result = bench('run.ts', '--nope');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Unknown option '--nope'/);
    assert.match(result.stderr, /--only a,b/);
  });

  it('refuses a count that is not a positive whole number', () => {
    const result = bench('store.ts', '--rounds', '0');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--rounds must be a positive whole number, not "0"/);
  });
});
