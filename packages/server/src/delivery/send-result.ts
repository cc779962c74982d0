import { performance } from 'node:perf_hooks';
import type { AttemptError, AttemptErrorKind } from '../domain/attempt-error.js';
import { PROXY_REFUSED } from './egress-proxy.js';
import { GUARD_ERROR } from './guarded-lookup.js';

/** What one delivery attempt's HTTP call came to, whichever transport made it. */
export interface SendResult {
  /** The response status, or null when none arrived. */
  statusCode: number | null;
  retryAfter: string | null;
  /** null on a 2xx; else what went wrong, typed. */
  error: AttemptError | null;
  /** The first 1 KiB of the response body (null when empty or no response). */
  responseExcerpt: string | null;
  latencyMs: number;
  /**
   * The origin's own time: from the request's write to its response headers, in ms. Absent when no
   * answer came or the transport cannot tell (the origin scheduler then counts `latencyMs`).
   */
  firstByteMs?: number;
}

/** One attempt as a transport sends it: the origin and path of the URL, the request, and when it began. */
export interface TransportRequest {
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** performance.now() at the attempt's start: the attempt's time limit counts from it. */
  started: number;
}

const EXCERPT_BYTES = 1024;
/** Past this many body bytes the connection is dropped rather than drained for keep-alive. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

export function failure(error: AttemptError, latencyMs: number): SendResult {
  return { statusCode: null, retryAfter: null, error, responseExcerpt: null, latencyMs };
}

export function closedError(): AttemptError {
  return { kind: 'internal', detail: 'the sender is closed' };
}

export function elapsedSince(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/** The first 1 KiB of a response body, and whether the rest is still worth draining for keep-alive. */
export class Excerpt {
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

const TLS_CODE = /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|EPROTO|HOSTNAME_MISMATCH|ERR_OSSL)/;

const KIND_BY_CODE: Record<string, AttemptErrorKind> = {
  [GUARD_ERROR]: 'url_guard',
  [PROXY_REFUSED]: 'connection_refused',
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
