import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RetrySchedule } from '../src/delivery/retry-schedule.js';
import { statusError } from '../src/domain/attempt-error.js';

const NOW = 1_700_000_000_000;
const failedWith = (statusCode: number | null, retryAfter?: string) => ({
  statusCode,
  retryAfter,
  error: statusCode === null ? { kind: 'timeout' as const, detail: 'no response' } : statusError(statusCode),
});

describe('RetrySchedule', () => {
  it('counts any 2xx as delivered', () => {
    const schedule = new RetrySchedule([1000]);
    for (const status of [200, 201, 202, 204, 299]) {
      assert.deepEqual(schedule.decide(1, 2, failedWith(status), NOW), { kind: 'delivered' });
    }
  });

  it('waits the scheduled delay for the attempt that failed, within ±10% jitter', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 0.999_999, noNaN: true }), (r) => {
        const schedule = new RetrySchedule([1_000, 60_000, 3_600_000], () => r);
        [1_000, 60_000, 3_600_000].forEach((delay, i) => {
          const decision = schedule.decide(i + 1, 4, failedWith(500), NOW);
          assert.equal(decision.kind, 'retry');
          const wait = (decision as { nextAttemptAt: number }).nextAttemptAt - NOW;
          assert.ok(wait >= delay * 0.9 && wait <= delay * 1.1, `attempt ${i + 1}: ${wait}`);
        });
      }),
    );
  });

  it('fails the message with the last error when attempts run out', () => {
    const schedule = new RetrySchedule([1_000, 1_000, 1_000]);
    assert.deepEqual(schedule.decide(4, 4, failedWith(503), NOW), {
      kind: 'failed',
      reason: 'http_status: the listener answered 503',
    });
    assert.deepEqual(schedule.decide(4, 4, failedWith(null), NOW), {
      kind: 'failed',
      reason: 'timeout: no response',
    });
  });

  it('stops at once on 410 Gone', () => {
    const decision = new RetrySchedule([1_000, 1_000, 1_000]).decide(1, 4, failedWith(410), NOW);
    assert.equal(decision.kind, 'failed');
    assert.match((decision as { reason: string }).reason, /^gone/);
  });

  it('restarts the delays for a replayed message allowed more attempts', () => {
    const schedule = new RetrySchedule([1_000, 50_000], () => 0.5);
    // Replayed after 3 attempts: 3 more allowed (max 6); attempt 4 is the first of the new round.
    assert.deepEqual(schedule.decide(4, 6, failedWith(500), NOW), { kind: 'retry', nextAttemptAt: NOW + 1_000 });
    assert.deepEqual(schedule.decide(5, 6, failedWith(500), NOW), { kind: 'retry', nextAttemptAt: NOW + 50_000 });
  });

  it('honours Retry-After on 429 and 503 only, in seconds or as an HTTP date, capped', () => {
    const schedule = new RetrySchedule([1_000, 1_000], () => 0.5);
    assert.deepEqual(schedule.decide(1, 3, failedWith(429, '7'), NOW), { kind: 'retry', nextAttemptAt: NOW + 7_000 });
    const date = new Date(NOW + 90_000).toUTCString();
    assert.deepEqual(schedule.decide(1, 3, failedWith(503, date), NOW), {
      kind: 'retry',
      nextAttemptAt: NOW + 90_000,
    });
    assert.deepEqual(schedule.decide(1, 3, failedWith(500, '7'), NOW), { kind: 'retry', nextAttemptAt: NOW + 1_000 });
    assert.deepEqual(schedule.decide(1, 3, failedWith(429, 'soon'), NOW), {
      kind: 'retry',
      nextAttemptAt: NOW + 1_000,
    });
    assert.deepEqual(schedule.decide(1, 3, failedWith(429, '999999'), NOW), {
      kind: 'retry',
      nextAttemptAt: NOW + 3_600_000,
    });
  });
});
