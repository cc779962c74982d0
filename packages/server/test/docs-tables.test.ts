import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DOC_TABLES, type DocTable, markers, pagePath, withTable } from '../scripts/doc-tables.js';
import { settingsTable } from '../scripts/docs-config.js';
import { attemptErrorsTable, errorCodesTable } from '../scripts/docs-errors.js';
import { ERRORS } from '../src/api/errors.js';
import { SERVE_SETTINGS } from '../src/config.js';
import { ATTEMPT_ERROR_KINDS } from '../src/domain/attempt-error.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A generated table's body rows, split into cells (a `\|` inside a cell is not a column break). */
function rows(table: string): string[][] {
  return table
    .split('\n')
    .slice(2)
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

describe('tables of the docs written from the code (npm run docs:tables)', () => {
  for (const table of DOC_TABLES) {
    it(`${table.page} has the ${table.name} table as ${table.source} declares it`, () => {
      const page = readFileSync(pagePath(table), 'utf8');
      assert.equal(page, withTable(page, table), `${table.page} is out of date: run npm run docs:tables`);
    });
  }

  it('has a row naming every environment variable of ccb serve', () => {
    const table = settingsTable();
    assert.equal(rows(table).length, Object.keys(SERVE_SETTINGS).length);
    for (const declaration of Object.values(SERVE_SETTINGS)) {
      for (const name of declaration.env) assert.match(table, new RegExp(`\`${name}(=1)?\``), name);
    }
  });

  it('has one row per error code, with the status the code is answered with, by status', () => {
    const table = rows(errorCodesTable());
    assert.deepEqual(
      table.map(([status, code]) => [Number(status), code.replaceAll('`', '')]).sort(),
      Object.values(ERRORS)
        .map((error) => [error.status, error.code])
        .sort(),
    );
    const statuses = table.map(([status]) => Number(status));
    assert.deepEqual(
      statuses,
      [...statuses].sort((a, b) => a - b),
    );
    for (const [, code, when] of table) assert.ok(when.length > 0, `${code} says when it is answered`);
  });

  it('names every attempt-error kind once', () => {
    const named = rows(attemptErrorsTable()).flatMap(([kinds]) => kinds.split(', ').map((k) => k.replaceAll('`', '')));
    assert.deepEqual([...named].sort(), [...ATTEMPT_ERROR_KINDS].sort());
  });

  it('changes only the section between the markers', () => {
    const table: DocTable = { page: 'p.md', name: 'probe', source: 'src/probe.ts', render: () => '| a |\n|---|' };
    const { begin, end } = markers(table);
    const written = withTable(['before', begin, 'stale', end, 'after'].join('\n'), table);
    assert.equal(written, ['before', begin, '| a |\n|---|', end, 'after'].join('\n'));
    assert.throws(() => withTable('no markers here', table), /markers/);
  });
});

describe('error codes named in the docs', () => {
  const pages = [
    ...readdirSync(`${ROOT}docs`)
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`),
    'README.md',
    'CONTRIBUTING.md',
  ];
  const statusOf = new Map<string, number>(Object.values(ERRORS).map((error) => [error.code, error.status]));

  it('are declared codes, and a status written before one is the one it is answered with', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const page of pages) {
      const text = readFileSync(ROOT + page, 'utf8');
      for (const match of text.matchAll(/(?<![\w.`])`?((?:INPUT_INVALID|REQUEST_FAILED)(?:\.[A-Za-z]+)+)/g)) {
        if (!statusOf.has(match[1])) wrong.push(`${page}: ${match[1]} is no error code`);
      }
      for (const match of text.matchAll(/\b(\d{3})\s+`?((?:INPUT_INVALID|REQUEST_FAILED)(?:\.[A-Za-z]+)+)/g)) {
        checked++;
        const status = statusOf.get(match[2]);
        if (status !== Number(match[1])) wrong.push(`${page}: ${match[1]} ${match[2]}, answered ${status}`);
      }
    }
    assert.deepEqual(wrong, []);
    assert.ok(checked > 10, `statuses beside codes found in the docs: ${checked}`);
  });
});
