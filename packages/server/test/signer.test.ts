import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { callbackBody } from '../src/delivery/callback-request.js';
import { Signer } from '../src/delivery/signer.js';

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const NOW = Date.now();
const ts = Math.floor(NOW / 1000);

function verify(withSecret: string, id: string, signature: string, body: string) {
  return new Webhook(withSecret).verify(body, {
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': signature,
  });
}

describe('Signer', () => {
  it('produces a v1 signature the Standard Webhooks library verifies', () => {
    const current = secret();
    const body = '{"requestId":"r-1","callbackCount":1}';
    const signature = new Signer().sign(
      { signingSecret: current, previousSecret: null, previousSecretExpiresAt: null },
      'msg_1',
      ts,
      body,
      NOW,
    );
    assert.match(signature, /^v1,[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(verify(current, 'msg_1', signature, body), { requestId: 'r-1', callbackCount: 1 });
    assert.throws(() => verify(current, 'msg_2', signature, body));
    assert.throws(() => verify(current, 'msg_1', signature, `${body} `));
    assert.throws(() => verify(secret(), 'msg_1', signature, body));
  });

  it('signs with the previous secret too while its grace period lasts', () => {
    const current = secret();
    const previous = secret();
    const body = '{"a":1}';
    const signer = new Signer();
    const both = signer.sign(
      { signingSecret: current, previousSecret: previous, previousSecretExpiresAt: NOW + 1_000 },
      'msg_1',
      ts,
      body,
      NOW,
    );
    const [first, second] = both.split(' ');
    assert.ok(verify(current, 'msg_1', first, body));
    assert.ok(verify(previous, 'msg_1', second, body));
    // The library accepts the header as sent, whichever secret the listener holds.
    assert.ok(verify(previous, 'msg_1', both, body));
    const expired = signer.sign(
      { signingSecret: current, previousSecret: previous, previousSecretExpiresAt: NOW - 1 },
      'msg_1',
      ts,
      body,
      NOW,
    );
    assert.equal(expired.split(' ').length, 1);
    assert.throws(() => verify(previous, 'msg_1', expired, body));
  });
});

describe('callbackBody', () => {
  const registration = { username: 'user "quoted"', password: 'p\\w' };

  it('adds credentials and counters to the payload', () => {
    assert.deepEqual(JSON.parse(callbackBody('{"requestId":"r","deviceIds":[]}', registration, 2, 4)), {
      requestId: 'r',
      deviceIds: [],
      username: 'user "quoted"',
      password: 'p\\w',
      callbackCount: 2,
      maxCallbackThreshold: 4,
    });
    assert.deepEqual(JSON.parse(callbackBody('{}', { username: null, password: null }, 1, 1)), {
      username: '',
      password: '',
      callbackCount: 1,
      maxCallbackThreshold: 1,
    });
  });

  it('is the payload with the engine keys set, for any payload', () => {
    const key = fc.oneof(fc.string(), fc.constantFrom('username', 'password', 'callbackCount', 'maxCallbackThreshold'));
    fc.assert(
      fc.property(fc.dictionary(key, fc.jsonValue()), fc.integer({ min: 1, max: 100 }), (payload, attempt) => {
        const body = JSON.parse(callbackBody(JSON.stringify(payload), registration, attempt, 100));
        const expected = JSON.parse(JSON.stringify(payload));
        Object.assign(expected, {
          username: registration.username,
          password: registration.password,
          callbackCount: attempt,
          maxCallbackThreshold: 100,
        });
        assert.deepEqual(body, expected);
      }),
      { numRuns: 300 },
    );
  });
});
