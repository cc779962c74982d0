import { createHash } from 'node:crypto';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from './config.js';
import type { SendResult } from './delivery/send-result.js';
import type { StructuredLogger } from './logger.js';
import { VERSION } from './version.js';

/** Whom a message is for: what the spans say about it. */
export interface TracedMessage {
  id: string;
  accountName: string;
  serviceName: string;
}

/** One attempt's span, started before the request is built and ended once its outcome is decided. */
export interface AttemptSpan {
  /** The W3C `traceparent` sent to the listener: this attempt's span in the message's trace. */
  readonly traceparent: string;
  end(result: SendResult, outcome: 'delivered' | 'retry' | 'failed'): void;
}

/**
 * OpenTelemetry traces of the delivery path: a `ccb.publish` span per accepted message and a
 * `ccb.attempt` span per delivery attempt, child of the publish span. Built only when tracing is on
 * (startTracing), so with tracing off nothing of OpenTelemetry is loaded and the dispatcher holds null.
 *
 * A message's trace id is its id's 32 hex digits, and its publish span id is derived from the id, so
 * every attempt, in whichever process and however late, finds its parent without anything stored.
 */
export interface Tracer {
  /** Records the publish of messages that were just accepted (started at `startedAt`, epoch ms). */
  published(messages: readonly (TracedMessage & { status: string })[], startedAt: number, traceparent?: string): void;
  startAttempt(message: TracedMessage, attemptNumber: number, url: string): AttemptSpan;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** Where spans go instead of the configured exporter (tests: InMemorySpanExporter), sent one by one. */
  exporter?: SpanExporter;
}

/** The trace id of a message: its id's 32 hex digits (12 of time, 20 random), or a hash of other ids. */
export function traceIdOf(messageId: string): string {
  const hex = messageId.slice(messageId.indexOf('_') + 1);
  if (/^[0-9a-f]{32}$/.test(hex) && !/^0+$/.test(hex)) return hex;
  return createHash('sha256').update(messageId).digest('hex').slice(0, 32);
}

/** The span id of a message's publish span, derived from its id. */
export function publishSpanIdOf(messageId: string): string {
  const id = createHash('sha256').update(`publish:${messageId}`).digest('hex').slice(0, 16);
  return /^0+$/.test(id) ? '0000000000000001' : id;
}

/** Loads OpenTelemetry (only now) and builds the tracer of this process. */
export async function startTracing(
  config: TracingConfig,
  logger: StructuredLogger,
  options: StartTracingOptions = {},
): Promise<Tracer> {
  const [api, sdk, resources, core] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  let exporter = options.exporter;
  if (!exporter) {
    if (config.exporter === 'console') {
      exporter = new sdk.ConsoleSpanExporter();
    } else {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
      exporter = new OTLPTraceExporter(config.endpoint ? { url: config.endpoint } : {});
    }
  }
  const processor = options.exporter ? new sdk.SimpleSpanProcessor(exporter) : new sdk.BatchSpanProcessor(exporter);

  // Ids chosen by the caller for the next span (a message's trace and publish span), else random.
  const random = new sdk.RandomIdGenerator();
  let nextTraceId: string | null = null;
  let nextSpanId: string | null = null;
  const idGenerator = {
    generateTraceId: () => nextTraceId ?? random.generateTraceId(),
    generateSpanId: () => nextSpanId ?? random.generateSpanId(),
  };
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': VERSION }),
    idGenerator,
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('ccb', VERSION);
  const propagator = new core.W3CTraceContextPropagator();
  const { SpanKind, SpanStatusCode, TraceFlags, ROOT_CONTEXT, trace, defaultTextMapGetter } = api;
  logger.info({ exporter: options.exporter ? 'injected' : config.exporter }, 'tracing on (OpenTelemetry)');

  /** The producer's own context, from the publish request's `traceparent`: linked, not parent. */
  const incomingLink = (traceparent: string | undefined) => {
    if (!traceparent) return [];
    const context = propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
    const spanContext = trace.getSpanContext(context);
    return spanContext && api.isSpanContextValid(spanContext) ? [{ context: spanContext }] : [];
  };

  return {
    published(messages, startedAt, traceparent) {
      const links = incomingLink(traceparent);
      const now = Date.now();
      for (const message of messages) {
        nextTraceId = traceIdOf(message.id);
        nextSpanId = publishSpanIdOf(message.id);
        let span: ReturnType<typeof tracer.startSpan>;
        try {
          span = tracer.startSpan(
            'ccb.publish',
            {
              kind: SpanKind.PRODUCER,
              startTime: startedAt,
              links,
              attributes: {
                'messaging.system': 'ccb',
                'messaging.operation.type': 'send',
                'messaging.message.id': message.id,
                'ccb.account': message.accountName,
                'ccb.service': message.serviceName,
                'ccb.message.status': message.status,
              },
            },
            ROOT_CONTEXT,
          );
        } finally {
          nextTraceId = null;
          nextSpanId = null;
        }
        span.end(now);
      }
    },

    startAttempt(message, attemptNumber, url) {
      const parent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: traceIdOf(message.id),
        spanId: publishSpanIdOf(message.id),
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
      });
      const target = new URL(url);
      const span = tracer.startSpan(
        'ccb.attempt',
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'http.request.method': 'POST',
            // The origin only: a listener URL's path or query may carry a token of its owner.
            'url.scheme': target.protocol.slice(0, -1),
            'server.address': target.hostname,
            'server.port': Number(target.port) || (target.protocol === 'https:' ? 443 : 80),
            'ccb.listener.origin': target.origin,
            'messaging.message.id': message.id,
            'ccb.account': message.accountName,
            'ccb.service': message.serviceName,
            'ccb.attempt.number': attemptNumber,
          },
        },
        parent,
      );
      const context = span.spanContext();
      const flags = context.traceFlags & TraceFlags.SAMPLED ? '01' : '00';
      return {
        traceparent: `00-${context.traceId}-${context.spanId}-${flags}`,
        end(result, outcome) {
          if (result.statusCode !== null) span.setAttribute('http.response.status_code', result.statusCode);
          span.setAttribute('ccb.attempt.outcome', outcome);
          if (result.error) {
            span.setAttribute('error.type', result.error.kind);
            span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.detail });
          }
          span.end();
        },
      };
    },

    async shutdown() {
      await provider.shutdown();
    },
  };
}
