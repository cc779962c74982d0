// test tier: full (starts processes that race to make the dev key)
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { devEncryptionKey } from '../src/dev.js';

const DEV = fileURLToPath(new URL('../src/dev.ts', import.meta.url));

/**
 * A process that makes the dev key of a folder each time it reads the folder's path on stdin, and
 * prints the key (or the error) as one line: several of them, given the same folder at the same moment,
 * race as instances started together do.
 */
function keyMaker(): { child: ChildProcess; next(): Promise<string> } {
  const script = `
    import { createInterface } from 'node:readline';
    const { devEncryptionKey } = await import(${JSON.stringify(DEV)});
    console.log('ready');
    for await (const dir of createInterface({ input: process.stdin })) {
      try { console.log(devEncryptionKey(dir).toString('hex')); } catch (error) { console.log('error: ' + error.message); }
    }`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return {
    child,
    async next() {
      const line = await lines.next();
      if (line.done) throw new Error('the key maker exited');
      return line.value;
    },
  };
}

describe('dev profile: the encryption key file', () => {
  const root = mkdtempSync(join(tmpdir(), 'ccb-dev-key-'));
  const makers: ReturnType<typeof keyMaker>[] = [];
  after(() => {
    for (const maker of makers) maker.child.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('is made once, 0600, and read back on the next start', () => {
    const dir = join(root, 'single');
    const key = devEncryptionKey(dir);
    assert.equal(key.length, 32);
    assert.equal(statSync(join(dir, 'encryption.key')).mode & 0o777, 0o600);
    assert.deepEqual(devEncryptionKey(dir), key);
    assert.deepEqual(readdirSync(dir), ['encryption.key'], 'no temporary file is left behind');
  });

  it('refuses a damaged key file with the way out', () => {
    const dir = join(root, 'damaged');
    devEncryptionKey(dir);
    writeFileSync(join(dir, 'encryption.key'), 'not a key\n');
    assert.throws(() => devEncryptionKey(dir), /does not hold a 32-byte hex key; delete it to make a new one/);
  });

  it('gives every instance started together the same key (processes racing on an empty folder)', async () => {
    const PROCESSES = 6;
    const ROUNDS = 30;
    makers.push(...Array.from({ length: PROCESSES }, keyMaker));
    for (const maker of makers) assert.equal(await maker.next(), 'ready');
    for (let round = 0; round < ROUNDS; round++) {
      const dir = join(root, `race-${round}`);
      // The same line to all at once: each creates the folder and the file, or reads the winner's.
      for (const maker of makers) maker.child.stdin?.write(`${dir}\n`);
      const keys = await Promise.all(makers.map((maker) => maker.next()));
      const stored = readFileSync(join(dir, 'encryption.key'), 'utf8').trim();
      assert.deepEqual(keys, Array(PROCESSES).fill(stored), `round ${round}`);
      assert.deepEqual(readdirSync(dir), ['encryption.key'], 'no temporary file is left behind');
    }
  });
});
