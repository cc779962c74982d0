/**
 * The docs' tables that are written from the code (`npm run docs:tables`), each between two markers
 * of its page, so a page cannot drift from the declaration it shows: the configuration of `ccb serve`
 * (config.ts), the error codes with their HTTP statuses (api/errors.ts) and the attempt-error kinds
 * (domain/attempt-error.ts). docs-tables.test.ts fails while a page differs from what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { settingsTable } from './docs-config.js';
import { attemptErrorsTable, errorCodesTable } from './docs-errors.js';

export interface DocTable {
  /** The page, from the repository's root. */
  page: string;
  /** The markers' name: `<!-- name:begin … -->` and `<!-- name:end -->`. */
  name: string;
  /** Where the facts are declared, from the repository's root (said in the begin marker). */
  source: string;
  render(): string;
}

export const DOC_TABLES: readonly DocTable[] = [
  { page: 'docs/server-and-api.md', name: 'settings', source: 'packages/server/src/config.ts', render: settingsTable },
  {
    page: 'docs/server-and-api.md',
    name: 'errors',
    source: 'packages/server/src/api/errors.ts',
    render: errorCodesTable,
  },
  {
    page: 'docs/delivery.md',
    name: 'attempt-errors',
    source: 'packages/server/src/domain/attempt-error.ts',
    render: attemptErrorsTable,
  },
];

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function pagePath(table: DocTable): string {
  return ROOT + table.page;
}

export function markers(table: DocTable): { begin: string; end: string } {
  return {
    begin: `<!-- ${table.name}:begin (written by npm run docs:tables from ${table.source}) -->`,
    end: `<!-- ${table.name}:end -->`,
  };
}

/** The page with the section between the table's markers replaced by the table. */
export function withTable(page: string, table: DocTable): string {
  const { begin, end } = markers(table);
  const from = page.indexOf(begin);
  const to = page.indexOf(end);
  if (from === -1 || to < from) throw new Error(`${table.page}: the markers ${begin} … ${end} are missing`);
  return `${page.slice(0, from + begin.length)}\n${table.render()}\n${page.slice(to)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const table of DOC_TABLES) {
    const path = pagePath(table);
    const page = readFileSync(path, 'utf8');
    const next = withTable(page, table);
    if (next !== page) writeFileSync(path, next);
    console.log(`${table.page} (${table.name}): ${next === page ? 'up to date' : 'written'}`);
  }
}
