/** The configuration table of docs/server-and-api.md, from SERVE_SETTINGS (written by doc-tables.ts). */
import { SERVE_SETTINGS } from '../src/config.js';
import { flagName, isSwitch, type Setting } from '../src/settings.js';
import { cell, code, table } from './markdown.js';

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
    return [flag, env, defaultCell(declaration), cell(declaration.description)];
  });
  return table(['flag', 'environment', 'default', 'meaning'], rows);
}
