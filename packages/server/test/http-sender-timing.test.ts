import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HttpSender } from '../src/delivery/http-sender.js';
import { UrlGuard } from '../src/delivery/url-guard.js';

// The origin's own time the origin scheduler judges by: from the request's write to the response
// headers, not from the start of the attempt (which includes waiting for a connection).
describe('HttpSender time to first byte', () => {
  const server = createServer((_req, res) => {
    setTimeout(() => res.writeHead(200, { 'content-length': '0' }).end(), 100);
  });
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('counts from the write, so an attempt queued behind another is not the origin being slow', async () => {
    // One connection: the second request waits for the first's answer before it is written.
    const sender = new HttpSender({
      guard: new UrlGuard({ allowedPorts: null, allowLoopback: true, allowPrivate: false }),
      timeoutMs: 5_000,
      connectionsPerOrigin: 1,
    });
    try {
      const [first, second] = await Promise.all([sender.send(url, {}, '{}'), sender.send(url, {}, '{}')]);
      for (const result of [first, second]) {
        assert.equal(result.statusCode, 200);
        assert.ok((result.firstByteMs ?? 0) >= 90, `first byte after ${result.firstByteMs} ms`);
        assert.ok((result.firstByteMs ?? 0) <= result.latencyMs);
      }
      // The second attempt lasted two answers, of which the origin's own share was one.
      assert.ok(second.latencyMs >= 190, `second attempt ${second.latencyMs} ms`);
      assert.ok(
        (second.firstByteMs ?? 0) < second.latencyMs - 80,
        `first byte ${second.firstByteMs} of ${second.latencyMs} ms`,
      );
    } finally {
      await sender.close();
    }
  });

  it('has no first-byte time when no answer came', async () => {
    const sender = new HttpSender({
      guard: new UrlGuard({ allowedPorts: null, allowLoopback: true, allowPrivate: false }),
      timeoutMs: 1_000,
      connectionsPerOrigin: 1,
    });
    try {
      // A port nobody listens on: refused before any write.
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const result = await sender.send(`http://127.0.0.1:${port}/cb`, {}, '{}');
      assert.equal(result.error?.kind, 'connection_refused');
      assert.equal(result.firstByteMs, undefined);
    } finally {
      await sender.close();
    }
  });
});
