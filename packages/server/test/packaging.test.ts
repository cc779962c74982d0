import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import semver from 'semver';
import { startTestServer, type TestServer } from './helpers.js';

const ROOT = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');

describe('what a fresh clone installs and documents', () => {
  it('installs only packages whose engines admit Node 20 and Node 24 (npm install prints no engine warning)', () => {
    const lock = JSON.parse(read('package-lock.json')) as {
      packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
    };
    const refusing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!path || !range) continue;
      for (const node of ['20.19.0', '24.11.0']) {
        if (!semver.satisfies(node, range)) refusing.push(`${path}@${entry.version} needs node ${range} (${node})`);
      }
    }
    assert.deepEqual(refusing, []);
  });

  it('keeps the performance figures in docs/benchmarks.md only, and links to them', () => {
    // A throughput, a per-delivery cost or a ratio against a peer: the figures that go out of date.
    const figure =
      /\d[\d,.]*(?:–\d[\d,.]*)?\s*(?:(?:k?\/s|deliveries per second|messages per second|µs)\b|× (?:graphile|BullMQ|the sender))/;
    // Scaling out's capacity model is arithmetic on rates a reader plans for (SPEC §8), from inputs
    // that do not depend on the machine (WAL bytes per delivery): its section is left out.
    const withoutCapacityModel = (text: string) => text.replace(/^## Capacity of one primary\n[\s\S]*?(?=^## )/m, '');
    for (const page of ['README.md', 'docs/operations.md', 'docs/scaling-out.md']) {
      const text = read(page);
      const found = withoutCapacityModel(text)
        .split('\n')
        .filter((line) => figure.test(line));
      assert.deepEqual(found, [], `${page} quotes figures`);
      assert.match(text, /\]\((?:docs\/)?benchmarks\.md#latest-figures\)/, `${page} links to the figures`);
    }
  });

  it('tells a new user what to do when port 8080 is taken', () => {
    const readme = read('README.md');
    assert.match(readme, /Port 8080 taken/);
    assert.match(readme, /npm start -- --port 8081/);
    assert.match(readme, /CCB_SERVER=http:\/\/127\.0\.0\.1:8081/);
  });
});

describe("the Docker image's health check", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ dev: false });
  });
  after(() => server.close());

  /** The `node -e` script of the Dockerfile's HEALTHCHECK, run as Docker would run it with `env`. */
  const healthCheck = (env: Record<string, string>) => {
    const line = read('Dockerfile')
      .split('\n')
      .find((l) => l.startsWith('HEALTHCHECK'));
    const script = /CMD node -e "(.*)"$/.exec(line ?? '')?.[1];
    assert.ok(script, `a node -e health check in ${line}`);
    const clean = { ...process.env, PORT: undefined, CCB_PORT: undefined, ...env };
    // Asynchronous: the server answering the check runs in this process.
    const child = spawn(process.execPath, ['-e', script], { env: clean, timeout: 30_000, stdio: 'ignore' });
    return new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  };

  it('checks the port the server listens on (PORT, else CCB_PORT), not a fixed 8080', async () => {
    const { port } = new URL(server.baseUrl);
    assert.equal(await healthCheck({ PORT: port }), 0);
    assert.equal(await healthCheck({ CCB_PORT: port }), 0);
    // Nothing listens on port 9 (discard): the check fails, as it must when the server is down.
    assert.equal(await healthCheck({ PORT: '9' }), 1);
  });
});
