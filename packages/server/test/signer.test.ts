import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
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
      { id: 'msg_1', timestampSeconds: ts, body, now: NOW },
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
      { id: 'msg_1', timestampSeconds: ts, body, now: NOW },
    );
    const [first, second] = both.split(' ');
    assert.ok(verify(current, 'msg_1', first, body));
    assert.ok(verify(previous, 'msg_1', second, body));
    // The library accepts the header as sent, whichever secret the listener holds.
    assert.ok(verify(previous, 'msg_1', both, body));
    const expired = signer.sign(
      { signingSecret: current, previousSecret: previous, previousSecretExpiresAt: NOW - 1 },
      { id: 'msg_1', timestampSeconds: ts, body, now: NOW },
    );
    assert.equal(expired.split(' ').length, 1);
    assert.throws(() => verify(previous, 'msg_1', expired, body));
  });
});
