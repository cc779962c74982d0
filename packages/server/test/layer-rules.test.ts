import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { childProcessTest } from './server-process.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIOME = join(ROOT, 'node_modules/.bin/biome');

/**
 * A temporary folder with a copy of the repository's biome.json (made before the suite's tests, removed
 * after them), where `lint` writes one probe file, lints it alone and removes it.
 */
function biomeSandbox(prefix: string): {
  lint(file: string, source: string): { status: number | null; output: string };
} {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8'));
    delete config.$schema;
    writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    lint(file, source) {
      const path = join(dir, file);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, source);
      try {
        const lint = spawnSync(BIOME, ['lint', '--colors=off', file], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
        return { status: lint.status, output: lint.stdout + lint.stderr };
      } finally {
        rmSync(path);
      }
    },
  };
}

/**
 * The layer table of CONTRIBUTING.md is Biome's noRestrictedImports, per folder (biome.json). Each
 * case lints one probe file, placed where the import would be, under a copy of the repository's
 * biome.json in a temporary folder: what breaks the table fails `npm run lint`, what it allows passes.
 */
const CASES: { file: string; imports: string; allowed: boolean }[] = [
  { file: 'packages/server/src/services/probe.ts', imports: '../delivery/attempt-stage.js', allowed: false },
  { file: 'packages/server/src/services/probe.ts', imports: '../store/sqlite/messages.js', allowed: false },
  { file: 'packages/server/src/services/probe.ts', imports: '../domain/statuses.js', allowed: true },
  { file: 'packages/server/src/delivery/probe.ts', imports: '../context.js', allowed: false },
  { file: 'packages/server/src/delivery/probe.ts', imports: '../services/messages.js', allowed: true },
  { file: 'packages/server/src/domain/probe.ts', imports: '../store/types.js', allowed: false },
  { file: 'packages/server/src/common/probe.ts', imports: '../delivery/index.js', allowed: false },
  { file: 'packages/server/src/store/probe.ts', imports: '../services/messages.js', allowed: false },
  { file: 'packages/server/src/store/sqlite/probe.ts', imports: '../postgres/messages.js', allowed: false },
  { file: 'packages/server/src/store/sqlite/probe.ts', imports: '../../domain/statuses.js', allowed: true },
  { file: 'packages/server/src/api/probe.ts', imports: '../delivery/index.js', allowed: false },
  { file: 'packages/server/src/cli/probe.ts', imports: '../store/types.js', allowed: false },
  { file: 'packages/server/src/security/probe.ts', imports: '../config.js', allowed: false },
  { file: 'packages/server/src/access/probe.ts', imports: '../delivery/index.js', allowed: false },
  { file: 'packages/server/web/src/probe.ts', imports: '../../src/store/types', allowed: false },
  { file: 'packages/server/web/src/probe.ts', imports: '../../src/domain/statuses', allowed: true },
  { file: 'packages/server/web/src/probe.ts', imports: '../../src/api/views', allowed: true },
  { file: 'packages/server/web/src/probe.ts', imports: '../../src/api/message-schemas', allowed: false },
  { file: 'packages/sdk/src/auth/probe.ts', imports: '../http/request-core.js', allowed: false },
];

describe('layer rules (biome.json noRestrictedImports)', childProcessTest, () => {
  const sandbox = biomeSandbox('ccb-layers-');
  for (const { file, imports, allowed } of CASES) {
    it(`${allowed ? 'allows' : 'refuses'} ${imports} in ${dirname(file)}/`, () => {
      const { status, output } = sandbox.lint(
        file,
        `import { probe } from '${imports}';\n\nexport const used = probe;\n`,
      );
      if (allowed) {
        assert.equal(status, 0, output);
      } else {
        assert.equal(status, 1, output);
        assert.match(output, /lint\/style\/noRestrictedImports/);
        assert.match(output, /Layer rule \(CONTRIBUTING\.md, Layout\)/);
      }
    });
  }
});

/**
 * Five or more positional parameters are refused in the products' sources (biome.json useMaxParams,
 * CONTRIBUTING.md "Parameter objects"): such a function takes one object with named fields instead.
 */
const PARAMETER_CASES: { file: string; params: number; allowed: boolean }[] = [
  { file: 'packages/server/src/delivery/probe.ts', params: 5, allowed: false },
  { file: 'packages/sdk/src/probe.ts', params: 5, allowed: false },
  { file: 'packages/server/src/delivery/probe.ts', params: 4, allowed: true },
  { file: 'packages/server/test/probe.ts', params: 5, allowed: true },
];

describe('parameter objects (biome.json useMaxParams)', childProcessTest, () => {
  const sandbox = biomeSandbox('ccb-params-');
  for (const { file, params, allowed } of PARAMETER_CASES) {
    it(`${allowed ? 'allows' : 'refuses'} ${params} positional parameters in ${dirname(file)}/`, () => {
      const names = Array.from({ length: params }, (_, i) => `p${i}: number`);
      const sum = Array.from({ length: params }, (_, i) => `p${i}`).join(' + ');
      const { status, output } = sandbox.lint(
        file,
        `export function probe(${names.join(', ')}): number {\n  return ${sum};\n}\n`,
      );
      if (allowed) {
        assert.equal(status, 0, output);
      } else {
        assert.equal(status, 1, output);
        assert.match(output, /lint\/complexity\/useMaxParams/);
      }
    });
  }
});
