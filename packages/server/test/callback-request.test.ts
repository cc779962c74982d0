import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { callbackBody, callbackRequest } from '../src/delivery/callback-request.js';
import { Signer } from '../src/delivery/signer.js';
import type { ClaimedMessage } from '../src/services/messages.js';
import { DEFAULT_CONTROLS } from '../src/store/types.js';

const ENGINE_KEYS = ['username', 'password', 'callbackCount', 'maxCallbackThreshold'];
const registration = { username: 'user "quoted"', password: 'p\\w' };

/** What the body must mean: the payload as JSON.parse reads it, engine keys removed, then set last. */
function expectedBody(payloadText: string, attempt: number, max: number): Record<string, unknown> {
  const expected = JSON.parse(payloadText) as Record<string, unknown>;
  for (const key of ENGINE_KEYS) delete expected[key];
  expected.username = registration.username;
  expected.password = registration.password;
  expected.callbackCount = attempt;
  expected.maxCallbackThreshold = max;
  return expected;
}

/** A key written with one of its characters as a \u escape, as a producer may send it. */
function escapedKey(key: string, at: number): string {
  const i = at % key.length;
  const code = key.charCodeAt(i).toString(16).padStart(4, '0');
  return `"${JSON.stringify(key.slice(0, i)).slice(1, -1)}\\u${code}${JSON.stringify(key.slice(i + 1)).slice(1, -1)}"`;
}

const key = fc.oneof(fc.string(), fc.constantFrom(...ENGINE_KEYS));
const space = fc.constantFrom('', ' ', '\n', '\t ', '\r\n  ');

describe('callbackBody', () => {
  it('adds credentials and counters to the payload', () => {
    assert.deepEqual(JSON.parse(callbackBody('{"requestId":"r","deviceIds":[]}', registration, 2, 4)), {
      requestId: 'r',
      deviceIds: [],
      username: 'user "quoted"',
      password: 'p\\w',
      callbackCount: 2,
      maxCallbackThreshold: 4,
    });
    assert.deepEqual(JSON.parse(callbackBody(' { } ', { username: null, password: null }, 1, 1)), {
      username: '',
      password: '',
      callbackCount: 1,
      maxCallbackThreshold: 1,
    });
  });

  it('is exactly the re-serialised payload with the engine keys set, for any compact payload', () => {
    fc.assert(
      fc.property(fc.dictionary(key, fc.jsonValue()), fc.integer({ min: 1, max: 100 }), (payload, attempt) => {
        const text = JSON.stringify(payload);
        // Text equality: each key once, every other member as it was, the engine's keys last.
        assert.equal(callbackBody(text, registration, attempt, 100), JSON.stringify(expectedBody(text, attempt, 100)));
      }),
      { numRuns: 500 },
    );
  });

  it('means the same as the payload with the engine keys set, whatever the spacing and key escapes', () => {
    const member = fc.tuple(key, fc.jsonValue(), fc.boolean(), fc.nat(), space, space);
    fc.assert(
      fc.property(fc.array(member, { maxLength: 8 }), space, (members, outer) => {
        const text = `${outer}{${outer}${members
          .map(
            ([k, v, escaped, at, before, after]) =>
              `${before}${escaped && k.length > 0 ? escapedKey(k, at) : JSON.stringify(k)}${after}:${after}${JSON.stringify(v, null, before.length)}${before}`,
          )
          .join(',')}}${outer}`;
        const body = callbackBody(text, registration, 3, 4);
        const expected = expectedBody(text, 3, 4);
        // Same order of keys too: a duplicate left in place would put the engine's key where the producer's was.
        assert.equal(JSON.stringify(JSON.parse(body)), JSON.stringify(expected));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the numbers and text the producer sent, also when it overrides their engine keys', () => {
    const payload = '{"big":123456789012345678901234,"huge":1e400,"exact":0.10000000000000000001,"s":"\\u00e9"}';
    for (const text of [payload, `${payload.slice(0, -1)},"username":"evil","nested":{"password":1}}`]) {
      const body = callbackBody(text, registration, 1, 4);
      assert.ok(body.includes('"big":123456789012345678901234'), body);
      assert.ok(body.includes('"huge":1e400'));
      assert.ok(body.includes('"exact":0.10000000000000000001'));
      assert.ok(body.includes('"s":"\\u00e9"'));
      assert.ok(!body.includes('evil'));
      if (text !== payload) assert.ok(body.includes('"nested":{"password":1}'), 'nested keys are the producer’s');
    }
  });

  it('refuses a payload that is not a JSON object rather than sending something else', () => {
    for (const text of ['[]', '"x"', '{"username":}', '{"a":1', '{"username":"x",}']) {
      assert.throws(() => callbackBody(text, registration, 1, 4), SyntaxError, text);
    }
  });
});

describe('callbackRequest', () => {
  it('builds the documented headers, signed over the exact body', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const now = Date.now();
    const claimed: ClaimedMessage = {
      message: {
        id: 'msg_1',
        accountName: '0000123456-00001',
        serviceName: 'CarrierService',
        payload: '{"requestId":"r"}',
        status: 'delivering',
        attempts: 1,
        maxAttempts: 4,
        nextAttemptAt: null,
        lockedUntil: now + 30_000,
        reason: null,
        idempotencyKey: null,
        createdAt: now,
        updatedAt: now,
        deliveredAt: null,
      },
      registration: {
        accountName: '0000123456-00001',
        serviceName: 'CarrierService',
        url: 'http://127.0.0.1:9001/cb',
        username: null,
        password: null,
        signingSecret: secret,
        previousSecret: null,
        previousSecretExpiresAt: null,
        createdAt: now,
        updatedAt: now,
        controls: DEFAULT_CONTROLS,
      },
    };
    const { headers, body } = callbackRequest(claimed, {
      attemptNumber: 2,
      now,
      signer: new Signer(),
      userAgent: 'ccb/test',
    });
    assert.deepEqual(JSON.parse(body), {
      requestId: 'r',
      username: '',
      password: '',
      callbackCount: 2,
      maxCallbackThreshold: 4,
    });
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(headers['user-agent'], 'ccb/test');
    assert.equal(headers['webhook-id'], 'msg_1');
    assert.equal(headers['webhook-timestamp'], String(Math.floor(now / 1000)));
    assert.equal(headers['ccb-account'], '0000123456-00001');
    assert.equal(headers['ccb-service'], 'CarrierService');
    const verified = new Webhook(secret).verify(body, headers);
    assert.equal((verified as { requestId: string }).requestId, 'r');
  });
});
