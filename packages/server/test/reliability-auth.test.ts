// test tier: full (the reliability suite: npm test and npm run test:reliability)
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { MAX_FAILED_ATTEMPTS } from '../src/access/throttle.js';
import {
  accessToken,
  adminHeaders,
  createUser,
  DEV_CREDENTIALS,
  login,
  send,
  startTestServer,
  type TestServer,
} from './helpers.js';
import { postgresForTests } from './postgres.js';

const ACCOUNT = DEV_CREDENTIALS.accountName;
const pg = await postgresForTests();
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** Requests sent from another loopback address (127.0.0.0/8 is all local), to act as another caller. */
function fromAddress(localAddress: string) {
  const agent = new Agent({ localAddress, connections: 256 });
  return {
    async post(url: string, headers: Record<string, string>, body: string) {
      const response = await request(url, { method: 'POST', headers, body, dispatcher: agent });
      const text = await response.body.text();
      return {
        status: response.statusCode,
        headers: response.headers,
        body: JSON.parse(text) as Record<string, string>,
      };
    },
    close: () => agent.close(),
  };
}

function tokenRequest(server: TestServer, id: string, secret: string) {
  return {
    url: `${server.apiUrl}/ts/v1/oauth2/token`,
    headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  };
}

async function loginAs(server: TestServer, bearer: string, username: string, password: string) {
  return send(`${server.apiUrl}/m2m/v1/session/login`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: { username, password },
  });
}

async function createClient(server: TestServer, name: string): Promise<{ clientId: string; clientSecret: string }> {
  const created = await send(`${server.baseUrl}/admin/v1/clients`, {
    method: 'POST',
    headers: adminHeaders(server),
    body: { name },
  });
  assert.equal(created.status, 201, created.text);
  return created.body;
}

