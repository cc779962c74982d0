import { promises as dns, type LookupAddress } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { Pool, type Dispatcher as UndiciDispatcher } from 'undici';
import { type AttemptError, type AttemptErrorKind, statusError } from '../domain/attempt-error.js';
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
  /** null on a 2xx; else what went wrong, typed. */
  error: AttemptError | null;
  /** The first 1 KiB of the response body (null when empty or no response). */
  responseExcerpt: string | null;
  latencyMs: number;
}

const EXCERPT_BYTES = 1024;
/** Past this many body bytes the connection is dropped rather than drained for keep-alive. */
const DRAIN_LIMIT_BYTES = 64 * 1024;
/** Pools unused this long are closed, so departed listeners do not keep sockets and memory. */
const IDLE_POOL_MS = 5 * 60 * 1000;
/** Parsed URLs kept; a registration's URL is parsed once, not per attempt. */
const TARGET_CACHE_SIZE = 10_000;
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
 *
 * An origin that answers with an unsolicited `100 Continue` (which HTTP allows and undici refuses by
 * closing the connection) is sent to through Node's own HTTP client from then on, which reads and
 * skips interim responses; the attempt that found out is sent again that way, within its time.
 */
export class HttpSender {
  private readonly pools = new Map<string, OriginPool>();
  private readonly targets = new LRUCache<string, ParsedTarget>({ max: TARGET_CACHE_SIZE });
  /** Origins that sent a `100 Continue`, and the keep-alive agent used for them instead of a Pool. */
  private readonly interimOrigins = new Map<string, HttpAgent>();
  private readonly resolve: Resolver;
  private readonly sweeper: NodeJS.Timeout;
  private readonly timeout: AttemptError;
  private closed = false;

