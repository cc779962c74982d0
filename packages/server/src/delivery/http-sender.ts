import { promises as dns, type LookupAddress } from 'node:dns';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Dispatcher, Pool } from 'undici';
import type { UrlGuard } from './url-guard.js';

/** Resolves a host name to every address it has (dns.lookup with `all`; replaced in tests). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

export interface HttpSenderOptions {
  guard: UrlGuard;
  /** Attempt limit: for connecting, for the response headers, and for the rest of the excerpt read. */
  timeoutMs: number;
  /** Keep-alive connections per origin (the dispatcher never has more requests in flight per origin). */
  connectionsPerOrigin: number;
  resolve?: Resolver;
  userAgent?: string;
}

export interface SendResult {
  /** The response status, or null when none arrived. */
  statusCode: number | null;
  retryAfter: string | null;
  /** null on a 2xx; else a machine-readable kind and detail: `http_500`, `timeout: …`, `url_guard: …`. */
  error: string | null;
  /** The first 1 KiB of the response body (null when empty or no response). */
  responseExcerpt: string | null;
  latencyMs: number;
}

const EXCERPT_BYTES = 1024;
/** Past this many body bytes the connection is dropped rather than drained for keep-alive. */
const DRAIN_LIMIT_BYTES = 64 * 1024;
/** Pools unused this long are closed, so departed listeners do not keep sockets and memory. */
const IDLE_POOL_MS = 5 * 60 * 1000;
const GUARD_ERROR = 'CCB_URL_GUARD';

interface OriginPool {
  pool: Pool;
  lastUsed: number;
}

interface ParsedTarget {
  origin: string;
  path: string;
  /** When the URL's host is an IP literal, the guard's verdict (no lookup happens for literals). */
  literalRefusal: string | null;
}

class GuardError extends Error {
  readonly code = GUARD_ERROR;
}

/**
 * Sends one delivery attempt and reports what happened. One keep-alive undici Pool per origin;
 * redirects are not followed; every new connection goes to an address the URL guard accepted (the
 * connection's lookup resolves, checks and hands over only accepted addresses, so a DNS answer cannot
 * change between the check and the connect). It knows nothing about retries.
 */
export class HttpSender {
  private readonly pools = new Map<string, OriginPool>();
  private readonly targets = new Map<string, ParsedTarget>();
  private readonly resolve: Resolver;
  private readonly sweeper: NodeJS.Timeout;
  private readonly timeoutReason: string;
  private closed = false;

  constructor(private readonly options: HttpSenderOptions) {
    this.resolve = options.resolve ?? systemResolver;
    this.timeoutReason = `timeout: no response within ${options.timeoutMs} ms`;
    this.sweeper = setInterval(() => this.closeIdlePools(), IDLE_POOL_MS).unref();
  }

  /** The origin (`scheme://host:port`) a URL is delivered through; the dispatcher's per-origin key. */
  originOf(url: string): string {
    return this.target(url).origin;
  }

