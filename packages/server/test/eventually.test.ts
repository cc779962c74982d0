import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from './helpers.js';

describe('eventually (the shared polling helper)', () => {
  it('resolves to the first truthy value, retrying falsy results and thrown errors', async () => {
    let calls = 0;
    const value = await eventually(() => {
      calls += 1;
      if (calls === 1) throw new Error('not yet');
      return calls >= 3 ? { calls } : false;
    });
    assert.deepEqual(value, { calls: 3 });
  });

  it('fails after the timeout, naming what was awaited and the last error', async () => {
    let state = 0;
    await assert.rejects(
      eventually(
        () => {
          state += 1;
          assert.equal(state, -1);
          return true;
        },
        { timeout: 50, what: () => `state -1 (at ${state})` },
      ),
      (error: Error) => {
        assert.match(error.message, /^state -1 \(at \d+\) did not hold within 50 ms: /);
        assert.ok(error.cause instanceof assert.AssertionError);
        return true;
      },
    );
  });
});