/** Counts scrypt runs (every password and secret check is one) while `work` runs. */
async function countHashes<T>(work: () => Promise<T>): Promise<{ result: T; hashes: number }> {
  const original = crypto.scrypt;
  let hashes = 0;
  crypto.scrypt = ((...args: Parameters<typeof original>) => {
    hashes++;
    return original(...args);
  }) as typeof original;
  syncBuiltinESMExports();
  try {
    return { result: await work(), hashes };
  } finally {
    crypto.scrypt = original;
    syncBuiltinESMExports();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

describe('reliability: login lockout under concurrency', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('checks at most five guesses of a burst, and the right password sent with them gets no session', async () => {
    await createUser(server, 'burst', 'the-right-password', [ACCOUNT]);
    const bearer = await accessToken(server);
    const { result: answers, hashes } = await countHashes(() => {
      const wrong = Array.from({ length: 200 }, (_, i) => loginAs(server, bearer, 'burst', `wrong-${i}`));
      const right = loginAs(server, bearer, 'burst', 'the-right-password');
      return Promise.all([...wrong, right]);
    });
    assert.ok(hashes <= 5, `${hashes} passwords of the burst were checked against the hash`);
    const codes = answers.map((answer) => answer.body.errorCode as string | undefined);
    const checkedAndWrong = codes.filter((code) => code === 'REQUEST_FAILED.Login.InvalidCredentials').length;
    assert.ok(checkedAndWrong <= 4, `${checkedAndWrong} wrong guesses were answered as checked`);
    const rightAnswer = answers[answers.length - 1];
    assert.equal(rightAnswer.body.sessionToken, undefined, 'the right password got a session during the lockout');
    assert.equal(rightAnswer.body.errorCode, 'REQUEST_FAILED.Login.UserLocked');
    assert.equal(codes.filter((code) => code === undefined).length, 0, 'no attempt of the burst logged in');
    const user = await server.ctx.store.auth.getUser('burst');
    assert.ok(user?.lockedUntil && user.lockedUntil > Date.now(), 'the user is locked');
    assert.equal(
      (await loginAs(server, bearer, 'burst', 'the-right-password')).body.errorCode,
      'REQUEST_FAILED.Login.UserLocked',
    );
  });
});

describe('reliability: concurrent logins with the right password', () => {
  let server: TestServer;
  before(async () => {
    // A server of its own: the burst above used up its address's and client's failed attempts.
    server = await startTestServer();
  });
  after(() => server.close());

  it('logs in every one of 8 concurrent logins with the right password, and leaves the user unlocked', async () => {
    await createUser(server, 'eight', 'the-right-password', [ACCOUNT]);
    const bearer = await accessToken(server);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => loginAs(server, bearer, 'eight', 'the-right-password')),
    );
    assert.deepEqual(
      answers.map((answer) => [answer.status, typeof answer.body.sessionToken]),
      answers.map(() => [200, 'string']),
      JSON.stringify(answers.map((answer) => answer.body.errorCode)),
    );
    const user = await server.ctx.store.auth.getUser('eight');
    assert.deepEqual([user?.lockedUntil, user?.failedLogins], [null, 0]);
  });

  it('logs in 20 concurrent logins with the right password from four addresses and clients', async () => {
    await createUser(server, 'twenty', 'the-right-password', [ACCOUNT]);
    const clients = await Promise.all([1, 2, 3, 4].map((n) => createClient(server, `concurrent ${n}`)));
    const bearers = await Promise.all(clients.map((c) => accessToken(server, c.clientId, c.clientSecret)));
    const callers = [20, 21, 22, 23].map((n) => fromAddress(`127.0.0.${n}`));
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          callers[i % 4].post(
            `${server.apiUrl}/m2m/v1/session/login`,
            { authorization: `Bearer ${bearers[Math.floor(i / 5)]}`, 'content-type': 'application/json' },
            JSON.stringify({ username: 'twenty', password: 'the-right-password' }),
          ),
        ),
      );
      assert.deepEqual(
        answers.map((answer) => answer.status),
        answers.map(() => 200),
        JSON.stringify(answers.map((answer) => answer.body.errorCode)),
      );
      assert.equal(new Set(answers.map((answer) => answer.body.sessionToken)).size, 20);
    } finally {
      await Promise.all(callers.map((caller) => caller.close()));
    }
    const user = await server.ctx.store.auth.getUser('twenty');
    assert.deepEqual([user?.lockedUntil, user?.failedLogins], [null, 0]);
  });

  it('answers 503 when every slot stays taken by checks still running, and locks once they are abandoned', async () => {
    await createUser(server, 'busy', 'the-right-password', [ACCOUNT]);
    const bearer = await accessToken(server);
    for (let i = 0; i < 5; i++) await server.ctx.store.auth.reserveLoginAttempt('busy', Date.now(), 5);
    const waited = await loginAs(server, bearer, 'busy', 'the-right-password');
    assert.equal(waited.status, 503, waited.text);
    assert.equal(waited.headers.get('retry-after'), '1');
    assert.equal((await server.ctx.store.auth.getUser('busy'))?.lockedUntil, null, 'waiting locks nobody');

    await createUser(server, 'abandoned', 'the-right-password', [ACCOUNT]);
    const longAgo = Date.now() - 5 * 60_000;
    for (let i = 0; i < 5; i++) await server.ctx.store.auth.reserveLoginAttempt('abandoned', longAgo, 5);
    const refused = await loginAs(server, bearer, 'abandoned', 'the-right-password');
    assert.equal(refused.body.errorCode, 'REQUEST_FAILED.Login.UserLocked', refused.text);
    const user = await server.ctx.store.auth.getUser('abandoned');
    assert.ok(user?.lockedUntil && user.lockedUntil > Date.now(), 'checks that never ended count as failures');
  });
});

