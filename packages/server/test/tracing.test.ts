import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { loadConfig } from '../src/config.js';
import { publishSpanIdOf, traceIdOf } from '../src/tracing.js';
import { admin, publish, register, startListener, type TestListener, waitForMessage } from './delivery-fixtures.js';
import { eventually, startTestServer, type TestServer } from './helpers.js';

const PRODUCER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PRODUCER_PARENT = `00-${PRODUCER_TRACE}-b7ad6b7169203331-01`;

describe('OpenTelemetry traces (OTEL_TRACES_EXPORTER set)', () => {
  let server: TestServer;
  let listener: TestListener;
  const exporter = new InMemorySpanExporter();
  before(async () => {
    server = await startTestServer({
      env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'ccb-under-test' },
      spanExporter: exporter,
    });
    // The first attempt fails, the second is delivered.
    listener = await startListener((_request, index) => ({ status: index === 0 ? 500 : 200 }));
    await register(server, listener.url, 'DeviceUsage');
  });
  after(async () => {
    await server.close();
    await listener.close();
  });

  it('records a publish span and a span per attempt in the message trace, and sends traceparent to the listener', async () => {
    const response = await admin<{ messageId: string }>(
      server,
      'POST',
      '/messages',
      { accountName: '0000123456-00001', serviceName: 'DeviceUsage', payload: { requestId: 'traced' } },
      { traceparent: PRODUCER_PARENT },
    );
    assert.equal(response.status, 202);
    const id = response.body.messageId;
    await waitForMessage(server, id, (m) => m.status === 'delivered', 10_000);
    const received = await listener.waitFor(2);

    const traceId = traceIdOf(id);
    assert.equal(traceId, id.slice('msg_'.length), 'the trace id is the message id');
    const spansOf = (name: string) =>
      exporter.getFinishedSpans().filter((s) => s.name === name && s.spanContext().traceId === traceId);
    const attempts = await eventually(() => {
      const found = spansOf('ccb.attempt');
      return found.length === 2 ? found : undefined;
    });
    const [publishSpan] = spansOf('ccb.publish');
    assert.ok(publishSpan, 'a publish span');
    assert.equal(publishSpan.spanContext().spanId, publishSpanIdOf(id));
    assert.equal(publishSpan.attributes['messaging.message.id'], id);
    assert.equal(publishSpan.attributes['ccb.message.status'], 'pending');
    assert.deepEqual(
      publishSpan.links.map((link) => link.context.traceId),
      [PRODUCER_TRACE],
      "linked to the producer's own trace",
    );
    assert.equal(publishSpan.resource.attributes['service.name'], 'ccb-under-test');

    const byNumber = (n: number) => attempts.find((s) => s.attributes['ccb.attempt.number'] === n) as ReadableSpan;
    const [first, second] = [byNumber(1), byNumber(2)];
    for (const span of [first, second]) {
      assert.equal(span.parentSpanContext?.spanId, publishSpanIdOf(id), 'a child of the publish span');
      assert.equal(span.attributes['ccb.listener.origin'], new URL(listener.url).origin);
      assert.equal(span.attributes['url.full'], undefined, 'no path or query of the listener URL');
    }
    assert.equal(first.attributes['http.response.status_code'], 500);
    assert.equal(first.attributes['ccb.attempt.outcome'], 'retry');
    assert.equal(first.attributes['error.type'], 'http_status');
    assert.equal(second.attributes['http.response.status_code'], 200);
    assert.equal(second.attributes['ccb.attempt.outcome'], 'delivered');

    // The listener saw each attempt's own span as its parent.
    assert.deepEqual(
      received.map((r) => r.headers.traceparent),
      [first, second].map((s) => `00-${traceId}-${s.spanContext().spanId}-01`),
    );
  });

  it('records a failed publish (no listener) as a span too', async () => {
    const id = await publish(server, { requestId: 'unheard' }, 'PromoChanges');
    const span = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'ccb.publish' && s.attributes['messaging.message.id'] === id);
    assert.equal(span?.attributes['ccb.message.status'], 'failed');
  });
});

describe('with tracing off (the default)', () => {
  let server: TestServer;
  let listener: TestListener;
  before(async () => {
    server = await startTestServer();
    listener = await startListener();
    await register(server, listener.url, 'DeviceUsage');
  });
  after(async () => {
    await server.close();
    await listener.close();
  });

  it('builds no tracer and sends no traceparent', async () => {
    assert.equal(server.ctx.tracer, null);
    await publish(server, { requestId: 'untraced' }, 'DeviceUsage');
    const [request] = await listener.waitFor(1);
    assert.equal(request.headers.traceparent, undefined);
  });

  it('loads OpenTelemetry only from tracing.ts, and only by dynamic import', () => {
    const src = fileURLToPath(new URL('../src/', import.meta.url));
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
      });
    const loading = files(src).filter((file) =>
      /^import (?!type )[^;]*'@opentelemetry\//m.test(readFileSync(file, 'utf8')),
    );
    assert.deepEqual(loading, [], 'no static import of OpenTelemetry (type imports are erased)');
  });

  it('turns tracing on from the standard OTEL_* variables only', () => {
    const env = { CCB_ADMIN_TOKEN: 't', CCB_ENCRYPTION_KEY: 'a'.repeat(64) };
    assert.equal(loadConfig({}, env).tracing, null);
    assert.equal(loadConfig({}, { ...env, OTEL_TRACES_EXPORTER: 'none' }).tracing, null);
    assert.deepEqual(loadConfig({}, { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing, {
      exporter: 'otlp',
      endpoint: 'http://collector:4318/v1/traces',
      serviceName: 'ccb',
    });
    assert.equal(
      loadConfig({}, { ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/t', OTEL_SDK_DISABLED: 'true' })
        .tracing,
      null,
    );
    assert.throws(() => loadConfig({}, { ...env, OTEL_TRACES_EXPORTER: 'jaeger' }), /OTEL_TRACES_EXPORTER/);
  });
});
