// test tier: full (runs the docs' commands as child processes)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startListener } from './delivery-fixtures.js';
import { startTestServer } from './helpers.js';

// Every ```sh runnable block of README.md and docs/*.md runs here, as printed, against a fresh dev
// server (docs/development.md explains the rules for writing one).
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOCS_SERVER = 'http://127.0.0.1:8080';
const DOCS_LISTENER = 'http://127.0.0.1:9001';

interface Block {
  line: number;
  code: string;
}

function runnableBlocks(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh runnable') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    assert.ok(end < lines.length, `${file}:${i + 1}: a runnable block is not closed`);
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

function bash(script: string, env: Record<string, string>, timeoutMs: number) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((name) => `docs/${name}`)].filter((file) =>
  file.endsWith('.md'),
);

describe('runnable blocks of the docs', () => {
  it('the README and the docs hold runnable blocks', () => {
    assert.ok(runnableBlocks('README.md').length > 0, 'the README tour is runnable');
  });

  for (const file of pages) {
    const blocks = runnableBlocks(file);
    if (blocks.length === 0) continue;
    it(`${file}: ${blocks.length} runnable block(s) succeed in order`, async () => {
      const server = await startTestServer({ env: { CCB_ALLOWED_PORTS: 'any' } });
      const listener = await startListener(() => ({ status: 204 }));
      try {
        const listenerUrl = `http://127.0.0.1:${listener.port}`;
        const script = [
          // A refused request fails the block (the printed `curl -s` would only show the error body).
          'curl() { command curl --fail-with-body "$@"; }',
          ...blocks.map(
            (block) =>
              `echo "--- ${file}:${block.line}" >&2\n` +
              block.code.replaceAll(DOCS_SERVER, server.baseUrl).replaceAll(DOCS_LISTENER, listenerUrl),
          ),
        ].join('\n');
        const result = await bash(script, { CCB_SERVER: server.baseUrl }, 120_000);
        assert.equal(
          result.code,
          0,
          `a runnable block of ${file} failed (the last --- line names it; npx ccb runs the built CLI, so run ` +
            `npm run build after changing the server's source):\n${result.output}`,
        );
      } finally {
        await listener.close();
        await server.close();
      }
    });
  }
});