  send(url: string, headers: Record<string, string>, body: string): Promise<SendResult> {
    const started = performance.now();
    let target: ParsedTarget;
    try {
      target = this.target(url);
    } catch {
      return Promise.resolve(failure(`invalid_url: ${url}`, elapsedSince(started)));
    }
    if (target.literalRefusal) {
      return Promise.resolve(failure(`url_guard: ${target.literalRefusal}`, elapsedSince(started)));
    }
    // A dispatch handler rather than `request`: no response stream, async resource or promise chain
    // per attempt, which cost more than the rest of the send.
    return new Promise((resolve) => {
      const handler = new AttemptHandler(started, this.options.timeoutMs, this.timeoutReason, resolve);
      try {
        this.pool(target.origin).dispatch({ method: 'POST', path: target.path, headers, body }, handler);
      } catch (error) {
        handler.onResponseError(null, error as Error);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.destroy().catch(() => {})));
  }

  private target(url: string): ParsedTarget {
    let target = this.targets.get(url);
    if (!target) {
      const parsed = new URL(url);
      const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
      target = {
        origin: parsed.origin,
        path: `${parsed.pathname}${parsed.search}`,
        literalRefusal: isIP(host) ? this.options.guard.checkAddress(host) : null,
      };
      if (this.targets.size >= 10_000) this.targets.clear();
      this.targets.set(url, target);
    }
    return target;
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
          connect: { timeout, lookup: this.guardedLookup },
        }),
        lastUsed: 0,
      };
      this.pools.set(origin, entry);
    }
    entry.lastUsed = Date.now();
    return entry.pool;
  }

  /** A `net.connect` lookup: resolve, keep only the addresses the guard accepts, refuse when none is left. */
  private readonly guardedLookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname).then(
      (addresses) => {
        const accepted: LookupAddress[] = [];
        let refusal: string | null = null;
        for (const entry of addresses) {
          const reason = this.options.guard.checkAddress(entry.address);
          if (reason === null) accepted.push(entry);
          else refusal ??= reason;
        }
        if (accepted.length === 0) {
          const error = refusal
            ? new GuardError(refusal)
            : Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
          callback(error, '', 0);
        } else if (options.all) {
          callback(null, accepted);
        } else {
          callback(null, accepted[0].address, accepted[0].family);
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };

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

function failure(error: string, latencyMs: number): SendResult {
  return { statusCode: null, retryAfter: null, error, responseExcerpt: null, latencyMs };
}

function elapsedSince(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/**
 * One attempt's response: the status, `retry-after` and the first 1 KiB of the body for the attempt
 * record. The rest of the body is drained for keep-alive, or the connection is dropped when the body
 * is large or still arriving when the attempt's time is up; a body cut short does not change the
 * outcome, since the status already arrived.
 */
class AttemptHandler implements Dispatcher.DispatchHandler {
  private statusCode: number | null = null;
  private retryAfter: string | null = null;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private total = 0;
  private timer: NodeJS.Timeout | null = null;
  private controller: Dispatcher.DispatchController | null = null;
  private done = false;

  constructor(
    private readonly started: number,
    private readonly timeoutMs: number,
    private readonly timeoutReason: string,
    private readonly resolve: (result: SendResult) => void,
  ) {}

  /** Present so undici drives this handler through the current (controller-based) handler API. */
  onRequestStart(): void {}

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // Informational (1xx) responses precede the real one.
    if (statusCode < 200 || this.done) return;
    this.statusCode = statusCode;
    this.controller = controller;
    const retryAfter = headers['retry-after'];
    this.retryAfter = typeof retryAfter === 'string' ? retryAfter : null;
    // The pool's timeouts bound connecting and the headers; the body read gets what is left.
    this.timer = setTimeout(this.cutShort, Math.max(0, this.timeoutMs - (performance.now() - this.started)));
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    if (this.keptBytes < EXCERPT_BYTES) {
      const part = chunk.subarray(0, EXCERPT_BYTES - this.keptBytes);
      this.kept.push(part);
      this.keptBytes += part.length;
    }
    this.total += chunk.length;
    if (this.total > DRAIN_LIMIT_BYTES) this.cutShort();
  }

  onResponseEnd(): void {
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.done) return;
    if (this.statusCode !== null) {
      this.finish();
      return;
    }
    this.done = true;
    this.resolve(failure(classify(error, this.timeoutReason), elapsedSince(this.started)));
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
      error: statusCode >= 200 && statusCode < 300 ? null : `http_${statusCode}`,
      responseExcerpt: this.keptBytes === 0 ? null : Buffer.concat(this.kept, this.keptBytes).toString('utf8'),
      latencyMs: elapsedSince(this.started),
    });
  }
}

const TLS_CODE = /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|EPROTO|HOSTNAME_MISMATCH|ERR_OSSL)/;

/** Names a transport failure: `connection_refused: …`, `dns: …`, `tls: …`, `url_guard: …`. */
export function classify(error: unknown, timeoutReason: string): string {
  const err = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err?.code ?? '';
  const causeCode = err?.cause?.code ?? '';
  const message = err?.message || err?.cause?.message || String(error);
  const is = (...codes: string[]) => codes.includes(code) || codes.includes(causeCode);
  if (is(GUARD_ERROR)) return `url_guard: ${message}`;
  if (is('UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT')) {
    return timeoutReason;
  }
  if (is('ECONNREFUSED')) return `connection_refused: ${message}`;
  if (is('ENOTFOUND', 'EAI_AGAIN', 'EAI_NODATA', 'EAI_FAIL', 'ESERVFAIL')) return `dns: ${message}`;
  if (TLS_CODE.test(code) || TLS_CODE.test(causeCode)) return `tls: ${message}`;
  if (is('ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED')) return `connection_reset: ${message}`;
  if (is('EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN')) return `unreachable: ${message}`;
  return `network: ${message}`;
}
