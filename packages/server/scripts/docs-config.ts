/**
 * Writes the configuration table of docs/server-and-api.md from SERVE_SETTINGS, between its markers,
 * so the page cannot drift from the declaration (`npm run docs:config`; docs-config.test.ts fails when
 * the page is out of date).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SERVE_SETTINGS } from '../src/config.js';
import { flagName, isSwitch, type Setting } from '../src/settings.js';

export const CONFIG_PAGE = fileURLToPath(new URL('../../../docs/server-and-api.md', import.meta.url));
const BEGIN = '<!-- settings:begin (written by npm run docs:config from packages/server/src/config.ts) -->';
const END = '<!-- settings:end -->';

/** Text as it reads in a Markdown table cell (no HTML tags, no column breaks). */
function cell(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

function code(text: string): string {
  return `\`${text}\``;
}

function defaultCell(declaration: Setting<unknown>): string {
  if (isSwitch(declaration)) return declaration.devDefault === '1' ? 'off; on with `--dev`' : 'off';
  if (declaration.default === undefined) return cell((declaration.defaultText ?? '').replace(/^default: /, ''));
  const dev = declaration.devDefault === undefined ? '' : `; ${code(declaration.devDefault)} with \`--dev\``;
  return code(declaration.default) + dev;
}

/** The table, one row per setting of `ccb serve` in the order of its help. */
export function settingsTable(): string {
  const rows = Object.values(SERVE_SETTINGS).map((declaration: Setting<unknown>) => {
    const flag = declaration.flag ? code(flagName(declaration.flag)) : '';
    const env = declaration.env.map((name) => code(isSwitch(declaration) ? `${name}=1` : name)).join(', ');
    return `| ${[flag, env, defaultCell(declaration), cell(declaration.description)].join(' | ')} |`.replace(
      '|  |',
      '| |',
    );
  });
  return ['| flag | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** The page with the section between the markers replaced by the table. */
export function withSettingsTable(page: string): string {
  const begin = page.indexOf(BEGIN);
  const end = page.indexOf(END);
  if (begin === -1 || end < begin) throw new Error(`${CONFIG_PAGE}: the markers ${BEGIN} … ${END} are missing`);
  return `${page.slice(0, begin + BEGIN.length)}\n${settingsTable()}\n${page.slice(end)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const page = readFileSync(CONFIG_PAGE, 'utf8');
  const next = withSettingsTable(page);
  if (next !== page) writeFileSync(CONFIG_PAGE, next);
  console.log(next === page ? `${CONFIG_PAGE} is up to date` : `${CONFIG_PAGE}: configuration table written`);
}
