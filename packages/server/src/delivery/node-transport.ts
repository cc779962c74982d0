import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupFunction, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type AttemptError, statusError } from '../domain/attempt-error.js';
import type { Connector } from './egress-proxy.js';
import {
  classify,
  closedError,
  Excerpt,
  elapsedSince,
  failure,
  type SendResult,
  type TransportRequest,
} from './send-result.js';

export interface NodeTransportOptions {
  timeoutMs: number;
  connectionsPerOrigin: number;
  lookup: LookupFunction;
  /** Connects through the egress proxy instead (it does the guarded lookup itself). */
  connector?: Connector;
  /** The result of an attempt that ran out of time. */
  timeout: AttemptError;
}

/**
 * The transport for origins that send an unsolicited `100 Continue` (which HTTP allows and undici
 * refuses by closing the connection): Node's own HTTP client, which reads and skips interim
 * responses, with a keep-alive agent per such origin.
 */
export class NodeTransport {
  private readonly agents = new Map<string, HttpAgent>();
  private closed = false;

  constructor(private readonly options: NodeTransportOptions) {}

  /** Whether this origin is sent to through this transport. */
  has(origin: string): boolean {
    return this.agents.has(origin);
  }

  /** Sends to this origin through node:http from now on. */
  adopt(origin: string): void {
    if (this.agents.has(origin) || this.closed) return;
    const agentOptions = { keepAlive: true, maxSockets: this.options.connectionsPerOrigin };
    const https = origin.startsWith('https:');
    const agent = https ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    const { connector } = this.options;
    if (connector) {
      // Node's agents take a connection made asynchronously through the callback.
      agent.createConnection = ((options: { host?: string; port?: number; servername?: string }, done) => {
        connector(
          {
            hostname: options.host ?? '',
            port: String(options.port ?? ''),
            protocol: https ? 'https:' : 'http:',
            servername: options.servername,
          },
          (error, socket) => done?.(error, socket as Socket),
        );
        return undefined;
      }) as HttpAgent['createConnection'];
    }
    this.agents.set(origin, agent);
  }

  /** One attempt through node:http, in the attempt's time left. */
  send({ origin, path, headers, body, started }: TransportRequest): Promise<SendResult> {
    const agent = this.agents.get(origin);
    const left = this.options.timeoutMs - (performance.now() - started);
    if (!agent || left <= 0)
      return Promise.resolve(failure(agent ? this.options.timeout : closedError(), elapsedSince(started)));
    const url = new URL(path, origin);
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
        lookup: this.options.lookup,
      });
      const timer = setTimeout(() => {
        settle(failure(this.options.timeout, elapsedSince(started)));
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
      request.on('error', (error) => settle(failure(classify(error, this.options.timeout), elapsedSince(started))));
      request.end(body);
    });
  }

  close(): void {
    this.closed = true;
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
