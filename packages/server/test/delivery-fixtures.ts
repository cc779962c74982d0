import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { adminHeaders, eventually, inject, type TestServer } from './helpers.js';

/** One request as a test listener saw it. */
export interface Received {
  headers: IncomingHttpHeaders;
  /** The raw body text, as signed. */
  raw: string;
  body: Record<string, unknown>;
  at: number;
}

/** What a test listener answers: a status (with headers/body), or `hang` to never answer. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface TestListener {
  url: string;
  port: number;
  received: Received[];
  /** Answer of the listener; changeable during a test. Receives the request and how many came before it. */
  reply: (request: Received, index: number) => Reply;
  /** Resolves once `count` requests arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Listeners started by a suite (`listen`), all closed at its end (`closeAll`). */
export function listenerPool(): { listen: typeof startListener; closeAll: () => Promise<void> } {
  const listeners: TestListener[] = [];
  return {
    async listen(reply) {
      const listener = await startListener(reply);
      listeners.push(listener);
      return listener;
    },
    async closeAll() {
      await Promise.all(listeners.map((l) => l.close()));
    },
  };
}

/** A listener on a random 127.0.0.1 port recording every request; answers 200 unless told otherwise. */
export async function startListener(reply?: TestListener['reply']): Promise<TestListener> {
  const hanging = new Set<ServerResponse>();
  const listener: TestListener = {
    url: '',
    port: 0,
    received: [],
    reply: reply ?? (() => ({ status: 200, body: 'ok' })),
    async waitFor(count, timeoutMs = 5_000) {
      await eventually(() => listener.received.length >= count, {
        timeout: timeoutMs,
        what: () => `${count} requests (got ${listener.received.length})`,
      });
      return listener.received;
    },
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // Recorded as received; the test decides what a non-JSON body means.
      }
      const received: Received = { headers: request.headers, raw, body, at: Date.now() };
      const index = listener.received.length;
      listener.received.push(received);
      const answer = listener.reply(received, index);
      if (answer === 'hang') {
        hanging.add(response);
        return;
      }
      response.writeHead(answer.status, answer.headers);
      response.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  listener.port = (server.address() as AddressInfo).port;
  listener.url = `http://127.0.0.1:${listener.port}/callbacks`;
  return listener;
}

export const ACCOUNT = '0000123456-00001';

/** Registers `url` for (account, service) straight in the store (the registration API has its own tests). */
export async function register(
  server: TestServer,
  url: string,
  serviceName = 'CarrierService',
  extra: { username?: string; password?: string; accountName?: string } = {},
) {
  return server.ctx.registrations.upsert({
    accountName: extra.accountName ?? ACCOUNT,
    serviceName,
    url,
    username: extra.username ?? null,
    password: extra.password ?? null,
  });
}

/** An admin API request to the test server (through `inject`: no socket needed). */
export async function admin<T = Record<string, unknown>>(
  server: TestServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const base = adminHeaders(server);
  if (body === undefined) delete base['content-type'];
  const response = await inject<T>(server, `/admin/v1${path}`, { method, headers: { ...base, ...headers }, body });
  return { status: response.status, body: (response.text ? response.body : null) as T, headers: response.headers };
}

/** Publishes one message through the admin API; returns its id. */
export async function publish(
  server: TestServer,
  payload: Record<string, unknown> = { requestId: 'r-1', status: 'Success' },
  serviceName = 'CarrierService',
  accountName = ACCOUNT,
): Promise<string> {
  const response = await admin<{ messageId: string }>(server, 'POST', '/messages', {
    accountName,
    serviceName,
    payload,
  });
  if (response.status !== 202) throw new Error(`publish failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.messageId;
}

/**
 * How long after its first attempt ended the engine scheduled the second: the stored `nextAttemptAt`,
 * read while the message waits for that attempt. A bound on the engine's own decision, which a loaded
 * machine does not stretch as it stretches the real gap between the two requests.
 */
export async function firstRetryDelay(server: TestServer, id: string, timeoutMs = 5_000): Promise<number> {
  const waiting = await waitForMessage(server, id, (m) => m.status === 'pending' && m.attempts === 1, timeoutMs);
  const [first] = waiting.attempts;
  return (waiting.message.nextAttemptAt ?? Number.NaN) - (first.startedAt + first.latencyMs);
}

/** Polls a message until `predicate` holds (bounded). */
export async function waitForMessage(
  server: TestServer,
  id: string,
  predicate: (message: { status: string; attempts: number; reason: string | null }) => boolean,
  timeoutMs = 5_000,
) {
  let last: unknown;
  return eventually(
    async () => {
      const found = await server.ctx.messages.get(id);
      last = found?.message;
      return found && predicate(found.message) ? found : undefined;
    },
    { timeout: timeoutMs, what: () => `message ${id} reaching the expected state (last seen ${JSON.stringify(last)})` },
  );
}