describe('reliability: logins on two servers sharing one PostgreSQL', { skip: pg.skip }, () => {
  const servers: TestServer[] = [];
  let drop: () => Promise<void> = async () => {};
  before(async () => {
    if (pg.skip !== false) return;
    const database = await pg.postgres.createTestDatabase();
    drop = database.drop;
    const env = { DATABASE_URL: database.url, CCB_ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex') };
    servers.push(await startTestServer({ env }), await startTestServer({ env }));
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await drop();
  });

  it('logs in 8 concurrent logins with the right password through both, and leaves the user unlocked', async () => {
    await createUser(servers[0], 'shared', 'the-right-password', [ACCOUNT]);
    const bearers = await Promise.all(servers.map((server) => accessToken(server)));
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => loginAs(servers[i % 2], bearers[i % 2], 'shared', 'the-right-password')),
    );
    assert.deepEqual(
      answers.map((answer) => answer.status),
      answers.map(() => 200),
      JSON.stringify(answers.map((answer) => answer.body.errorCode)),
    );
    const user = await servers[1].ctx.store.auth.getUser('shared');
    assert.deepEqual([user?.lockedUntil, user?.failedLogins], [null, 0]);
  });

  it('checks at most five guesses of a burst sent to both, and the right password gets no session', async () => {
    await createUser(servers[0], 'burst', 'the-right-password', [ACCOUNT]);
    const bearers = await Promise.all(servers.map((server) => accessToken(server)));
    const { result: answers, hashes } = await countHashes(() => {
      const wrong = Array.from({ length: 100 }, (_, i) =>
        loginAs(servers[i % 2], bearers[i % 2], 'burst', `wrong-${i}`),
      );
      return Promise.all([...wrong, loginAs(servers[1], bearers[1], 'burst', 'the-right-password')]);
    });
    assert.ok(hashes <= 5, `${hashes} passwords of the burst were checked against the hash`);
    assert.equal(answers.filter((answer) => answer.body.sessionToken !== undefined).length, 0);
    const user = await servers[0].ctx.store.auth.getUser('burst');
    assert.ok(user?.lockedUntil && user.lockedUntil > Date.now(), 'the user is locked');
  });
});

describe('reliability: sessions', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('honours a session token only with an access token of the client that logged in', async () => {
    const session = await login(server);
    const other = await createClient(server, 'another integration');
    const otherBearer = await accessToken(server, other.clientId, other.clientSecret);
    const list = `${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`;
    const refused = await send(list, { headers: { ...session.headers, authorization: `Bearer ${otherBearer}` } });
    assert.ok(refused.status >= 400 && refused.status < 500, `status ${refused.status}`);
    assert.equal(refused.body.errorCode, 'INPUT_INVALID.SessionToken.Invalid');
    const logout = await send(`${server.apiUrl}/m2m/v1/session/logout`, {
      method: 'POST',
      headers: { ...session.headers, authorization: `Bearer ${otherBearer}` },
    });
    assert.ok(logout.status >= 400 && logout.status < 500, 'another client cannot end the session either');
    assert.equal(
      (await send(list, { headers: session.headers })).status,
      200,
      'the session still works for its client',
    );
  });

  it("ends a user's sessions when the admin API changes the password or replaces the user", async () => {
    await createUser(server, 'rotating', 'first-password', [ACCOUNT]);
    const list = `${server.apiUrl}/m2m/v1/callbacks/${ACCOUNT}`;
    const first = await login(server, 'rotating', 'first-password');
    const changed = await send(`${server.baseUrl}/admin/v1/users/rotating`, {
      method: 'PATCH',
      headers: adminHeaders(server),
      body: { password: 'second-password' },
    });
    assert.equal(changed.status, 200, changed.text);
    const afterChange = await send(list, { headers: first.headers });
    assert.equal(afterChange.body.errorCode, 'INPUT_INVALID.SessionToken.Invalid');

    const second = await login(server, 'rotating', 'second-password');
    await createUser(server, 'rotating', 'third-password', [ACCOUNT]);
    const afterReplace = await send(list, { headers: second.headers });
    assert.equal(afterReplace.body.errorCode, 'INPUT_INVALID.SessionToken.Invalid');
    assert.equal(await server.ctx.store.auth.deleteUserSessions('rotating'), 0, 'no session row is left');

    const third = await login(server, 'rotating', 'third-password');
    const moved = await send(`${server.baseUrl}/admin/v1/users/rotating`, {
      method: 'PATCH',
      headers: adminHeaders(server),
      body: { accounts: ['0000999999-00001'] },
    });
    assert.equal(moved.status, 200, moved.text);
    // New accounts apply to the open session at once; the session itself stays.
    const oldAccount = await send(list, { headers: third.headers });
    assert.equal(oldAccount.body.errorCode, 'REQUEST_FAILED.AccountName');
    const newAccount = await send(`${server.apiUrl}/m2m/v1/callbacks/0000999999-00001`, { headers: third.headers });
    assert.equal(newAccount.status, 200, newAccount.text);
  });
});