  constructor(private readonly options: HttpSenderOptions) {
    this.resolve = options.resolve ?? systemResolver;
    this.timeout = { kind: 'timeout', detail: `no response within ${options.timeoutMs} ms` };
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
      return Promise.resolve(failure({ kind: 'invalid_url', detail: url }, elapsedSince(started)));
    }
    if (target.literalRefusal) {
      return Promise.resolve(failure({ kind: 'url_guard', detail: target.literalRefusal }, elapsedSince(started)));
    }
    if (this.interimOrigins.has(target.origin)) return this.sendThroughNode(target, headers, body, started);
    // A dispatch handler rather than `request`: no response stream, async resource or promise chain
    // per attempt, which cost more than the rest of the send.
    return new Promise<SendResult>((resolve) => {
      const handler = new AttemptHandler(started, this.options.timeoutMs, this.timeout, (result) => {
        if (!result.interimRefused) return resolve(result);
        this.useNodeClient(target.origin);
        resolve(this.sendThroughNode(target, headers, body, started));
      });
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
    for (const agent of this.interimOrigins.values()) agent.destroy();
    this.interimOrigins.clear();
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

  private useNodeClient(origin: string): void {
    if (this.interimOrigins.has(origin) || this.closed) return;
    const agentOptions = { keepAlive: true, maxSockets: this.options.connectionsPerOrigin };
    this.interimOrigins.set(
      origin,
      origin.startsWith('https:') ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions),
    );
    const entry = this.pools.get(origin);
    this.pools.delete(origin);
    entry?.pool.close().catch(() => {});
  }

  /** One attempt through node:http (for origins that send interim responses), in the attempt's time left. */
  private sendThroughNode(
    target: ParsedTarget,
    headers: Record<string, string>,
    body: string,
    started: number,
  ): Promise<SendResult> {
    const agent = this.interimOrigins.get(target.origin);
    const left = this.options.timeoutMs - (performance.now() - started);
    if (!agent || left <= 0)
      return Promise.resolve(failure(agent ? this.timeout : closedError(), elapsedSince(started)));
    const url = new URL(target.path, target.origin);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const settle = (result: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const request = send(url, {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: this.guardedLookup,
      });
      const timer = setTimeout(() => {
        settle(failure(this.timeout, elapsedSince(started)));
        request.destroy();
      }, left);
      request.on('response', (response) => {
        const statusCode = response.statusCode ?? 0;
        const retryAfter = response.headers['retry-after'];
        const excerpt = new Excerpt();
        const done = () =>
          settle({
            statusCode,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
            error: statusError(statusCode),
            responseExcerpt: excerpt.text(),
            latencyMs: elapsedSince(started),
          });
        response.on('data', (chunk: Buffer) => {
          if (excerpt.add(chunk)) return;
          done();
          response.destroy();
        });
        response.on('end', done);
        response.on('error', done);
        response.on('close', done);
      });
      request.on('error', (error) => settle(failure(classify(error, this.timeout), elapsedSince(started))));
      request.end(body);
    });
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

interface HandlerResult extends SendResult {
  /** undici closed the connection on an interim `100 Continue`: send again through node:http. */
  interimRefused?: boolean;
}

function failure(error: AttemptError, latencyMs: number): SendResult {
  return { statusCode: null, retryAfter: null, error, responseExcerpt: null, latencyMs };
}

function closedError(): AttemptError {
  return { kind: 'internal', detail: 'the sender is closed' };
}

function elapsedSince(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/** The first 1 KiB of a response body, and whether the rest is still worth draining for keep-alive. */
class Excerpt {
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private total = 0;

  /** Takes a chunk; false once the body is past the drain limit (drop the connection). */
  add(chunk: Buffer): boolean {
    if (this.keptBytes < EXCERPT_BYTES) {
      const part = chunk.subarray(0, EXCERPT_BYTES - this.keptBytes);
      this.kept.push(part);
      this.keptBytes += part.length;
    }
    this.total += chunk.length;
    return this.total <= DRAIN_LIMIT_BYTES;
  }

  text(): string | null {
    return this.keptBytes === 0 ? null : Buffer.concat(this.kept, this.keptBytes).toString('utf8');
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

  constructor(
    private readonly started: number,
    private readonly timeoutMs: number,
    private readonly timeout: AttemptError,
    private readonly resolve: (result: HandlerResult) => void,
  ) {}

  /** Present so undici drives this handler through the current (controller-based) handler API. */
  onRequestStart(): void {}

  onResponseStart(
    controller: UndiciDispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // Informational (1xx) responses precede the real one.
    if (statusCode < 200 || this.done) return;
    this.statusCode = statusCode;
    this.controller = controller;
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
    const result: HandlerResult = failure(classify(error, this.timeout), elapsedSince(this.started));
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
    });
  }
}

const TLS_CODE = /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|EPROTO|HOSTNAME_MISMATCH|ERR_OSSL)/;

const KIND_BY_CODE: Record<string, AttemptErrorKind> = {
  [GUARD_ERROR]: 'url_guard',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  ECONNREFUSED: 'connection_refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_NODATA: 'dns',
  EAI_FAIL: 'dns',
  ESERVFAIL: 'dns',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  UND_ERR_SOCKET: 'connection_reset',
  UND_ERR_CLOSED: 'connection_reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  UND_ERR_HEADERS_OVERFLOW: 'too_large',
  HPE_HEADER_OVERFLOW: 'too_large',
};

/** Names a transport failure by its error code (or its cause's): refused, reset, DNS, TLS, URL guard, … */
export function classify(error: unknown, timeout: AttemptError): AttemptError {
  const err = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err?.code ?? '';
  const causeCode = err?.cause?.code ?? '';
  const detail = err?.message || err?.cause?.message || String(error);
  const kind = KIND_BY_CODE[code] ?? KIND_BY_CODE[causeCode];
  // TLS failures come in many codes; they win over the socket error undici wraps them in.
  if (kind !== 'url_guard' && (TLS_CODE.test(code) || TLS_CODE.test(causeCode))) return { kind: 'tls', detail };
  if (kind === 'timeout') return timeout;
  return { kind: kind ?? 'network', detail };
}
