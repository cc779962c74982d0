import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAttemptError, statusError, storedAttemptError } from '../src/domain/attempt-error.js';

describe('attempt errors', () => {
  it('types a response status: 2xx none, 3xx a redirect, any other an http_status', () => {
    assert.equal(statusError(204), null);
    assert.deepEqual(statusError(302), {
      kind: 'redirect',
      detail: 'the listener answered 302 (redirects are not followed)',
    });
    assert.deepEqual(statusError(503), { kind: 'http_status', detail: 'the listener answered 503' });
    assert.equal(
      formatAttemptError({ kind: 'timeout', detail: 'no response within 15000 ms' }),
      'timeout: no response within 15000 ms',
    );
  });

  it('reads stored attempts, typed ones and those stored as text before kinds were kept', () => {
    assert.deepEqual(storedAttemptError({ errorKind: 'tls', error: 'wrong version number' }), {
      kind: 'tls',
      detail: 'wrong version number',
    });
    assert.equal(storedAttemptError({ errorKind: null, error: null }), null);
    assert.deepEqual(storedAttemptError({ errorKind: null, error: 'timeout: no response within 2000 ms' }), {
      kind: 'timeout',
      detail: 'no response within 2000 ms',
    });
    assert.deepEqual(storedAttemptError({ errorKind: null, error: 'http_500' }), {
      kind: 'http_status',
      detail: 'the listener answered 500',
    });
    assert.deepEqual(storedAttemptError({ errorKind: null, error: 'http_301' }), {
      kind: 'redirect',
      detail: 'the listener answered 301 (redirects are not followed)',
    });
    assert.deepEqual(storedAttemptError({ errorKind: null, error: 'something odd' }), {
      kind: 'network',
      detail: 'something odd',
    });
  });
});