describe('reliability: failed credential attempts are limited', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('keeps a normal login fast while one address floods the token endpoint with wrong secrets', async () => {
    const timedLogin = async () => {
      const started = performance.now();
      await login(server);
      return performance.now() - started;
    };
    const baseline = median([await timedLogin(), await timedLogin(), await timedLogin()]);
    const attacker = fromAddress('127.0.0.2');
    try {
      const { url, headers, body } = tokenRequest(server, 'guessed-client', 'not-the-secret');
      const flood = Promise.all(Array.from({ length: 400 }, () => attacker.post(url, headers, body)));
      const duringFlood = await timedLogin();
      const answers = await flood;
      const limit = Math.max(2_000, baseline * 10);
      assert.ok(
        duringFlood < limit,
        `a login took ${Math.round(duringFlood)} ms during the flood (alone ${Math.round(baseline)} ms)`,
      );
      const checked = answers.filter((a) => a.status === 401).length;
      const throttled = answers.filter((a) => a.status === 429);
      assert.ok(checked <= MAX_FAILED_ATTEMPTS, `${checked} wrong secrets were checked`);
      assert.equal(checked + throttled.length, answers.length, 'every answer is a 401 or a 429');
      assert.equal(throttled[0].body.errorCode, 'REQUEST_FAILED.TooManyAttempts');
      assert.ok(Number(throttled[0].headers['retry-after']) > 0);
    } finally {
      await attacker.close();
    }
  });

  it('does not lock a client out when strangers send wrong secrets for it from many addresses', async () => {
    const target = await createClient(server, 'targeted');
    const statuses: number[] = [];
    for (let i = 0; i < MAX_FAILED_ATTEMPTS + 3; i++) {
      const caller = fromAddress(`127.0.1.${i + 1}`);
      const { url, headers, body } = tokenRequest(server, target.clientId, `wrong-${i}`);
      statuses.push((await caller.post(url, headers, body)).status);
      await caller.close();
    }
    assert.deepEqual(statuses, Array(MAX_FAILED_ATTEMPTS + 3).fill(401), 'each stranger is told the secret is wrong');
    // The client itself, from its own address, still gets its token, and its users still log in.
    const bearer = await accessToken(server, target.clientId, target.clientSecret);
    await createUser(server, 'targeted-user', 'the-right-password', [ACCOUNT]);
    assert.equal((await loginAs(server, bearer, 'targeted-user', 'the-right-password')).status, 200);
  });

  it("refuses one address's wrong secrets beyond the limit without refusing the client elsewhere", async () => {
    const target = await createClient(server, 'flooded');
    const stranger = fromAddress('127.0.3.1');
    try {
      const statuses: number[] = [];
      for (let i = 0; i < MAX_FAILED_ATTEMPTS + 2; i++) {
        const { url, headers, body } = tokenRequest(server, target.clientId, `wrong-${i}`);
        statuses.push((await stranger.post(url, headers, body)).status);
      }
      assert.deepEqual(statuses.slice(MAX_FAILED_ATTEMPTS), [429, 429]);
    } finally {
      await stranger.close();
    }
    assert.ok(await accessToken(server, target.clientId, target.clientSecret), 'the client gets its token');
  });

  it('limits failed logins per source address across usernames', async () => {
    const flooder = await createClient(server, 'login flooder');
    const bearer = await accessToken(server, flooder.clientId, flooder.clientSecret);
    const caller = fromAddress('127.0.2.1');
    try {
      const statuses: number[] = [];
      for (let i = 0; i < MAX_FAILED_ATTEMPTS + 2; i++) {
        const answer = await caller.post(
          `${server.apiUrl}/m2m/v1/session/login`,
          { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
          JSON.stringify({ username: `nobody-${i}`, password: 'guess' }),
        );
        statuses.push(answer.status);
      }
      assert.deepEqual(statuses.slice(MAX_FAILED_ATTEMPTS), [429, 429]);
      assert.ok(statuses.slice(0, MAX_FAILED_ATTEMPTS).every((status) => status !== 429));
    } finally {
      await caller.close();
    }
    // Other addresses, through other clients, are not affected.
    assert.equal((await login(server)).sessionToken.length > 0, true);
  });
});

