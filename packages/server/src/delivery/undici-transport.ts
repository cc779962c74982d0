import type { IncomingHttpHeaders } from 'node:http';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher as UndiciDispatcher } from 'undici';
import { type AttemptError, statusError } from '../domain/attempt-error.js';
import type { Connector } from './egress-proxy.js';
import { classify, Excerpt, elapsedSince, failure, type SendResult, type TransportRequest } from './send-result.js';

/** Pools unused this long are closed, so departed listeners do not keep sockets and memory. */
const IDLE_POOL_MS = 5 * 60 * 1000;

export interface UndiciTransportOptions {
  timeoutMs: number;
  connectionsPerOrigin: number;
  lookup: LookupFunction;
  /** Connects through the egress proxy instead (it does the guarded lookup itself). */
  connector?: Connector;
  /** The result of an attempt that ran out of time. */
  timeout: AttemptError;
}

export interface UndiciResult extends SendResult {
  /** undici closed the connection on an interim `100 Continue`: send again through node:http. */
  interimRefused?: boolean;
}

interface OriginPool {
  pool: Pool;
  lastUsed: number;
}

/** The usual transport: one keep-alive undici Pool per origin, closed when unused for a while. */
export class UndiciTransport {
  private readonly pools = new Map<string, OriginPool>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: UndiciTransportOptions) {
    this.sweeper = setInterval(() => this.closeIdlePools(), IDLE_POOL_MS).unref();
  }

  send({ origin, path, headers, body, started }: TransportRequest) {
    // A dispatch handler rather than `request`: no response stream, async resource or promise chain
    // per attempt, which cost more than the rest of the send.
    return new Promise<UndiciResult>((resolve) => {
      const handler = new AttemptHandler(started, this.options.timeoutMs, this.options.timeout, resolve);
      try {
        this.pool(origin).dispatch({ method: 'POST', path, headers, body }, handler);
      } catch (error) {
        handler.onResponseError(null, error as Error);
      }
    });
  }

  /** Closes an origin's pool (its attempts go through another transport from now on). */
  drop(origin: string): void {
    const entry = this.pools.get(origin);
    this.pools.delete(origin);
    entry?.pool.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.destroy().catch(() => {})));
  }

  private pool(origin: string): Pool {
    if (this.closed) throw new Error('the sender is closed');
    let entry = this.pools.get(origin);
    if (!entry) {
      const timeout = this.options.timeoutMs;
      entry = {
        pool: new Pool(origin, {
          connections: this.options.connectionsPerOrigin,
          headersTimeout: timeout,
          bodyTimeout: timeout,
          connect: this.options.connector ?? { timeout, lookup: this.options.lookup },
        }),
        lastUsed: 0,
      };
      this.pools.set(origin, entry);
    }
    entry.lastUsed = Date.now();
    return entry.pool;
  }

  private closeIdlePools(): void {
    const cutoff = Date.now() - IDLE_POOL_MS;
    for (const [origin, entry] of this.pools) {
      if (entry.lastUsed < cutoff) {
        this.pools.delete(origin);
        entry.pool.close().catch(() => {});
      }
    }
  }
}

/**
 * One attempt's response: the status, `retry-after` and the first 1 KiB of the body for the attempt
 * record. The rest of the body is drained for keep-alive, or the connection is dropped when the body
 * is large or still arriving when the attempt's time is up; a body cut short does not change the
 * outcome, since the status already arrived.
 */
class AttemptHandler implements UndiciDispatcher.DispatchHandler {
  private statusCode: number | null = null;
  private retryAfter: string | null = null;
  private readonly excerpt = new Excerpt();
  private timer: NodeJS.Timeout | null = null;
  private controller: UndiciDispatcher.DispatchController | null = null;
  private done = false;
  /** When undici began writing the request (it writes a string body at once, in the same turn). */
  private wroteAt: number | null = null;
  private firstByteMs: number | undefined;

  constructor(
    private readonly started: number,
    private readonly timeoutMs: number,
    private readonly timeout: AttemptError,
    private readonly resolve: (result: UndiciResult) => void,
  ) {}

  /**
   * Also makes undici drive this handler through the current (controller-based) handler API. Called
   * on a connection, right before the request is written: where the origin's own time starts.
   */
  onRequestStart(): void {
    this.wroteAt = performance.now();
  }

  onResponseStart(
    controller: UndiciDispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // Informational (1xx) responses precede the real one.
    if (statusCode < 200 || this.done) return;
    this.statusCode = statusCode;
    this.controller = controller;
    if (this.wroteAt !== null) this.firstByteMs = Math.round((performance.now() - this.wroteAt) * 100) / 100;
    const retryAfter = headers['retry-after'];
    this.retryAfter = typeof retryAfter === 'string' ? retryAfter : null;
    // The pool's timeouts bound connecting and the headers; the body read gets what is left.
    this.timer = setTimeout(this.cutShort, Math.max(0, this.timeoutMs - (performance.now() - this.started)));
  }

  onResponseData(_controller: UndiciDispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    if (!this.excerpt.add(chunk)) this.cutShort();
  }

  onResponseEnd(): void {
    this.finish();
  }

  onResponseError(_controller: UndiciDispatcher.DispatchController | null, error: Error): void {
    if (this.done) return;
    if (this.statusCode !== null) {
      this.finish();
      return;
    }
    this.done = true;
    const result: UndiciResult = failure(classify(error, this.timeout), elapsedSince(this.started));
    // undici answers an interim 100 by closing the connection with this error (and no other case
    // reaches a request in flight with it).
    if ((error as { code?: string }).code === 'UND_ERR_SOCKET' && error.message === 'bad response') {
      result.interimRefused = true;
    }
    this.resolve(result);
  }

  /** Drops the connection (the body is too large or too slow) and reports what arrived. */
  private readonly cutShort = (): void => {
    if (this.done) return;
    this.finish();
    this.controller?.abort(new Error('response body cut short'));
  };

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    const statusCode = this.statusCode as number;
    this.resolve({
      statusCode,
      retryAfter: this.retryAfter,
      error: statusError(statusCode),
      responseExcerpt: this.excerpt.text(),
      latencyMs: elapsedSince(this.started),
      firstByteMs: this.firstByteMs,
    });
  }
}
