import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_PAGE, settingsTable, withSettingsTable } from '../scripts/docs-config.js';
import { SERVE_SETTINGS } from '../src/config.js';

describe('configuration table of the docs', () => {
  it('is the one written from the settings table (run npm run docs:config after changing a setting)', () => {
    const page = readFileSync(CONFIG_PAGE, 'utf8');
    assert.equal(page, withSettingsTable(page), `${CONFIG_PAGE} is out of date: run npm run docs:config`);
  });

  it('has a row naming every environment variable of ccb serve', () => {
    const table = settingsTable();
    const rows = table.split('\n').slice(2);
    assert.equal(rows.length, Object.keys(SERVE_SETTINGS).length);
    for (const declaration of Object.values(SERVE_SETTINGS)) {
      for (const name of declaration.env) assert.match(table, new RegExp(`\`${name}(=1)?\``), name);
    }
  });

  it('changes only the section between the markers', () => {
    const page = [
      'before',
      '<!-- settings:begin (written by npm run docs:config from packages/server/src/config.ts) -->',
    ];
    const written = withSettingsTable([...page, 'stale', '<!-- settings:end -->', 'after'].join('\n'));
    assert.equal(written, [...page, settingsTable(), '<!-- settings:end -->', 'after'].join('\n'));
    assert.throws(() => withSettingsTable('no markers here'), /markers/);
  });
});