describe('reliability: timing-safe credential checks', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const PAIRS = 8;

  /**
   * Times `known` and `unknown` alternately (so a change in the machine's speed hits both alike), each
   * pair from its own address so that the failed-attempt limit stays out of the way; ratio of medians.
   */
  async function medianRatio(
    attempt: (kind: 'known' | 'unknown', pair: number, caller: ReturnType<typeof fromAddress>) => Promise<unknown>,
  ): Promise<{ known: number; unknown: number; ratio: number }> {
    const times = { known: [] as number[], unknown: [] as number[] };
    for (let pair = 0; pair < PAIRS; pair++) {
      const caller = fromAddress(`127.0.4.${pair + 1}`);
      try {
        for (const kind of pair % 2 === 0 ? (['known', 'unknown'] as const) : (['unknown', 'known'] as const)) {
          const started = performance.now();
          await attempt(kind, pair, caller);
          times[kind].push(performance.now() - started);
        }
      } finally {
        await caller.close();
      }
    }
    const known = median(times.known);
    const unknown = median(times.unknown);
    return { known, unknown, ratio: unknown / known };
  }

  it('takes as long for an unknown user as for a wrong password (both run the slow hash)', async () => {
    const bearers: string[] = [];
    for (let pair = 0; pair < PAIRS; pair++) {
      await createUser(server, `timing-${pair}`, 'the-password', [ACCOUNT]);
      const client = await createClient(server, `timing ${pair}`);
      bearers.push(await accessToken(server, client.clientId, client.clientSecret));
    }
    const { known, unknown, ratio } = await medianRatio((kind, pair, caller) =>
      caller.post(
        `${server.apiUrl}/m2m/v1/session/login`,
        { authorization: `Bearer ${bearers[pair]}`, 'content-type': 'application/json' },
        JSON.stringify({ username: kind === 'known' ? `timing-${pair}` : `ghost-${pair}`, password: 'wrong-password' }),
      ),
    );
    assert.ok(
      ratio > 1 / 3 && ratio < 3,
      `unknown user ${unknown.toFixed(1)} ms, wrong password ${known.toFixed(1)} ms`,
    );
  });

  it('takes as long for an unknown client id as for a wrong secret', async () => {
    const { known, unknown, ratio } = await medianRatio((kind, pair, caller) => {
      const id = kind === 'known' ? DEV_CREDENTIALS.clientId : `ghost-client-${pair}`;
      const { url, headers, body } = tokenRequest(server, id, 'wrong-secret');
      return caller.post(url, headers, body);
    });
    assert.ok(
      ratio > 1 / 3 && ratio < 3,
      `unknown client ${unknown.toFixed(1)} ms, wrong secret ${known.toFixed(1)} ms`,
    );
  });
});

