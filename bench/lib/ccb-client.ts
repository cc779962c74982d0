import { Pool } from 'undici';

/** Just enough of the ThingSpace and admin APIs to set a benchmark up and publish messages. */
export const ACCOUNT = '0000123456-00001';
export const ADMIN_TOKEN = 'dev-admin-token';

export interface Session {
  accessToken: string;
  sessionToken: string;
  headers: Record<string, string>;
}

export class CcbClient {
  readonly pool: Pool;

  constructor(readonly address: string) {
    this.pool = new Pool(address, { connections: 16, pipelining: 1 });
  }

  async json<T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ) {
    const res = await this.pool.request({
      method,
      path,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${method} ${path} → ${res.statusCode}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  /** Signs in through the demo client as `username` (the demo user by default). */
  async login(username = 'demo', password = 'demo-password'): Promise<Session> {
    const basic = Buffer.from('demo-client:demo-secret').toString('base64');
    const res = await this.pool.request({
      method: 'POST',
      path: '/api/ts/v1/oauth2/token',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const tokenText = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`token → ${res.statusCode}: ${tokenText}`);
    const accessToken = (JSON.parse(tokenText) as { access_token: string }).access_token;
    const session = await this.json<{ sessionToken: string }>(
      'POST',
      '/api/m2m/v1/session/login',
      { authorization: `Bearer ${accessToken}` },
      { username, password },
    );
    return {
      accessToken,
      sessionToken: session.sessionToken,
      headers: { authorization: `Bearer ${accessToken}`, 'vz-m2m-token': session.sessionToken },
    };
  }

  register(
    session: Session,
    body: { name: string; url: string; username?: string; password?: string },
    account = ACCOUNT,
  ) {
    return this.json('POST', `/api/m2m/v1/callbacks/${account}`, session.headers, body);
  }

  /** A user allowed to manage `accounts` (admin API). */
  createUser(username: string, password: string, accounts: string[]) {
    return this.json('POST', '/admin/v1/users', admin(), { username, password, accounts });
  }

  list(session: Session) {
    return this.json<unknown[]>('GET', `/api/m2m/v1/callbacks/${ACCOUNT}`, session.headers);
  }

  publish(message: { accountName: string; serviceName: string; payload: Record<string, unknown> }) {
    return this.json<{ messageId: string }>('POST', '/admin/v1/messages', admin(), message);
  }

  publishBatch(messages: { accountName: string; serviceName: string; payload: Record<string, unknown> }[]) {
    return this.json<{ messageIds: string[] }>('POST', '/admin/v1/messages/batch', admin(), { messages });
  }

  stats() {
    return this.json<{ counts: Record<string, number>; queueDepth: number }>('GET', '/admin/v1/stats', admin());
  }

  close() {
    return this.pool.close();
  }
}

function admin() {
  return { authorization: `Bearer ${ADMIN_TOKEN}` };
}

/**
 * The two registrations the API benchmarks list and replace: one plain, one with the platform's basic
 * authentication (so a list answers both shapes).
 */
export async function registerApiListeners(client: CcbClient, session: Session): Promise<void> {
  await client.register(session, { name: 'CarrierService', url: 'http://127.0.0.1:9001/x' });
  await client.register(session, {
    name: 'DeviceUsage',
    url: 'http://127.0.0.1:9003/usage',
    username: 'acme-prod',
    password: 'k9Vd2mQ7tR4zX8pL1sN6',
  });
}

/**
 * Publishes `count` messages in batches of up to 1,000 (`make(i)` builds message i), keeping
 * `parallel` batch requests in flight.
 */
export async function publishMany(
  client: CcbClient,
  count: number,
  make: (i: number) => { accountName: string; serviceName: string; payload: Record<string, unknown> },
  { batchSize = 1000, parallel = 2 } = {},
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const start = next;
      const end = Math.min(count, start + batchSize);
      next = end;
      const batch = [];
      for (let i = start; i < end; i++) batch.push(make(i));
      await client.publishBatch(batch);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
}
