import { request as httpRequest } from 'node:http';
import type { LookupFunction, Socket } from 'node:net';
import { buildConnector } from 'undici';
import type { EgressProxyConfig } from '../config.js';

/** The error code of a CONNECT the proxy answered with anything but 200 (a `connection_refused` attempt). */
export const PROXY_REFUSED = 'CCB_EGRESS_PROXY_REFUSED';

/** undici's connector: a connected socket (TLS for https) to the listener's origin, or an error. */
export type Connector = buildConnector.connector;

/**
 * Connections through an HTTP CONNECT proxy (CCB_EGRESS_PROXY, e.g. smokescreen). The listener's host
 * is resolved here with the guarded lookup, so the URL guard checks every address before anything is
 * sent to the proxy, and the proxy is asked to CONNECT to the checked address itself (never the name,
 * which it could resolve to another address). For https, TLS starts over the tunnel with the URL's
 * host as server name and the usual certificate checks (undici's connector).
 */
export function proxyConnector(proxy: EgressProxyConfig, lookup: LookupFunction, timeoutMs: number): Connector {
  const tls = buildConnector({ timeout: timeoutMs });
  const proxyName = `${proxy.host.includes(':') ? `[${proxy.host}]` : proxy.host}:${proxy.port}`;
  return (target, callback) => {
    let settled = false;
    const settle = (error: Error | null, socket: Socket | null) => {
      if (settled) {
        socket?.destroy();
        return;
      }
      settled = true;
      if (error || !socket) callback(error ?? new Error('no socket'), null);
      else callback(null, socket);
    };
    lookup(target.hostname, { family: 0 }, (lookupError, address, family) => {
      if (lookupError) {
        settle(lookupError, null);
        return;
      }
      const port = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
      const authority = family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
      const headers: Record<string, string> = { host: authority };
      if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
      const request = httpRequest({
        host: proxy.host,
        port: proxy.port,
        method: 'CONNECT',
        path: authority,
        headers,
        agent: false,
        timeout: timeoutMs,
      });
      request.once('connect', (response, socket, head) => {
        request.setTimeout(0);
        if (response.statusCode !== 200) {
          socket.destroy();
          const refusal = new Error(
            `the egress proxy ${proxyName} refused CONNECT ${authority}: ${response.statusCode} ${response.statusMessage ?? ''}`.trim(),
          );
          settle(Object.assign(refusal, { code: PROXY_REFUSED }), null);
          return;
        }
        if (head.length > 0) socket.unshift(head);
        if (target.protocol !== 'https:') {
          settle(null, socket);
          return;
        }
        tls(
          {
            hostname: target.hostname,
            host: target.hostname,
            protocol: target.protocol,
            port: String(port),
            servername: target.servername,
            httpSocket: socket,
          },
          (error, secure) => settle(error, error ? null : (secure as Socket)),
        );
      });
      request.once('timeout', () => {
        const error = new Error(`no answer to CONNECT ${authority} within ${timeoutMs} ms`);
        request.destroy(Object.assign(error, { code: 'UND_ERR_CONNECT_TIMEOUT' }));
      });
      request.once('error', (error: NodeJS.ErrnoException) => {
        // The proxy's own failure, named as such; its code keeps the attempt's kind (refused, timeout, …).
        const named = new Error(`egress proxy ${proxyName}: ${error.message}`);
        settle(Object.assign(named, { code: error.code }), null);
      });
      request.end();
    });
  };
}