describe('reliability: auth matrix', () => {
  const OTHER_ACCOUNT = '0000999999-00001';
  let now = Date.now();
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ clock: () => now });
  });
  after(() => server.close());

  interface Expected {
    status: number;
    errorCode: string;
  }
  const accessMissing: Expected = { status: 401, errorCode: 'REQUEST_FAILED.AccessToken.Missing' };
  const accessInvalid: Expected = { status: 401, errorCode: 'REQUEST_FAILED.AccessToken.Invalid' };
  const accessExpired: Expected = { status: 401, errorCode: 'REQUEST_FAILED.AccessToken.Expired' };
  const sessionMissing: Expected = { status: 400, errorCode: 'REQUEST_FAILED.SessionToken.Format' };
  const sessionInvalid: Expected = { status: 400, errorCode: 'INPUT_INVALID.SessionToken.Invalid' };
  const sessionExpired: Expected = { status: 400, errorCode: 'REQUEST_FAILED.SessionToken.Expired' };
  const accountRefused: Expected = { status: 400, errorCode: 'REQUEST_FAILED.AccountName' };

  /** The session routes, each aimed at an account of its own path builder. */
  const routes = [
    { name: 'list', method: 'GET', path: (a: string) => `/m2m/v1/callbacks/${a}` },
    {
      name: 'register',
      method: 'POST',
      path: (a: string) => `/m2m/v1/callbacks/${a}`,
      body: { name: 'DeviceUsage', url: 'https://listener.example.com/usage' },
    },
    { name: 'deregister', method: 'DELETE', path: (a: string) => `/m2m/v1/callbacks/${a}/name/CarrierService` },
    { name: 'logout', method: 'POST', path: () => '/m2m/v1/session/logout' },
  ];

  async function unchanged(): Promise<void> {
    for (const account of [ACCOUNT, OTHER_ACCOUNT]) {
      const services = (await server.ctx.registrations.list(account)).map((r) => r.serviceName);
      assert.deepEqual(services, ['CarrierService'], `the registrations of ${account} are unchanged`);
    }
  }

  it('refuses every session route for each kind of bad credential, with its own status and code, changing nothing', async (t) => {
    for (const account of [ACCOUNT, OTHER_ACCOUNT]) {
      await server.ctx.registrations.upsert({
        accountName: account,
        serviceName: 'CarrierService',
        url: 'https://listener.example.com/carrier',
      });
    }
    await createUser(server, 'matrix', 'matrix-password', [ACCOUNT]);
    const other = await createClient(server, 'matrix other client');
    const fresh = () => login(server, 'matrix', 'matrix-password');
    const otherBearer = await accessToken(server, other.clientId, other.clientSecret);
    const loggedOut = await fresh();
    assert.equal(
      (await send(`${server.apiUrl}/m2m/v1/session/logout`, { method: 'POST', headers: loggedOut.headers })).status,
      200,
    );

    type Case = { name: string; headers: () => Promise<Record<string, string>>; expect: Expected; account?: string };
    const json = { 'content-type': 'application/json' };
    const cases: Case[] = [
      { name: 'no token', headers: async () => json, expect: accessMissing },
      {
        name: 'malformed Authorization',
        headers: async () => ({ ...json, authorization: 'Token abc' }),
        expect: accessMissing,
      },
      {
        name: 'unknown access token',
        headers: async () => ({ ...json, authorization: 'Bearer not-a-token' }),
        expect: accessInvalid,
      },
      {
        name: 'no session token',
        headers: async () => ({ ...json, authorization: (await fresh()).headers.authorization }),
        expect: sessionMissing,
      },
      {
        name: 'malformed session token',
        headers: async () => ({ ...(await fresh()).headers, 'vz-m2m-token': 'not-a-session' }),
        expect: sessionInvalid,
      },
      {
        name: "another client's access token",
        headers: async () => ({ ...(await fresh()).headers, authorization: `Bearer ${otherBearer}` }),
        expect: sessionInvalid,
      },
      { name: 'logged-out session', headers: async () => loggedOut.headers, expect: sessionInvalid },
      {
        name: "another account's name",
        headers: async () => (await fresh()).headers,
        expect: accountRefused,
        account: OTHER_ACCOUNT,
      },
    ];
    let tried = 0;
    for (const route of routes) {
      for (const kase of cases) {
        if (kase.account && route.name === 'logout') continue;
        const answer = await send(`${server.apiUrl}${route.path(kase.account ?? ACCOUNT)}`, {
          method: route.method,
          headers: await kase.headers(),
          body: route.body,
        });
        tried++;
        const where = `${route.name} with ${kase.name}: ${answer.text}`;
        assert.equal(answer.status, kase.expect.status, where);
        assert.equal(answer.body.errorCode, kase.expect.errorCode, where);
        assert.equal(typeof answer.body.errorMessage, 'string', where);
        await unchanged();
      }
    }

    // Expiry: the session after 20 idle minutes, the access token after an hour.
    const idle = await fresh();
    const lasting = await fresh();
    now += 21 * 60 * 1000;
    for (const route of routes) {
      const headers = { ...idle.headers, authorization: `Bearer ${await accessToken(server)}` };
      const answer = await send(`${server.apiUrl}${route.path(ACCOUNT)}`, {
        method: route.method,
        headers,
        body: route.body,
      });
      tried++;
      assert.equal(answer.status, sessionExpired.status, `${route.name}, expired session: ${answer.text}`);
      assert.equal(answer.body.errorCode, sessionExpired.errorCode, `${route.name}, expired session`);
    }
    now += 40 * 60 * 1000;
    for (const route of [...routes, { name: 'login', method: 'POST', path: () => '/m2m/v1/session/login', body: {} }]) {
      const answer = await send(`${server.apiUrl}${route.path(ACCOUNT)}`, {
        method: route.method,
        headers: lasting.headers,
        body: route.body,
      });
      tried++;
      assert.equal(answer.status, accessExpired.status, `${route.name}, expired access token: ${answer.text}`);
      assert.equal(answer.body.errorCode, accessExpired.errorCode, `${route.name}, expired access token`);
    }
    await unchanged();
    assert.ok(tried >= 40, `${tried} combinations tried`);
    t.diagnostic(`session routes: ${tried} route and credential combinations refused`);
  });

  it('refuses every admin route without the admin token, whatever else is sent', async (t) => {
    const spec = await send(`${server.baseUrl}/openapi.json`);
    const bearer = await accessToken(server);
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer' },
      { authorization: 'Bearer wrong-admin-token' },
      { authorization: `Bearer ${bearer}` },
      { authorization: `Basic ${Buffer.from(`admin:${server.adminToken}`).toString('base64')}` },
      { authorization: `Bearer ${server.adminToken}x` },
    ];
    let tried = 0;
    for (const [path, operations] of Object.entries(spec.body.paths as Record<string, Record<string, unknown>>)) {
      if (!path.startsWith('/admin/v1')) continue;
      const concrete = path.replace(/\{[^}]+\}/g, 'x-1');
      for (const method of Object.keys(operations)) {
        for (const headers of attempts) {
          const answer = await send(`${server.baseUrl}${concrete}`, {
            method: method.toUpperCase(),
            headers: { ...headers, 'content-type': 'application/json' },
            body: method === 'get' || method === 'delete' ? undefined : {},
          });
          tried++;
          const where = `${method.toUpperCase()} ${path} with ${JSON.stringify(headers)}`;
          assert.equal(answer.status, 401, where);
          assert.equal(answer.body.errorCode, 'REQUEST_FAILED.Unauthorized', where);
        }
      }
    }
    assert.ok(tried >= 100, `${tried} combinations tried`);
    t.diagnostic(`admin routes: ${tried} route and credential combinations refused`);
  });
});
