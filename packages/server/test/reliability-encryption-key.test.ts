import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { testDatabaseBackends } from './postgres.js';
import { killHard, registerAsDevUser, type ServerProcess, spawnServer } from './server-process.js';

const backends = await testDatabaseBackends();
const MISMATCH = /CCB_ENCRYPTION_KEY does not match the key this database was written with/;

/** Starts `ccb serve` with this key: the running process, or the output of one that exited instead. */
async function serveWithKey(databaseUrl: string, key: string): Promise<ServerProcess | { exited: string }> {
  try {
    return await spawnServer(databaseUrl, [], { CCB_ENCRYPTION_KEY: key });
  } catch (error) {
    return { exited: (error as Error).message };
  }
}
const isServing = (started: ServerProcess | { exited: string }): started is ServerProcess => 'child' in started;

describe('reliability: instances with different encryption keys on one database', { concurrency: 2 }, () => {
  for (const backend of backends) {
    describe(backend.name, { skip: backend.skip }, () => {
      const servers: ServerProcess[] = [];
      const cleanUps: (() => Promise<void>)[] = [];
      after(async () => {
        for (const server of servers) await killHard(server);
        for (const cleanUp of cleanUps) await cleanUp();
      });
      const database = async () => {
        const created = await backend.create();
        cleanUps.push(created.drop);
        return created.url;
      };

      it('lets exactly one of two instances started together on an empty database serve; the other exits with the reason', async () => {
        for (let round = 0; round < 2; round++) {
          const url = await database();
          const keys = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
          const started = await Promise.all(keys.map((key) => serveWithKey(url, key)));
          servers.push(...started.filter(isServing));
          const serving = started.filter(isServing);
          const exited = started.filter((s) => !isServing(s)) as { exited: string }[];
          assert.equal(serving.length, 1, `round ${round}: ${exited.map((e) => e.exited).join('\n')}`);
          assert.match(exited[0].exited, /exited with 1/);
          assert.match(exited[0].exited, MISMATCH);
          assert.doesNotMatch(exited[0].exited, new RegExp(`${keys[0]}|${keys[1]}`), 'no key in the output');
          // The winner keeps serving, and another instance with the winner's key joins it.
          const winnerKey = keys[started.indexOf(serving[0])];
          const joined = await serveWithKey(url, winnerKey);
          assert.ok(isServing(joined), isServing(joined) ? '' : joined.exited);
          servers.push(joined);
          assert.equal((await fetch(`${serving[0].baseUrl}/readyz`)).status, 200);
        }
      });

      it('refuses another key started after the first, before and after registrations exist', async () => {
        const url = await database();
        const key = randomBytes(32).toString('hex');
        const first = await serveWithKey(url, key);
        assert.ok(isServing(first));
        servers.push(first);
        const early = await serveWithKey(url, randomBytes(32).toString('hex'));
        assert.ok(!isServing(early) && MISMATCH.test(early.exited), 'refused with no registration yet');
        const registered = await registerAsDevUser(first.baseUrl, 'CarrierService', 'http://127.0.0.1:9/callbacks');
        assert.equal(registered.status, 200, await registered.text());
        const late = await serveWithKey(url, randomBytes(32).toString('hex'));
        assert.ok(!isServing(late) && MISMATCH.test(late.exited), 'refused with a registration');
      });

      if (backend.name === 'SQLite') {
        it('refuses another key on a copy of the database file', async () => {
          const url = await database();
          const key = randomBytes(32).toString('hex');
          const first = await serveWithKey(url, key);
          assert.ok(isServing(first));
          const exited = new Promise((resolve) => first.child.once('exit', resolve));
          first.child.kill('SIGTERM');
          await exited;
          const copyDir = mkdtempSync(join(tmpdir(), 'ccb-key-copy-'));
          cleanUps.push(async () => rmSync(copyDir, { recursive: true, force: true }));
          const source = url.slice('sqlite:'.length);
          for (const suffix of ['', '-wal']) {
            if (existsSync(`${source}${suffix}`))
              copyFileSync(`${source}${suffix}`, join(copyDir, `ccb.sqlite${suffix}`));
          }
          const copy = `sqlite:${join(copyDir, 'ccb.sqlite')}`;
          const other = await serveWithKey(copy, randomBytes(32).toString('hex'));
          assert.ok(!isServing(other) && MISMATCH.test(other.exited), 'refused on the copy');
          const same = await serveWithKey(copy, key);
          assert.ok(isServing(same), isServing(same) ? '' : same.exited);
          servers.push(same);
        });
      }
    });
  }
});
