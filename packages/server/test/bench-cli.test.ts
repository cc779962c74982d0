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

  it('describes the request-path mode of cpu.ts and refuses an unknown operation or a zero --seconds', () => {
    const help = bench('cpu.ts', '--help');
    assert.match(help.stdout, /--api/);
    assert.match(help.stdout, /--seconds N/);
    const only = bench('cpu.ts', '--api', '--only', 'list,nope');
    assert.equal(only.status, 2);
    assert.match(only.stderr, /--only takes list, register and publish, not "nope"/);
    const seconds = bench('cpu.ts', '--api', '--seconds', '0');
    assert.equal(seconds.status, 2);
    assert.match(seconds.stderr, /--seconds must be a positive whole number, not "0"/);
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

  it('describes every section and the soak flags in npm run bench --help', () => {
    const result = bench('run.ts', '--help');
    assert.equal(result.status, 0, result.stderr);
    for (const section of ['api', 'delivery', 'latency', 'drain', 'isolation', 'ingest', 'postgres', 'controls']) {
      assert.match(result.stdout, new RegExp(`^  ${section} `, 'm'), section);
    }
    for (const flag of ['--quick', '--only', '--soak', '--minutes N', '--rate N', '--every N', '--retention D']) {
      assert.ok(result.stdout.includes(flag), flag);
    }
  });

  it('refuses soak flags without --soak, and --soak with --quick', () => {
    const alone = bench('run.ts', '--minutes', '3');
    assert.equal(alone.status, 2);
    assert.match(alone.stderr, /--minutes goes with --soak/);
    const mixed = bench('run.ts', '--soak', '--quick');
    assert.equal(mixed.status, 2);
    assert.match(mixed.stderr, /--soak runs alone/);
  });

  it('refuses a soak rate of zero and a retention that is not a duration, before starting anything', () => {
    const rate = bench('run.ts', '--soak', '--rate', '0');
    assert.equal(rate.status, 2);
    assert.match(rate.stderr, /--rate must be a positive whole number, not "0"/);
    const retention = bench('run.ts', '--soak', '--retention', 'soon');
    assert.equal(retention.status, 2);
    assert.match(retention.stderr, /--retention: .*"soon" is not a duration/);
  });
});
