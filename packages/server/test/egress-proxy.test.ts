import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import type { AppContext } from '../src/context.js';
import { type Delivery, startDelivery } from '../src/delivery/index.js';
import { UrlGuard } from '../src/delivery/url-guard.js';
import { publish, register, startListener, type TestListener, waitForMessage } from './delivery-fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';

/** A minimal HTTP CONNECT proxy on 127.0.0.1 that records each CONNECT target and what it answered. */
async function startConnectProxy(options: { refuse?: boolean; credentials?: string } = {}) {
  const connects: { target: string; authorization: string | undefined }[] = [];
  const tunnels = new Set<Socket>();
  const server: Server = createServer((_request, response) => response.writeHead(405).end());
  server.on('connect', (request, client: Socket, head: Buffer) => {
    connects.push({ target: request.url ?? '', authorization: request.headers['proxy-authorization'] });
    tunnels.add(client);
    client.on('close', () => tunnels.delete(client));
    client.on('error', () => {});
    if (options.refuse || (options.credentials && request.headers['proxy-authorization'] !== options.credentials)) {
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const { hostname, port } = new URL(`http://${request.url}`);
    const upstream = connect(Number(port), hostname.replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    tunnels.add(upstream);
    upstream.on('close', () => tunnels.delete(upstream));
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    async close() {
      for (const socket of tunnels) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('egress proxy (CCB_EGRESS_PROXY)', () => {
  let server: TestServer;
  let delivery: Delivery | null = null;
  let listener: TestListener;
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;
  /** Host names of the test: one on loopback (allowed here), one on a private address (refused). */
  const resolve = async (hostname: string): Promise<LookupAddress[]> =>
    hostname === 'listener.example'
      ? [{ address: '127.0.0.1', family: 4 }]
      : hostname === 'intranet.example'
        ? [{ address: '10.0.0.7', family: 4 }]
        : [];

  before(async () => {
    listener = await startListener();
    proxy = await startConnectProxy({ credentials: `Basic ${Buffer.from('ccb:s3cret').toString('base64')}` });
    server = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any', CCB_EGRESS_PROXY: proxy.url.replace('http://', 'http://ccb:s3cret@') },
      flags: { role: 'api', retrySchedule: '50ms', attemptTimeout: '2s' },
    });
    // The delivery engine of this test, with the stub resolver and loopback (not private) targets allowed.
    const ctx: AppContext = {
      ...server.ctx,
      urlGuard: UrlGuard.fromConfig({ ...server.ctx.config, allowLoopback: true }),
    };
    delivery = startDelivery(ctx, { resolve });
    server.ctx.notifyPublished = () => delivery?.wake();
  });
  after(async () => {
    await delivery?.stop();
    await server.close();
    await listener.close();
    await proxy.close();
  });

  it('delivers through the proxy, asking it to CONNECT to the address the URL guard checked', async () => {
    await register(server, `http://listener.example:${listener.port}/hook`, 'DeviceUsage');
    const id = await publish(server, { requestId: 'via-proxy' }, 'DeviceUsage');
    await waitForMessage(server, id, (m) => m.status === 'delivered');
    const [request] = await listener.waitFor(1);
    assert.equal(request.headers['webhook-id'], id);
    assert.equal(request.headers.host, `listener.example:${listener.port}`, 'the listener still sees its own name');
    assert.deepEqual(
      proxy.connects.map((c) => c.target),
      [`127.0.0.1:${listener.port}`],
      'the proxy saw one CONNECT, to the checked address',
    );
    assert.equal(proxy.connects[0].authorization, `Basic ${Buffer.from('ccb:s3cret').toString('base64')}`);
  });

  it('still refuses a private target: the guard checks it before any CONNECT', async () => {
    const before = proxy.connects.length;
    await register(server, `http://intranet.example:${listener.port}/hook`, 'StateService');
    const id = await publish(server, { requestId: 'to-intranet' }, 'StateService');
    const failed = await waitForMessage(server, id, (m) => m.status === 'failed');
    assert.equal(failed.attempts[0].errorKind, 'url_guard');
    assert.equal(failed.attempts[0].error, '10.0.0.7 is a private (RFC 1918) address');
    assert.equal(proxy.connects.length, before, 'nothing was asked of the proxy');

    // An IP literal is refused before any lookup, as without a proxy.
    await register(server, 'http://10.0.0.8:8080/hook', 'AlertService');
    const literal = await publish(server, {}, 'AlertService');
    const refused = await waitForMessage(server, literal, (m) => m.status === 'failed');
    assert.equal(refused.attempts[0].errorKind, 'url_guard');
    assert.equal(proxy.connects.length, before);
  });

  it('records a CONNECT the proxy refuses as a refused connection naming the proxy', async () => {
    const refusing = await startConnectProxy({ refuse: true });
    const strict = await startTestServer({
      env: { CCB_ALLOWED_PORTS: 'any', CCB_EGRESS_PROXY: refusing.url },
      flags: { retrySchedule: '50ms', attemptTimeout: '2s' },
    });
    try {
      await register(strict, listener.url, 'NiddService');
      const id = await publish(strict, {}, 'NiddService');
      const failed = await waitForMessage(strict, id, (m) => m.status === 'failed');
      assert.equal(failed.attempts[0].errorKind, 'connection_refused');
      assert.match(
        failed.attempts[0].error ?? '',
        /egress proxy 127\.0\.0\.1:\d+ refused CONNECT 127\.0\.0\.1:\d+: 403/,
      );
      assert.equal(refusing.connects.length, 2, 'each attempt went to the proxy');
    } finally {
      await strict.close();
      await refusing.close();
    }
  });

  it('takes only an http:// proxy URL', () => {
    const env = { CCB_ADMIN_TOKEN: 't', CCB_ENCRYPTION_KEY: 'a'.repeat(64) };
    assert.equal(loadConfig({}, env).egressProxy, null);
    assert.deepEqual(loadConfig({}, { ...env, CCB_EGRESS_PROXY: 'http://u:p%40ss@proxy.internal:4750' }).egressProxy, {
      host: 'proxy.internal',
      port: 4750,
      authorization: `Basic ${Buffer.from('u:p@ss').toString('base64')}`,
    });
    assert.throws(() => loadConfig({}, { ...env, CCB_EGRESS_PROXY: 'socks5://proxy:1080' }), /CCB_EGRESS_PROXY/);
    assert.throws(() => loadConfig({}, { ...env, CCB_EGRESS_PROXY: 'proxy:4750' }), /CCB_EGRESS_PROXY/);
  });
});
