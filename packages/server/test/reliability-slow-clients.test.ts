// test tier: full (starts ccb serve processes)
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { eventually } from './helpers.js';
import { ADMIN_HEADERS, processFixture, type ServerProcess, spawnServer } from './server-process.js';

/** Slow clients at once: half trickle their headers, half their body. */
const SLOW_CLIENTS = 200;
/** Each slow client sends one more byte this often, for at most this many bytes. */
const TRICKLE_MS = 300;
const TRICKLE_BYTES = 200;

interface SlowClient {
  socket: Socket;
  received: string;
  closed: Promise<void>;
  stop(): void;
}

/** A slowloris client: the start of a request, then one byte every TRICKLE_MS, bounded in count. */
function slowClient(baseUrl: string, kind: 'headers' | 'body'): Promise<SlowClient> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let timer: NodeJS.Timeout | undefined;
    const client: SlowClient = {
      socket,
      received: '',
      closed: new Promise((done) => socket.once('close', () => done())),
      stop() {
        clearInterval(timer);
        socket.destroy();
      },
    };
    socket.on('data', (chunk: Buffer) => {
      client.received += chunk.toString('utf8');
    });
    socket.on('close', () => clearInterval(timer));
    socket.once('error', () => {});
    socket.once('connect', () => {
      const start =
        kind === 'headers'
          ? 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n'
          : `POST /admin/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${ADMIN_HEADERS.authorization}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${TRICKLE_BYTES * 10}\r\n\r\n{"accountName":`;
      socket.write(start);
      let sent = 0;
      timer = setInterval(() => {
        if (socket.destroyed || ++sent > TRICKLE_BYTES) return clearInterval(timer);
        socket.write(kind === 'headers' ? 'X' : ' ');
      }, TRICKLE_MS);
      resolve(client);
    });
    socket.once('error', reject);
  });
}

async function healthz(baseUrl: string): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  const response = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
  await response.text();
  return { status: response.status, ms: Date.now() - started };
}

describe('reliability: slow clients (issue 12, defect 4)', () => {
  const fixture = processFixture('ccb-slow-');
  const clients: SlowClient[] = [];
  after(async () => {
    for (const client of clients) client.stop();
    await fixture.cleanUp();
  });

  async function burst(server: ServerProcess): Promise<SlowClient[]> {
    const opened = await Promise.all(
      Array.from({ length: SLOW_CLIENTS }, (_, i) => slowClient(server.baseUrl, i % 2 === 0 ? 'headers' : 'body')),
    );
    clients.push(...opened);
    return opened;
  }

  it('keeps /healthz answering through a slowloris burst and cuts every slow client with 408', async () => {
    const server = await spawnServer(fixture.dbPath, [], {
      CCB_HEADERS_TIMEOUT: '1s',
      CCB_REQUEST_TIMEOUT: '2s',
    });
    fixture.servers.push(server);
    const opened = await burst(server);

    for (let i = 0; i < 3; i++) {
      const { status, ms } = await healthz(server.baseUrl);
      assert.equal(status, 200);
      assert.ok(ms < 2_000, `/healthz took ${ms} ms during the burst`);
    }
    // Each slow client is cut after its timeout (plus Node's one-second check interval), long before it
    // would have finished trickling (TRICKLE_BYTES × TRICKLE_MS = 60 s).
    await eventually(() => opened.every((client) => client.socket.destroyed), {
      timeout: 20_000,
      what: () => `slow clients cut (${opened.filter((c) => c.socket.destroyed).length} of ${opened.length})`,
    });
    const answered = opened.filter((client) => client.received !== '');
    assert.ok(answered.length > 0, 'the server answered the cut clients');
    for (const client of answered) {
      assert.match(client.received, /^HTTP\/1\.1 408 /);
      assert.match(client.received, /"errorCode":"REQUEST_FAILED\.RequestTimeout"/);
    }
    assert.equal((await healthz(server.baseUrl)).status, 200);
  });

  it('ends on SIGTERM within the shutdown grace although slow clients never finish', async () => {
    const graceMs = 2_000;
    const server = await spawnServer(fixture.dbPath, [], {
      // Long enough that only the grace period can end these requests.
      CCB_HEADERS_TIMEOUT: '60s',
      CCB_REQUEST_TIMEOUT: '120s',
      CCB_SHUTDOWN_GRACE: `${graceMs}ms`,
    });
    fixture.servers.push(server);
    const opened = await burst(server);
    assert.equal((await healthz(server.baseUrl)).status, 200);

    const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
      server.child.once('exit', (code) => resolve({ code, at: Date.now() })),
    );
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    const { code, at } = await Promise.race([
      exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 20 s of SIGTERM')), 20_000)),
    ]);
    assert.equal(code, 0);
    assert.ok(at - signalled < graceMs + 5_000, `exit took ${at - signalled} ms`);
    await Promise.all(opened.map((client) => client.closed));
  });
});
