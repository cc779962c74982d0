// test tier: full (builds and loads the package in child processes)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The built package as users get it: plain `node`, without the `ccb-source` condition the other tests
 * use, from the repository root. Needs `npm run build -w @ccb/sdk` (done by `npm install`).
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));

const probe = `
  const client = new sdk.Client({
    baseUrl: 'http://127.0.0.1:1/api',
    thingspaceOauthCredentials: { oauthClientId: 'id', oauthClientSecret: 'secret' },
    vZM2mTokenCredentials: { 'VZ-M2M-Token': 'token' },
  });
  const rejection = await client.connectivityCallbacks.listRegisteredCallbacks('').catch((e) => e);
  console.log(JSON.stringify({
    resolved,
    Client: typeof sdk.Client,
    listRegisteredCallbacks: typeof client.connectivityCallbacks.listRegisteredCallbacks,
    production: sdk.Environment.Production,
    alias: sdk.ConnectivityManagementResultException === sdk.ConnectivityManagementResultError,
    argumentError: rejection instanceof sdk.ArgumentError && rejection instanceof TypeError,
    services: Array.isArray(sdk.SERVICES),
  }));
`;

function runNode(args: string[]): Record<string, unknown> {
  const { NODE_OPTIONS: _dropped, ...env } = process.env;
  const out = execFileSync(process.execPath, args, { cwd: repoRoot, env, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

const expected = {
  Client: 'function',
  listRegisteredCallbacks: 'function',
  production: 'production',
  alias: true,
  argumentError: true,
  services: true,
};

describe('@ccb/sdk as built', () => {
  before(() => {
    assert.ok(existsSync(`${dist}index.cjs`), `no build in ${dist}: run \`npm run build -w @ccb/sdk\` first`);
  });

  it("loads with require('@ccb/sdk') from CommonJS", () => {
    const script = `(async () => {
      const sdk = require('@ccb/sdk');
      const resolved = require.resolve('@ccb/sdk');
      ${probe}
    })().catch((e) => { console.error(e); process.exit(1); });`;
    const { resolved, ...rest } = runNode(['-e', script]);

    assert.match(String(resolved), /packages\/sdk\/dist\/index\.cjs$/);
    assert.deepEqual(rest, expected);
  });

  it("loads with import('@ccb/sdk') from an ES module", () => {
    const script = `
      const sdk = await import('@ccb/sdk');
      const resolved = import.meta.resolve('@ccb/sdk');
      ${probe}`;
    const { resolved, ...rest } = runNode(['--input-type=module', '-e', script]);

    assert.match(String(resolved), /packages\/sdk\/dist\/index\.js$/);
    assert.deepEqual(rest, expected);
  });

  it('ships type declarations for both', () => {
    for (const file of ['index.d.ts', 'index.d.cts']) {
      const declarations = readFileSync(`${dist}${file}`, 'utf8');
      assert.match(declarations, /declare class Client\b/, file);
      assert.match(declarations, /ConnectivityManagementResultException/, file);
    }
  });
});
