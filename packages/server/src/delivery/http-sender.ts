import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import type { EgressProxyConfig } from '../config.js';
import type { AttemptError } from '../domain/attempt-error.js';
import { proxyConnector } from './egress-proxy.js';
import { guardedLookup, type Resolver, systemResolver } from './guarded-lookup.js';
import { NodeTransport } from './node-transport.js';
import { elapsedSince, failure, type SendResult } from './send-result.js';
import { UndiciTransport } from './undici-transport.js';
import type { UrlGuard } from './url-guard.js';

export interface HttpSenderOptions {
  guard: UrlGuard;
  /** Attempt limit: for connecting, for the response headers, and for the rest of the excerpt read. */
  timeoutMs: number;
  /** Keep-alive connections per origin (the dispatcher never has more requests in flight per origin). */
  connectionsPerOrigin: number;
  resolve?: Resolver;
  userAgent?: string;
  /** Every connection goes through this HTTP CONNECT proxy (after the URL guard's check); null = direct. */
  egressProxy?: EgressProxyConfig | null;
}

/** Parsed URLs kept; a registration's URL is parsed once, not per attempt. */
const TARGET_CACHE_SIZE = 10_000;

interface ParsedTarget {
  origin: string;
  path: string;
  /** When the URL's host is an IP literal, the guard's verdict (no lookup happens for literals). */
  literalRefusal: string | null;
}

/**
 * Sends one delivery attempt and reports what happened. One keep-alive undici Pool per origin
 * (undici-transport.ts); redirects are not followed; every new connection goes to an address the URL
 * guard accepted (guarded-lookup.ts: the connection's lookup resolves, checks and hands over only
 * accepted addresses, so a DNS answer cannot change between the check and the connect). It knows
 * nothing about retries.
 *
 * An origin that answers with an unsolicited `100 Continue` is sent to through Node's own HTTP client
 * from then on (node-transport.ts); the attempt that found out is sent again that way, within its time.
 */
export class HttpSender {
  private readonly targets = new LRUCache<string, ParsedTarget>({ max: TARGET_CACHE_SIZE });
  private readonly undici: UndiciTransport;
  private readonly node: NodeTransport;

  constructor(private readonly options: HttpSenderOptions) {
    const timeout: AttemptError = { kind: 'timeout', detail: `no response within ${options.timeoutMs} ms` };
    const lookup = guardedLookup(options.guard, options.resolve ?? systemResolver);
    const transport = {
      timeoutMs: options.timeoutMs,
      connectionsPerOrigin: options.connectionsPerOrigin,
      lookup,
      connector: options.egressProxy ? proxyConnector(options.egressProxy, lookup, options.timeoutMs) : undefined,
      timeout,
    };
    this.undici = new UndiciTransport(transport);
    this.node = new NodeTransport(transport);
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
    const request = { origin: target.origin, path: target.path, headers, body, started };
    if (this.node.has(request.origin)) return this.node.send(request);
    return this.undici.send(request).then((result) => {
      if (!result.interimRefused) return result;
      this.node.adopt(request.origin);
      this.undici.drop(request.origin);
      return this.node.send(request);
    });
  }

  async close(): Promise<void> {
    this.node.close();
    await this.undici.close();
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
}
